"""ParallelRunConfig values: AML v1's rules, checked once when the config is built and again at run time.

Why both: nine of the values may be ``PipelineParameter``s, whose real value
is only known when a run starts (a REST submit can set ``mini_batch_size`` to
anything). The same checks give the same messages either way; at run time the
message also names the parameter that carried the bad value.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipeline_core.errors import ConfigError as ConfigError
from pipeline_core.spec_types import ParallelRunConfigEntry

# The values AML v1 accepts as PipelineParameters (plus partition_keys, as a JSON list string).
PARAMETERIZABLE = ("mini_batch_size", "error_threshold", "node_count", "process_count_per_node",
                   "run_invocation_timeout", "run_max_try", "logging_level", "allowed_failed_count",
                   "allowed_failed_percent", "partition_keys")
OUTPUT_ACTIONS = ("append_row", "summary_only")
LOGGING_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DEFAULT_FILE_BATCH = 10
DEFAULT_TABULAR_BATCH = 1024 * 1024
DEFAULT_APPEND_ROW_FILE = "parallel_run_step.txt"

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}



def parse_size(value: Any) -> int:
    """``1024``, ``"1024"``, ``"1KB"``, ``"10MB"``, ``"1GB"`` -> bytes (AML's tabular mini_batch_size)."""
    if isinstance(value, bool):
        raise ConfigError(f"mini_batch_size {value!r} is not a size")
    if isinstance(value, int):
        if value <= 0:
            raise ConfigError(f"mini_batch_size must be positive, got {value}")
        return value
    match = _SIZE.match(str(value))
    if not match:
        raise ConfigError(f"mini_batch_size {value!r} is not a size: use a number of bytes or e.g. '1KB', '10MB', '1GB'")
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size <= 0:
        raise ConfigError(f"mini_batch_size must be positive, got {value!r}")
    return size


def parse_file_count(value: Any) -> int:
    """File inputs batch by a count of files: an integer (or its string form) of at least 1."""
    if isinstance(value, bool):
        raise ConfigError(f"mini_batch_size {value!r} is not a number of files")
    try:
        count = int(str(value).strip()) if not isinstance(value, int) else value
    except ValueError:
        raise ConfigError(f"mini_batch_size {value!r} must be a number of files for file inputs "
                          "(sizes such as '1MB' are for tabular inputs)") from None
    if count < 1:
        raise ConfigError(f"mini_batch_size must be at least 1 file, got {value!r}")
    return count


def _int(name: str, value: Any, minimum: int, what: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ConfigError(f"{name} must be {what}, got {value!r}") from None
    if not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{name} must be {what}, got {value!r}")
    return value


def parse_partition_keys(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):  # AML: a PipelineParameter holds the list as its JSON text
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ConfigError(f"partition_keys {value!r} must be a list of key names or its JSON text, "
                              "e.g. '[\"store\"]'") from None
    if not isinstance(value, list) or not value or not all(isinstance(k, str) and k for k in value):
        raise ConfigError(f"partition_keys must be a non-empty list of key names, got {value!r}")
    return list(value)


def check_value(name: str, value: Any) -> Any:
    """One value, checked and normalized; raises ConfigError naming the value and its allowed range."""
    if name == "error_threshold":
        return _int(name, value, -1, "an integer of at least -1 (-1 ignores every item failure)")
    if name == "allowed_failed_count":
        return None if value is None else _int(name, value, -1, "an integer of at least -1 (-1 ignores "
                                                                "every failed mini-batch)")
    if name == "allowed_failed_percent":
        if value is None:
            return None
        try:
            number = float(value) if not isinstance(value, bool) else None
        except (TypeError, ValueError):
            number = None
        if number is None or not 0 <= number <= 100:
            raise ConfigError(f"allowed_failed_percent must be a number from 0 to 100, got {value!r}")
        return number
    if name == "node_count":
        return _int(name, value, 1, "a positive integer")
    if name == "process_count_per_node":
        return None if value is None else _int(name, value, 1, "a positive integer")
    if name == "run_invocation_timeout":
        return _int(name, value, 1, "a positive number of seconds")
    if name == "run_max_try":
        return _int(name, value, 1, "an integer of at least 1")
    if name == "logging_level":
        if not isinstance(value, str) or value.upper() not in LOGGING_LEVELS:
            raise ConfigError(f"logging_level must be one of {', '.join(LOGGING_LEVELS)}, got {value!r}")
        return value.upper()
    if name == "output_action":
        if not isinstance(value, str) or value.lower() not in OUTPUT_ACTIONS:
            raise ConfigError(f"output_action must be 'append_row' or 'summary_only', got {value!r}")
        return value.lower()
    if name == "mini_batch_size":
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ConfigError(f"mini_batch_size must be a number of files or a size such as '1MB', got {value!r}")
        parse_size(value)  # checked now; read as files or bytes once the input type is known
        return value
    if name == "partition_keys":
        return parse_partition_keys(value)
    return value


def check_combination(values: dict[str, Any]) -> None:
    if values.get("partition_keys") and values.get("mini_batch_size") is not None:
        raise ConfigError("partition_keys and mini_batch_size cannot both be set: with partition_keys each "
                          "mini-batch is one partition; remove mini_batch_size")


def resolve(config: ParallelRunConfigEntry, parameters: dict[str, Any]) -> dict[str, Any]:
    """The spec's config (literal values + parameter names) with parameters substituted and every value checked."""
    values = dict(config.get("values") or {})
    from_params = dict(config.get("parameters") or {})
    for field, param in from_params.items():
        if param not in parameters:
            raise ConfigError(f"{field} is bound to PipelineParameter {param!r}, which has no value in this run")
        values[field] = parameters[param]
    for field in list(values):
        try:
            values[field] = check_value(field, values[field])
        except ConfigError as exc:
            if field in from_params:
                raise ConfigError(f"{exc} (from PipelineParameter {from_params[field]!r})") from None
            raise
    check_combination(values)
    return values


def batch_size_for(values: dict[str, Any], input_type: str) -> int:
    """The effective mini_batch_size: files for file inputs (default 10), bytes for tabular (default 1MB)."""
    raw = values.get("mini_batch_size")
    if input_type == "tabular":
        return DEFAULT_TABULAR_BATCH if raw is None else parse_size(raw)
    return DEFAULT_FILE_BATCH if raw is None else parse_file_count(raw)
