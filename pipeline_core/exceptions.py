"""AML v1's ``azureml.exceptions`` names, so the samples' ``try: ... except XException:`` cells run.

Every one of them is an :class:`~pipeline_core.errors.AmliteError` (with its ``status``,
``code`` and ``parameter``), so code that catches amlite's own base class also catches these.
"""

from __future__ import annotations

from pipeline_core.errors import AmliteError


class AzureMLException(AmliteError):
    """AML's base exception."""


class UserErrorException(AzureMLException):
    """The caller's mistake (AML's name)."""


class ServiceException(AzureMLException):
    """The service failed (AML's name)."""

    status = 500
    code = "ServiceError"


class AuthenticationException(AzureMLException):
    """No usable credential, or getting a token failed; the message says which class, which scope and why."""

    status = 401
    code = "AuthenticationFailed"


class ComputeTargetException(AzureMLException):
    """A compute target could not be found or used; amlite never raises it for a missing target."""


class WorkspaceException(AzureMLException):
    """A workspace could not be found or used."""


class ExperimentExecutionException(AzureMLException):
    """A submitted run could not be executed, or failed while waited for."""


class ActivityFailedException(AzureMLException):
    """A run ended Failed while ``wait_for_completion(raise_on_error=True)`` waited."""

    status = 500
    code = "RunFailed"


class ProjectSystemException(AzureMLException):
    """A project folder or snapshot problem."""


class RunConfigurationException(AzureMLException):
    """A run configuration is invalid."""


class SnapshotException(AzureMLException):
    """A source snapshot could not be taken or read."""


class TrainingException(AzureMLException):
    """A training run failed (AML's name)."""


class WebserviceException(AzureMLException):
    """Model deployment is not part of amlite; kept so imports of the name work."""


class ModelNotFoundException(AzureMLException):
    """No registered model with that name (and version)."""

    status = 404
    code = "ModelNotFound"


class ModelPathNotFoundException(AzureMLException):
    """``Model.get_model_path`` found no model files."""

    status = 404
    code = "ModelPathNotFound"


class RunEnvironmentException(AzureMLException):
    """``Run.get_context(allow_offline=False)`` outside a step."""


class DatasetException(AzureMLException):
    """A dataset could not be found or read."""


__all__ = ["ActivityFailedException", "AuthenticationException", "AzureMLException", "ComputeTargetException",
           "DatasetException", "ExperimentExecutionException", "ModelNotFoundException",
           "ModelPathNotFoundException", "ProjectSystemException", "RunConfigurationException", "RunEnvironmentException",
           "ServiceException", "SnapshotException", "TrainingException", "UserErrorException",
           "WebserviceException", "WorkspaceException"]
