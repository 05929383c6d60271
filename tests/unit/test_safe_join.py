"""``safe_join``: a name read from data never leads out of its folder, through ``..`` or a symbolic link.

The link check resolves paths only when an existing part of the name is a link (resolving every
name cost a ParallelRunStep two ``realpath`` walks per file); these pin that it still refuses
every way out and still allows links that stay inside.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline_core.safe_paths import UnsafePathError, safe_join


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "outside").mkdir()
    folder = tmp_path / "root"
    (folder / "sub").mkdir(parents=True)
    return folder


def test_a_plain_name_joins_whether_or_not_it_exists(root: Path) -> None:
    assert safe_join(root, "sub/new/file.txt", "blob") == root / "sub" / "new" / "file.txt"
    assert safe_join(root, "a\\b.txt", "blob") == root / "a" / "b.txt"


@pytest.mark.parametrize("name", ["../x", "sub/../../x", "/etc/passwd", "C:x"])
def test_a_name_that_climbs_or_is_absolute_is_refused(root: Path, name: str) -> None:
    with pytest.raises(UnsafePathError):
        safe_join(root, name, "blob")


@pytest.mark.parametrize("name", ["out/file.txt", "out", "sub/deeper/file.txt"])
def test_a_link_below_the_folder_that_points_out_is_refused(root: Path, name: str) -> None:
    (root / "out").symlink_to(root.parent / "outside")
    (root / "sub" / "deeper").symlink_to(root.parent / "outside")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        safe_join(root, name, "blob 'x'")


def test_a_link_that_stays_inside_is_allowed_and_a_linked_root_is_its_own_target(root: Path, tmp_path: Path) -> None:
    (root / "alias").symlink_to(root / "sub")
    assert safe_join(root, "alias/file.txt", "blob") == root / "alias" / "file.txt"
    linked = tmp_path / "linked-root"
    linked.symlink_to(root)
    assert safe_join(linked, "sub/file.txt", "blob") == linked / "sub" / "file.txt"
