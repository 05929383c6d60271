"""``AutoMLStep`` and ``AutoMLStepRun`` with AML v1's arguments (``azureml.pipeline.steps``).

The step trains an ``AutoMLConfig`` (FLAML, see docs/training.md) on its ``training_data``, a
tabular dataset the step reads as its input. Its outputs are ``PipelineData`` carrying a
``TrainingOutput``: ``type="Model"`` gets the best model as one pickle file, ``type="Metrics"`` every
child run's metrics as JSON (AML's ``{child run id: {metric: [value]}}``). As in AML, each output is
a file: ``path_on_datastore`` names it, and a later step given the output gets the file's path.

The executor is ``pipeline_core.engine.automl_step``; the search runs in a supervised process.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pipeline_core._warnings import warn_ignored
from pipeline_core.pipeline.core.graph import PipelineData, PipelineParameter
from pipeline_core.pipeline.core.run import StepRun
from pipeline_core.pipeline.core.training_output import TrainingOutput
from pipeline_core.pipeline.steps.base import PipelineStep, SpecToken

if TYPE_CHECKING:
    from pipeline_core.train.automl.config import AutoMLConfig
    from pipeline_core.train.automl.run import AutoMLRun

#: AML's names of the outputs an AutoMLStep adds unless told not to (``enable_default_*_output``).
DEFAULT_MODEL_PREFIX = "default_model_"
DEFAULT_METRICS_PREFIX = "default_metrics_"
#: The file each kind of TrainingOutput is written to, inside the output's folder.
OUTPUT_FILES = {"Model": "model.pkl", "Metrics": "metrics.json"}
#: AutoMLConfig arguments that carry data (read as the step's inputs) or objects of this process only.
_DATA_ARGUMENTS = ("training_data", "validation_data", "X", "y", "X_valid", "y_valid", "sample_weight",
                   "sample_weight_valid", "test_data", "cv_splits_indices", "spark_context", "compute_target",
                   "featurization", "forecasting_parameters")


def _slug(name: str) -> str:
    """A step name as it appears in its default outputs' names (letters, digits and underscores)."""
    return re.sub(r"\W", "_", name)


def automl_settings(config: AutoMLConfig) -> dict[str, Any]:
    """The config's arguments as JSON the step's trainer rebuilds the config from (data arguments left out)."""
    settings: dict[str, Any] = {}
    for name, value in config.user_settings.items():
        if name in _DATA_ARGUMENTS or value is None:
            continue
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            continue  # an object only this process has; AutoMLConfig already named it as ignored
        settings[name] = value
    featurization = config.featurization
    settings["featurization"] = featurization if isinstance(featurization, str) else "auto"
    if not isinstance(featurization, str):
        warn_ignored("AutoMLStep with a FeaturizationConfig", "The step featurizes as featurization='auto'.")
    return settings


class AutoMLStep(PipelineStep):
    """Runs an automated ML experiment in a pipeline (AML v1's ``AutoMLStep``).

    ``automl_config.training_data`` (and ``validation_data``) must be tabular datasets: a
    ``TabularDataset`` (registered or not), a dataset ``PipelineParameter``, or an upstream output
    read as a table (``PipelineData.as_dataset().parse_delimited_files()`` and the like). ``outputs``
    are ``PipelineData(..., training_output=TrainingOutput(type="Model" | "Metrics"))``.
    """

    step_type = "AutoMLStep"

    def __init__(self, name: str, automl_config: AutoMLConfig, inputs: list[Any] | None = None,
                 outputs: list[Any] | None = None, script_repl_params: dict[str, Any] | None = None,
                 allow_reuse: bool = True, version: str | None = None, hash_paths: list[str] | None = None,
                 enable_default_model_output: bool = True, enable_default_metrics_output: bool = True,
                 passthru_automl_config: bool = True, **kwargs: Any):
        from pipeline_core.train.automl.config import AutoMLConfig

        if not name or not isinstance(name, str):
            raise ValueError("AutoMLStep needs a name")
        if not isinstance(automl_config, AutoMLConfig):
            raise TypeError(f"AutoMLStep {name!r}: automl_config must be an AutoMLConfig "
                            f"(pipeline_core.train.automl), got {type(automl_config).__name__}")
        self.automl_config = automl_config
        self.training_data = self._tabular_input(name, "training_data", automl_config.training_data,
                                                 automl_config.X is not None)
        self.validation_data = (None if automl_config.validation_data is None else
                                self._tabular_input(name, "validation_data", automl_config.validation_data, False))
        if automl_config.X_valid is not None:
            raise ValueError(f"AutoMLStep {name!r}: X_valid/y_valid are arrays of this process; give "
                             "validation_data as a TabularDataset instead")
        outputs = list(outputs or [])
        for index, output in enumerate(outputs):
            training = getattr(output, "training_output", None)
            if not isinstance(output, PipelineData) or not isinstance(training, TrainingOutput):
                raise ValueError(f"AutoMLStep {name!r}: outputs[{index}] must be a PipelineData with "
                                 "training_output=TrainingOutput(type='Model' or 'Metrics')")
        types = {o.training_output.type for o in outputs}
        slug = _slug(name)
        if enable_default_model_output and "Model" not in types:
            outputs.append(PipelineData(f"{DEFAULT_MODEL_PREFIX}{slug}", training_output=TrainingOutput("Model")))
        if enable_default_metrics_output and "Metrics" not in types:
            outputs.append(PipelineData(f"{DEFAULT_METRICS_PREFIX}{slug}",
                                        training_output=TrainingOutput("Metrics")))
        data_inputs = [d for d in (self.training_data, self.validation_data) if d is not None]
        super().__init__(name, [*data_inputs, *(inputs or [])], outputs, None, allow_reuse)
        self.version = version
        self.passthru_automl_config = passthru_automl_config
        if script_repl_params:
            warn_ignored("AutoMLStep(script_repl_params=...)")
        if hash_paths:
            warn_ignored("AutoMLStep(hash_paths=...)", "An AutoMLStep has no source directory to hash.")
        for key in kwargs:
            warn_ignored(f"AutoMLStep({key}=...)")
        self.settings = automl_settings(automl_config)

    @staticmethod
    def _tabular_input(step: str, what: str, data: Any, arrays: bool) -> Any:
        from pipeline_core.data.dataset_consumption_config import DatasetConsumptionConfig
        from pipeline_core.data.output_dataset_config import OutputInput
        from pipeline_core.data.tabular_dataset import TabularDataset

        if isinstance(data, TabularDataset):
            return data.as_named_input(what)
        if isinstance(data, DatasetConsumptionConfig) and data.dataset_type == "tabular":
            return data
        if isinstance(data, PipelineParameter):
            return DatasetConsumptionConfig(what, data)
        if isinstance(data, OutputInput) and data.tabular is not None:
            return data
        shown = "X and y arrays" if arrays else (type(data).__name__ if data is not None else "nothing")
        raise ValueError(f"AutoMLStep {step!r}: the AutoMLConfig's {what} must be a TabularDataset (for example "
                         "Dataset.Tabular.from_delimited_files(...) or a registered dataset), a dataset "
                         f"PipelineParameter, or an upstream output read as a table; it is {shown}. A step runs "
                         "elsewhere than this process, so its data must live in a datastore.")

    def spec_fields(self, token: SpecToken) -> dict[str, Any]:
        """The config (as JSON), which inputs hold the training and validation data, and each output's kind."""
        automl: dict[str, Any] = {"settings": self.settings,
                                  "training_data": token(self.training_data, "automl_config.training_data")}
        if self.validation_data is not None:
            automl["validation_data"] = token(self.validation_data, "automl_config.validation_data")
        training_outputs = {}
        for output in self._outputs:
            ref = token(output, "outputs")
            if ref and "data" in ref:
                training_outputs[ref["data"]] = output.training_output.to_dict()
        return {"automl": automl, "training_outputs": training_outputs}


