"""host.json's limits follow the Flex Consumption rules docs/deploy.md states.

- ``functionTimeout`` is explicit and no longer than the 60 minutes Flex gives a
  running execution when its instance is scaled in: the longest step that is not
  cut short by a scale-in. The app-wide step timeout is that less the upload margin.
- ``maxConcurrentActivityFunctions`` is the sizing rule's value for the default
  2048 MB instance (main.bicep overrides it with the same rule for other sizes).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLEX_SCALE_IN_GRACE = timedelta(minutes=60)
FLEX_INSTANCE_MEMORY_MB = (512, 2048, 4096)


def host() -> dict:
    return json.loads((ROOT / "host.json").read_text())


def sizing() -> dict:
    return json.loads((ROOT / "infra" / "sizing.json").read_text())


def function_timeout() -> timedelta:
    hours, minutes, seconds = (int(part) for part in host()["functionTimeout"].split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def activity_slots(instance_memory_mb: int, step_memory_mb: int) -> int:
    """The rule main.bicep applies: the host's reserve off the top, then one budget per running step."""
    return max(1, (instance_memory_mb - sizing()["hostReserveMB"]) // step_memory_mb)


def test_function_timeout_is_the_longest_step_a_scale_in_lets_finish() -> None:
    assert function_timeout() == FLEX_SCALE_IN_GRACE


def test_the_default_step_timeout_leaves_room_to_upload_outputs() -> None:
    step_timeout = function_timeout().total_seconds() - sizing()["stepUploadMarginSeconds"]
    assert step_timeout == 3300
    assert 0 < sizing()["stepUploadMarginSeconds"] <= 600


def test_activity_concurrency_follows_instance_memory() -> None:
    step = sizing()["defaultStepMemoryMB"]
    assert [activity_slots(mb, step) for mb in FLEX_INSTANCE_MEMORY_MB] == [1, 4, 9]
    assert host()["extensions"]["durableTask"]["maxConcurrentActivityFunctions"] == activity_slots(2048, step)
    assert activity_slots(2048, 1024) == 1 and activity_slots(4096, 1024) == 3  # heavier steps, fewer at once
