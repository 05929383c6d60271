"""Snapshot hashes are cached by each file's identity: a rerun hashes nothing, any change is seen."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline_core.execution import snapshot
from pipeline_core.execution.snapshot import take_snapshot


def test_an_unchanged_folder_is_not_read_again(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "train.py").write_text("print('a')\n")
    first = take_snapshot(tmp_path)
    reads: list[Path] = []
    original = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes", lambda self: reads.append(self) or original(self))
    assert take_snapshot(tmp_path) == first
    assert reads == []


def test_a_file_edited_back_to_an_older_mtime_changes_the_snapshot(tmp_path: Path) -> None:
    """The newest mtime alone would miss this: same file count, same newest time, other content."""
    script = tmp_path / "train.py"
    script.write_text("print('a')\n")
    other = tmp_path / "util.py"
    other.write_text("x = 1\n")
    os.utime(script, ns=(1_000_000_000, 1_000_000_000))
    before = take_snapshot(tmp_path)
    script.write_text("print('b')\n")
    os.utime(script, ns=(1_000_000_000, 1_000_000_000))  # as a tool that restores timestamps would
    after = take_snapshot(tmp_path)
    assert after.hash != before.hash
    assert after.files == before.files


def test_the_identity_cache_stays_bounded(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("a = 1\n")
    take_snapshot(tmp_path)
    assert len(snapshot._file_digests) <= snapshot._FILE_DIGESTS_KEPT
