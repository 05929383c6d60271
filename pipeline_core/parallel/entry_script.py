"""``EntryScript``: what an entry script can ask the ParallelRunStep worker for (AML v1 ``azureml_user.parallel_run``).

In AML an entry script writes ``from azureml_user.parallel_run import
EntryScript``; the worker makes that import (and
``pipeline_core.parallel.entry_script``) resolve to this module, so scripts
run unchanged. Free of other imports on purpose: it is loaded into every
worker process before the entry script.
"""

from __future__ import annotations

import logging
import os
import sys

_LOGGER_NAME = "ParallelRunStep.EntryScript"


class EntryScript:
    """``logger`` writes to the worker's log (``logs/{run}/{step}/user/...``); ``output_dir`` is uploaded to the step output."""

    @property
    def logger(self) -> logging.Logger:
        logger = logging.getLogger(_LOGGER_NAME)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter("%(asctime)s|%(levelname)s|%(process)d|%(message)s"))
            logger.addHandler(handler)
            logger.setLevel(os.environ.get("AMLITE_PRS_LOGGING_LEVEL", "INFO"))
            logger.propagate = False
        return logger

    @property
    def output_dir(self) -> str:
        return os.environ.get("AMLITE_PRS_OUTPUT_DIR", os.getcwd())

    @property
    def working_dir(self) -> str:
        return os.getcwd()

    @property
    def log_dir(self) -> str:
        return os.environ.get("AMLITE_PRS_LOG_DIR", os.getcwd())

    @property
    def agent_name(self) -> str:
        return f"worker-{os.environ.get('AMLITE_PRS_SLOT', '0')}"
