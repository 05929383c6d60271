"""The SDK's client for a remote workspace: REST calls to an amlite Functions app.

A ``Workspace`` with an ``endpoint`` (config.json ``endpoint`` or
``AMLITE_ENDPOINT``) gets a remote backend (``pipeline_core.backend.remote``)
that calls this package; without one, nothing here is used.

A leaf: it imports nothing from ``pipeline_core.core`` or
``pipeline_core.pipeline`` (the SDK classes) and answers plain records
(``PipelineRecord``, ``EndpointView``, run-store rows, the API's JSON);
``tests/unit/test_backend_choice.py`` checks it.

- ``http.RestClient``: one ``requests.Session``, timeouts, retries on 429/503.
- ``errors``: error answers as ``RemoteError`` subclasses of the local error types.
- ``auth``: the request headers from an auth object and ``AMLITE_FUNCTION_KEY``.
- ``api.AmliteClient``: one method per route.
- ``records``: pipeline and endpoint entities as the records storage holds.
- ``bodies``: the submit and publish request bodies.
- ``runs.RestRunSource``: a run's state and logs for ``PipelineRun`` and ``progress``.
"""

from pipeline_core.client.api import AmliteClient
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
           "RestClient"]
