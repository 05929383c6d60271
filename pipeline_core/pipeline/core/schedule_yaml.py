"""``Schedule.load_yaml``: AML v1's schedule YAML -> keyword arguments for ``Schedule.create``.

The file holds one ``Schedule:`` mapping (``description``, ``recurrence``,
``pipeline_parameters``, ``wait_for_provisioning``, ``wait_timeout``,
``datastore_name``, ``polling_interval``, ``data_path_parameter_name``,
``continue_on_step_failure``, ``path_on_datastore``). ``recurrence`` becomes a
``ScheduleRecurrence`` and ``datastore_name`` a ``datastore``, so the result
can be passed as ``Schedule.create(ws, name, pipeline_id, experiment, **loaded)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline_core.schedules.recurrence import ScheduleRecurrence
from pipeline_core.schedules.validation import ScheduleValidationError

if TYPE_CHECKING:
    from pipeline_core.core.workspace import Workspace

KEYS = ("description", "recurrence", "pipeline_parameters", "wait_for_provisioning", "wait_timeout",
        "datastore_name", "polling_interval", "data_path_parameter_name", "continue_on_step_failure",
        "path_on_datastore")


def _none(value: Any) -> Any:
    """AML's examples write ``None`` (a string in YAML) as often as ``~``."""
    return None if isinstance(value, str) and value.strip() in ("None", "null", "") else value


def load_schedule_yaml(workspace: Workspace, filename: str) -> dict[str, Any]:
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML ships with the dev tools; say what to install
        raise ScheduleValidationError("filename", "Schedule.load_yaml needs PyYAML: pip install pyyaml") from None
    path = Path(filename)
    if not path.is_file():
        raise ScheduleValidationError("filename", f"schedule YAML {filename!r} does not exist")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScheduleValidationError("filename", f"{filename} is not valid YAML: {exc}") from None
    section = document.get("Schedule") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        raise ScheduleValidationError("filename", f"{filename} must hold a top-level 'Schedule:' mapping")
    unknown = sorted(set(section) - set(KEYS))
    if unknown:
        raise ScheduleValidationError("filename", f"{filename}: unknown Schedule key(s) {unknown}; known: "
                                                  f"{', '.join(KEYS)}")
    loaded = {key: _none(value) for key, value in section.items()}
    recurrence = loaded.pop("recurrence", None)
    if recurrence is not None:
        if not isinstance(recurrence, dict):
            raise ScheduleValidationError("recurrence", f"{filename}: recurrence must be a mapping")
        loaded["recurrence"] = ScheduleRecurrence.from_dict({k: _none(v) for k, v in recurrence.items()
                                                             if _none(v) is not None})
    datastore_name = loaded.pop("datastore_name", None)
    if datastore_name is not None:
        from pipeline_core.core.datastore import Datastore

        loaded["datastore"] = Datastore.get(workspace, str(datastore_name))
    return loaded
