"""AML v1's ``azureml.train.hyperdrive`` names (see docs/training.md).

The search is pure here: ``next_parameter_sets`` draws trials, ``trials_to_terminate`` applies the
early termination policy, ``HyperDriveRun`` ranks child-run records. HyperDriveStep runs them.
"""

from pipeline_core.train.hyperdrive.config import HyperDriveConfig, trial_arguments
from pipeline_core.train.hyperdrive.exceptions import HyperDriveConfigException
from pipeline_core.train.hyperdrive.goal import PrimaryMetricGoal
from pipeline_core.train.hyperdrive.parameter_expressions import (
    ParameterExpression,
    choice,
    lognormal,
    loguniform,
    normal,
    qlognormal,
    qloguniform,
    qnormal,
    quniform,
    randint,
    uniform,
)
from pipeline_core.train.hyperdrive.policies import (
    BanditPolicy,
    EarlyTerminationPolicy,
    MedianStoppingPolicy,
    NoTerminationPolicy,
    Termination,
    TruncationSelectionPolicy,
    trials_to_terminate,
)
from pipeline_core.train.hyperdrive.run import HyperDriveRun, HyperDriveStepRun, TrialRecord
from pipeline_core.train.hyperdrive.sampling import (
    BayesianParameterSampling,
    GridParameterSampling,
    HyperParameterSampling,
    RandomParameterSampling,
    next_parameter_sets,
)
from pipeline_core.train.hyperdrive.search import SearchDecision, decide, metrics_document

__all__ = ["BanditPolicy", "BayesianParameterSampling", "EarlyTerminationPolicy", "GridParameterSampling",
           "HyperDriveConfig", "HyperDriveConfigException", "HyperDriveRun", "HyperDriveStepRun",
           "HyperParameterSampling", "MedianStoppingPolicy", "NoTerminationPolicy", "ParameterExpression",
           "PrimaryMetricGoal", "RandomParameterSampling", "SearchDecision", "Termination", "TrialRecord",
           "TruncationSelectionPolicy", "choice", "decide", "lognormal", "loguniform", "metrics_document",
           "next_parameter_sets", "normal", "qlognormal", "qloguniform", "qnormal", "quniform", "randint",
           "trial_arguments", "trials_to_terminate", "uniform"]
