"""A Databricks Jobs client for DatabricksStep: submit a one-time run, read its state, cancel it, read its output.

Built on the official ``databricks-sdk``. Every call is one request: the
orchestrator polls a run with durable timers between calls, so nothing here
sleeps or waits for a run to end.
"""

from pipeline_core.databricks.client import DatabricksJobsClient, RunOutput, RunState, poll_delay
from pipeline_core.databricks.task import DatabricksTask, jar_library, maven_library, pypi_library

__all__ = ["DatabricksJobsClient", "DatabricksTask", "RunOutput", "RunState", "jar_library", "maven_library",
           "poll_delay", "pypi_library"]
