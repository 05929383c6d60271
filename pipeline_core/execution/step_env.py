"""The environment a step process gets: an allow-list of the host's variables plus what AML gives a step.

Why an allow-list: the host's environment holds the storage account key
(``AzureWebJobsStorage``, ``AMLITE_STORAGE``), function keys, the managed identity's
endpoint and header, App Insights' connection string and whatever the platform adds
next. A step is code submitted by a user with the Submit role; it gets its inputs
downloaded and its outputs uploaded by the host, and no credential of the host's.
``build_step_env`` is the one place a step environment is made (script steps and
ParallelRunStep workers), and ``run_credential_env`` the hook where a credential
scoped to the step's run will go (``Run.get_context()``, issue #13).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping

from pipeline_core.execution.step_settings import step_settings

log = logging.getLogger("amlite.engine")

#: Host variables a step inherits: the OS and Python basics (PYTHONPATH carries the app's packages
#: on Azure Functions), locale, temp folders, TLS trust, proxies, thread counts, GPUs.
ALLOWED = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
    "TMPDIR", "TEMP", "TMP",
    "PYTHONPATH", "PYTHONHOME", "PYTHONIOENCODING", "PYTHONUTF8", "PYTHONDONTWRITEBYTECODE", "PYTHONHASHSEED",
    "PYTHONWARNINGS", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES", "MPLCONFIGDIR",
})
ALLOWED_PREFIXES = ("LC_",)

#: Never passed, even when an operator lists them in AMLITE_STEP_ENV_PASSTHROUGH: the shapes of host secrets.
SECRET_NAME = re.compile(
    r"^(AzureWebJobs|AMLITE_|AZURE_|AZUREML_|IDENTITY_|MSI_|WEBSITE_|CONTAINER_|APPSETTING_|FUNCTIONS_|"
    r"APPLICATIONINSIGHTS_|DEPLOYMENT_STORAGE)|KEY|SECRET|TOKEN|PASSWORD|PASSWD|CONNECTION|CREDENTIAL|SAS",
    re.IGNORECASE)
_refused_logged: set[str] = set()


def host_variables(environ: Mapping[str, str] | None = None, passthrough: tuple[str, ...] = ()) -> dict[str, str]:
    """The host variables a step may see: the allow-list, plus the operator's non-secret passthrough names."""
    env = os.environ if environ is None else environ
    chosen = {k: v for k, v in env.items() if k in ALLOWED or k.startswith(ALLOWED_PREFIXES)}
    for name in passthrough:
        if SECRET_NAME.search(name):
            if name not in _refused_logged:
                _refused_logged.add(name)
                log.warning("AMLITE_STEP_ENV_PASSTHROUGH names %s, which looks like a host secret; steps do not "
                            "get it (pass data to a step as a pipeline parameter or an input)", name)
            continue
        if name in env:
            chosen[name] = env[name]
    return chosen


def run_credential_env(run_id: str, step: str) -> dict[str, str]:
    """Variables carrying a credential scoped to this step's run. None yet (issue #13).

    The hook for ``Run.get_context()`` against storage: a user-delegation SAS limited to
    the run's prefixes, or a token for a managed identity with only that access. Never
    the host's own key or identity.
    """
    return {}


def build_step_env(run_id: str, step: str, step_variables: Mapping[str, str],
                   environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of a step process.

    ``step_variables`` are the step's own (AML's names: ``AML_PARAMETER_<name>``,
    ``AZUREML_DATAREFERENCE_<name>``, ParallelRunConfig's ``environment_variables``);
    on top come the run ids AML sets, and the run-scoped credential hook.
    """
    env = host_variables(environ, step_settings().env_passthrough)
    env.update({"PYTHONUNBUFFERED": "1",
                "AZUREML_RUN_ID": f"{run_id}_{step}", "AZUREML_ROOT_RUN_ID": run_id,
                "AMLITE_RUN_ID": run_id, "AMLITE_STEP_NAME": step})
    env.update(step_variables)
    env.update(run_credential_env(run_id, step))
    return env
