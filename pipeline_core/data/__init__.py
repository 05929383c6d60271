"""AML v1 ``azureml.data`` names."""

from pipeline_core.data.data_reference import DataReference
from pipeline_core.data.datapath import DataPath, DataPathComputeBinding
from pipeline_core.data.output_dataset_config import OutputFileDatasetConfig, OutputInput

__all__ = ["DataPath", "DataPathComputeBinding", "DataReference", "OutputFileDatasetConfig", "OutputInput"]
