"""``TrainingOutput``: which result of an AutoMLStep or HyperDriveStep a PipelineData output carries.

AML v1's ``azureml.pipeline.core.TrainingOutput``. ``type`` is ``"Metrics"`` (every child run's
metrics, as JSON) or ``"Model"`` (the chosen child's model file). ``iteration`` or ``metric`` picks
an AutoML child other than the best; ``model_file`` names the file a HyperDrive child wrote.
"""

from __future__ import annotations

TYPES = ("Metrics", "Model")


class TrainingOutput:
    def __init__(self, type: str, iteration: int | None = None, metric: str | None = None,
                 model_file: str | None = None):
        if type not in TYPES:
            raise ValueError(f"TrainingOutput type must be 'Metrics' or 'Model', got {type!r}")
        if iteration is not None and metric is not None:
            raise ValueError("TrainingOutput takes iteration or metric, not both: iteration picks one AutoML child "
                             "run, metric the best child by that metric")
        if iteration is not None and (isinstance(iteration, bool) or not isinstance(iteration, int) or iteration < 0):
            raise ValueError(f"TrainingOutput iteration must be an integer of 0 or more, got {iteration!r}")
        if model_file is not None and type != "Model":
            raise ValueError("TrainingOutput model_file goes with type='Model'")
        self.type = type
        self.iteration = iteration
        self.metric = metric
        self.model_file = model_file

    def to_dict(self) -> dict[str, object]:
        """The spec's form of the output (AML's field names)."""
        return {"type": self.type, "iteration": self.iteration, "metric": self.metric, "model_file": self.model_file}

    def __repr__(self) -> str:
        return (f"TrainingOutput(type={self.type!r}, iteration={self.iteration!r}, metric={self.metric!r}, "
                f"model_file={self.model_file!r})")
