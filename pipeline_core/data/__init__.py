"""AML v1 ``azureml.data`` names."""

from pipeline_core.data.data_reference import DataReference
from pipeline_core.data.datapath import DataPath, DataPathComputeBinding
from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig
from pipeline_core.data.file_dataset import FileDataset
from pipeline_core.data.output_dataset_config import OutputFileDatasetConfig, OutputInput
from pipeline_core.data.tabular_dataset import TabularDataset

__all__ = ["DataPath", "DataPathComputeBinding", "DataReference", "DatasetConsumptionConfig", "FileDataset",
           "OutputFileDatasetConfig", "OutputInput", "TabularDataset"]