class AutoMLStepRun(StepRun):
    """The run of an AutoMLStep (AML's ``AutoMLStepRun``): its child runs, best child, and best model.

    ``AutoMLStepRun(step_run)`` wraps a ``StepRun`` of an AutoMLStep (``pipeline_run.find_step_run(name)[0]``).
    Child runs are the search's trials, ``{step run id}_{iteration}``, with AML's metrics, read from the step's
    child rows (``engine.automl_records``); a reused step answers with the children of the run it reused.
    """

    def __init__(self, step_run: StepRun | None = None, pipeline_run: Any = None, row: dict[str, Any] | None = None,
                 **kwargs: Any):
        if step_run is not None:
            pipeline_run, row = step_run.pipeline_run, step_run._row
        if pipeline_run is None or row is None:
            raise ValueError("AutoMLStepRun needs the StepRun of an AutoMLStep: AutoMLStepRun(step_run)")
        super().__init__(pipeline_run, row)
        self._automl: AutoMLRun | None = None

    def _automl_run(self) -> AutoMLRun:
        if self._automl is None:
            from pipeline_core.engine.automl_records import load_automl_run

            self._automl = load_automl_run(self._services, self.pipeline_run.experiment, self.pipeline_run.id,
                                           self._refresh(), self.id)
        return self._automl

    def get_children(self, recursive: bool = False, tags: Any = None, properties: Any = None,
                     type: Any = None, status: str | None = None, _rehydrate_runs: bool = True) -> Iterator[Any]:
        """One child run per trial (``AutoMLChildRun``: ``id``, ``properties``, ``get_metrics()``), as AML's
        generator."""
        children = self._automl_run().get_children()
        return iter([c for c in children if status is None or c.status == status])

    def get_best_child(self, metric: str | None = None, onnx_compatible: bool = False, **kwargs: Any) -> Any:
        return self._automl_run().get_best_child(metric)

    def get_output(  # type: ignore[override]  # AML's AutoMLStepRun: AutoMLRun.get_output wins over StepRun's
            self, iteration: int | None = None, metric: str | None = None, return_onnx_model: bool = False,
            return_split_onnx_model: Any = None, **kwargs: Any) -> tuple[Any, Any]:
        """``(best child run, fitted model)``: the model is the pickled best model the step saved."""
        return self._automl_run().get_output(iteration=iteration, metric=metric,
                                             return_onnx_model=return_onnx_model)

    def get_metrics(self, name: str | None = None, recursive: bool = False, run_type: str | None = None,
                    populate: bool = False) -> dict[str, Any]:
        """The best child's metrics, as AML's AutoML parent run reports them."""
        found = {k: v for k, v in self._automl_run().get_metrics(name).items() if not math.isnan(v)}
        return ({self.id: found} if found else {}) if recursive else found

    def summary(self) -> list[dict[str, Any]]:
        return self._automl_run().summary()

    def get_default_model_output(self) -> Any:
        return self.get_output_data(f"{DEFAULT_MODEL_PREFIX}{_slug(self.name)}")

    def get_default_metrics_output(self) -> Any:
        return self.get_output_data(f"{DEFAULT_METRICS_PREFIX}{_slug(self.name)}")
