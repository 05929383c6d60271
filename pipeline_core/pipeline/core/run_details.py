"""The AML-shaped parts of ``StepRun.get_details()`` / ``PipelineRun.get_details()``.

Why: code written for AML reads ``details["runDefinition"]["arguments"]``, ``details["logFiles"]``,
``details["inputDatasets"]`` and ``details["target"]`` (reports, notebooks, Data Factory glue); with the
keys missing it fails with a KeyError far from the cause. These are built from the step's spec entry
and its run row; the values follow AML's names, with amlite's facts in them.
"""

from __future__ import annotations

from typing import Any

from pipeline_core.execution.logs import (
    DRIVER_LOG,
    LOGS_CONTAINER,
    STD_LOG,
    STDERR_LOG,
    STDOUT_LOG,
    step_log_blob_name,
)


def log_files(row: dict[str, Any], run_id: str, step: str) -> dict[str, str]:
    """Log name -> where it is (``logs/<blob>``); a reused step's logs are the run's it reused."""
    return {f"azureml-logs/{name}" if name == DRIVER_LOG else f"logs/azureml/{name}":
            f"{LOGS_CONTAINER}/{step_log_blob_name(row, run_id, step, name)}"
            for name in (STD_LOG, DRIVER_LOG, STDOUT_LOG, STDERR_LOG)}


def _token_text(token: dict[str, Any]) -> str:
    if "lit" in token:
        return str(token["lit"])
    if "param" in token:
        return f"$AML_PARAMETER_{token['param']}"
    if "data" in token:
        return f"$AZUREML_DATAREFERENCE_{token['data']}"
    if "datapath" in token:
        return f"$AZUREML_DATAREFERENCE_{token['datapath']}"
    return str(token)


def run_definition(step: dict[str, Any] | None) -> dict[str, Any]:
    """AML's ``runDefinition``: the script, its arguments (data and parameters as AML's variables), limits."""
    if not step:
        return {}
    recorded = step.get("recorded") or {}
    environment = step.get("environment") or {}
    return {"script": step.get("script_name"), "arguments": [_token_text(t) for t in step.get("arguments") or []],
            "framework": "Python", "target": recorded.get("compute_target") or "local",
            "maxRunDurationSeconds": step.get("max_run_duration_seconds"),
            "environment": {"name": environment.get("name") or "app",
                            "python": {"condaDependencies": {"dependencies": [
                                *environment.get("conda", []), {"pip": environment.get("pip", [])}]}}},
            "inputs": list(step.get("inputs") or []), "outputs": list(step.get("outputs") or [])}


def input_datasets(step: dict[str, Any] | None, data: dict[str, Any]) -> list[dict[str, Any]]:
    names = (step or {}).get("input_names") or {}
    found = []
    for data_id in (step or {}).get("inputs") or []:
        entry = data.get(data_id) or {}
        if entry.get("kind") != "dataset":
            continue
        found.append({"dataset": {"name": entry.get("name"), "version": entry.get("version"), "id": entry.get("id"),
                                  "parameter": entry.get("parameter")},
                      "consumptionDetails": {"type": "RunInput", "inputName": names.get(data_id, data_id),
                                             "mechanism": "Download"}})
    return found


def output_datasets(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"identifier": {"datastoreName": loc.get("datastore"), "path": loc.get("path")}, "outputType": "RunOutput",
             "outputDetails": {"outputName": name}} for name, loc in (row.get("outputs") or {}).items()]
