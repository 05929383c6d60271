"""One error tree: everything amlite raises is an ``AmliteError`` carrying status, code and parameter."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import pipeline_core
from pipeline_core import errors, exceptions
from pipeline_core.application.submission import SubmitOptions
from pipeline_core.errors import (
    AmliteError,
    ConflictError,
    NotFoundError,
    ParameterError,
    StorageUnavailableError,
    TryFailed,
    ValidationError,
)
from pipeline_core.rest.errors import from_exception
from pipeline_core.rest.request import ServiceRequest
from pipeline_core.rest.runs.handlers import submitted

#: Exception classes that may live outside errors.py, each already in the tree, and why.
ELSEWHERE = {
    "pipeline_core.exceptions": "AML's public names (azureml.exceptions), derived from the tree",
    "pipeline_core.client.errors": "the REST client's mirror of HTTP answers (RemoteError and its kinds)",
    "pipeline_core.engine.activities": "StepAttemptFailed, the engine's retry signal",
    "pipeline_core.engine.step_context": "StepAttemptFailed, the engine's retry signal (raised for Durable's retry)",
    "pipeline_core.engine.step_kinds": "UnknownStepKind, the registry's refusal (an AmliteError listing the kinds)",
    "pipeline_core.train.automl.exceptions": "AML's public names (azureml.train.automl.exceptions), from the tree",
    "pipeline_core.train.hyperdrive.exceptions": "AML's public names (azureml.train.hyperdrive.exceptions), from the tree",
}


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(pipeline_core.__path__, "pipeline_core."):
        if info.name.endswith("__main__") or ".webview.static" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, BaseException) and not issubclass(obj, Warning) \
                    and obj.__module__.startswith("pipeline_core"):
                found[f"{obj.__module__}.{obj.__qualname__}"] = obj
    return list(found.values())


def test_every_exception_the_library_defines_is_an_amlite_error_from_one_module() -> None:
    classes = _exception_classes()
    assert len(classes) > 40  # the walk found the library's exceptions, not an empty list
    outside = [f"{c.__module__}.{c.__qualname__}" for c in classes if not issubclass(c, AmliteError)]
    assert outside == [], "derive these from pipeline_core.errors.AmliteError"
    stray = [f"{c.__module__}.{c.__qualname__}" for c in classes
             if c.__module__ != errors.__name__ and c.__module__ not in ELSEWHERE]
    assert stray == [], "define these in pipeline_core/errors.py (or list why not in ELSEWHERE)"


def test_aml_names_still_work_and_are_in_the_tree() -> None:
    from pipeline_core.core import authentication
    from pipeline_core.core.compute_target import ComputeTargetException

    assert authentication.AuthenticationException is exceptions.AuthenticationException
    assert issubclass(ComputeTargetException, exceptions.AzureMLException)
    assert all(issubclass(getattr(exceptions, name), AmliteError) for name in exceptions.__all__)
    assert exceptions.ModelNotFoundException("no model").status == 404
    with pytest.raises(ValueError):  # AML raises ValueError for schedule rules; migrated handlers still work
        from pipeline_core.errors import ScheduleValidationError
        raise ScheduleValidationError("interval", "interval must be at least 1")


def test_the_http_answer_takes_status_code_and_field_from_the_error() -> None:
    # The message names nothing: the field comes from ``parameter`` only.
    answer = from_exception(ParameterError("wrong type", parameter="alpha"), lambda name: f"Body.{name}")
    assert answer is not None and (answer.status, answer.code) == (400, "InvalidParameterAssignment")
    assert answer.to_body()["error"]["details"] == [{"target": "Body.alpha", "message": "wrong type"}]
    gone = from_exception(NotFoundError("no run 'r1'"))
    assert gone is not None and (gone.status, gone.code, gone.details) == (404, "NotFound", [])
    conflict = from_exception(ConflictError("PipelineDisabled", "pipeline p is disabled"))
    assert conflict is not None and (conflict.status, conflict.code) == (409, "PipelineDisabled")
    invalid = from_exception(ValidationError(["step 'a': no script", "step 'b': no script"]))
    assert invalid is not None and [d["message"] for d in invalid.details] == ["step 'a': no script",
                                                                                "step 'b': no script"]
    # A server-side amlite error is a fault to log, not an answer; an outage is the one 503.
    assert from_exception(TryFailed("worker died")) is None
    outage = from_exception(StorageUnavailableError("no answer"))
    assert outage is not None and outage.status == 503 and "Retry-After" in outage.headers


@pytest.mark.parametrize(("parameter", "field"), [
    ("input_path", "DataPathAssignments.input_path"),
    ("alpha", "ParameterAssignments.alpha"),
    ("experiment_name", "ExperimentName"),
])
def test_a_refused_submit_names_the_body_field_the_error_is_about(parameter: str, field: str) -> None:
    options = SubmitOptions(experiment_name="e", parameters={"alpha": 1, "beta": 2},
                            datapaths={"input_path": {"datastore": "d", "path": "p"}})

    def submit() -> object:
        # The message quotes another parameter's name: a guess from the text would pick the wrong field.
        raise ParameterError("a value like 'beta' is expected", parameter=parameter)

    with pytest.raises(errors.ServiceError) as refused:
        submitted(None, ServiceRequest(), options, submit)  # type: ignore[arg-type]
    assert refused.value.status == 400
    assert refused.value.to_body()["error"]["details"] == [{"target": field,
                                                            "message": "a value like 'beta' is expected"}]
