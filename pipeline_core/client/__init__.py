"""The SDK's client for a remote workspace: REST calls to an amlite Functions app.

A ``Workspace`` with an ``endpoint`` (config.json ``endpoint`` or
``AMLITE_ENDPOINT``) submits, publishes and follows runs through this package;
without one, the SDK works on storage directly and nothing here is used.

- ``http.RestClient``: one ``requests.Session``, timeouts, retries on 429/503.
- ``errors``: error answers as ``RemoteError`` subclasses of the local error types.
- ``api.AmliteClient`` / ``client_for(workspace)``: one method per route.
- ``runs.RestRunSource``: a run's state and logs for ``PipelineRun`` and ``progress``.
- ``remote``: what ``Experiment.submit``, ``Pipeline.publish`` and friends do remotely.
- ``management``: ``PublishedPipeline`` get/list/enable/disable and all of ``PipelineEndpoint``, remotely.
"""

from pipeline_core.client.api import AmliteClient, client_for
from pipeline_core.client.errors import (
    RemoteAuthError,
    RemoteBadRequestError,
    RemoteConflictError,
    RemoteError,
    RemoteNotFoundError,
    RemoteParameterError,
    RemoteServerError,
    RemoteValidationError,
)
from pipeline_core.client.http import RestClient

__all__ = ["AmliteClient", "RemoteAuthError", "RemoteBadRequestError", "RemoteConflictError", "RemoteError",
           "RemoteNotFoundError", "RemoteParameterError", "RemoteServerError", "RemoteValidationError",
           "RestClient", "client_for"]
