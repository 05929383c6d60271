"""Names from data becoming local paths or path-like values: the one place they are checked.

Why one module: a blob name, a dataset file's relative path, a zip entry or an
id in a posted spec is written by whoever can write the storage account or
post a spec. Joined naively, ``in/../../../tmp/x`` (storage turns ``\\`` into
``/``) or ``/etc/x`` makes the host write, truncate or chmod a file outside the
folder meant for it. Every such join goes through :func:`safe_join`, which
refuses (naming the blob or entry) rather than quietly resolving, and every
check of a name that will later become a path uses the predicates here, so the
SDK, the HTTP service and the executor refuse the same things.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Any

from pipeline_core.errors import UnsafePathError as UnsafePathError

_SEPARATORS = re.compile(r"[\\/]")
_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_NAME_LENGTH = 255



def text_problem(value: str) -> str | None:
    """Why ``value`` cannot travel as text to a process, a Table property or a file name (NUL, lone surrogate)."""
    if "\x00" in value:
        return "holds a NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "holds an unpaired surrogate (\\ud800-\\udfff), which is not text"
    return None


def _control(value: str) -> bool:
    return any(ord(ch) < 32 or ord(ch) == 127 for ch in value)


def relative_path_problem(name: Any) -> str | None:
    """Why ``name`` is not a relative path that stays below its folder, or None.

    Refused: absolute paths (``/x``, ``\\x``, ``C:x``), any ``..`` segment (whether
    or not it would climb out: no legitimate blob or entry needs one), control
    characters and lone surrogates. ``\\`` counts as a separator, as storage
    and Windows treat it.
    """
    if not isinstance(name, str):
        return f"is {type(name).__name__}, not a path"
    problem = text_problem(name)
    if problem:
        return problem
    if _control(name):
        return "holds a control character"
    if name.startswith(("/", "\\")):
        return "is an absolute path"
    if _DRIVE.match(name):
        return "starts with a drive letter"
    segments = _SEPARATORS.split(name)
    if ".." in segments:
        return "has a '..' segment"
    if not [s for s in segments if s not in ("", ".")]:
        return "names no file (it is empty or only '.' and separators)"
    return None


def datastore_path_problem(path: Any) -> str | None:
    """Why a path on a datastore (a prefix, not a local path) may not be used: ``..`` segments, NUL, control chars.

    Empty and leading ``/`` are fine here (the datastore's root); what a datastore
    path must never do is carry ``..`` (blob names with ``..`` segments become
    local paths that climb out when downloaded) or characters no blob name holds.
    """
    if path is None or path == "":
        return None
    if not isinstance(path, str):
        return f"is {type(path).__name__}, not a path"
    problem = text_problem(path)
    if problem:
        return problem
    if _control(path):
        return "holds a control character"
    if ".." in _SEPARATORS.split(path):
        return "has a '..' segment"
    return None


def plain_name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be one path segment (a data id, an output name): ``/``, ``\\``, ``..``, NUL, ``=``."""
    if not isinstance(name, str):
        return f"is {type(name).__name__}, not a name"
    if not name or len(name) > MAX_NAME_LENGTH:
        return f"must be 1-{MAX_NAME_LENGTH} characters"
    problem = text_problem(name)
    if problem:
        return problem
    if _control(name):
        return "holds a control character"
    if name in (".", ".."):
        return "is '.' or '..'"
    bad = sorted({ch for ch in name if ch in "/\\="})
    if bad:
        return "holds " + " ".join(repr(ch) for ch in bad) + " (a name is one path segment and an environment name)"
    return None


def safe_join(root: Path, name: str, what: str) -> Path:
    """``root / name`` for a ``name`` read from data; raises :class:`UnsafePathError` when it would leave ``root``.

    ``what`` names the thing for the message (e.g. ``"blob 'a/b' on datastore 'x'"``).
    Beyond the name itself, the joined path is resolved, so a symlink already
    inside ``root`` cannot carry a write outside it either.
    """
    problem = relative_path_problem(name)
    if problem:
        raise UnsafePathError(f"{what} {problem}: it would not stay inside {str(root)!r}, so it was not "
                              "written; rename or delete it where it is stored")
    parts = [s for s in _SEPARATORS.split(name) if s not in ("", ".")]
    joined = root.joinpath(*parts)
    if _crosses_a_link(str(root), parts):
        real_root = os.path.realpath(root)
        real = os.path.realpath(joined)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise UnsafePathError(f"{what} resolves to {real!r} through a symbolic link, outside {str(root)!r}; "
                                  "it was not written")
    return joined


def _crosses_a_link(root: str, parts: list[str]) -> bool:
    """Whether an existing part of the name below ``root`` is a symbolic link.

    With ``..`` and absolute names refused, a link below ``root`` is the only way out of it, so only
    then are both paths resolved (two ``realpath`` walks of every component from ``/``: a
    ParallelRunStep paid them twice per file). A missing part ends the walk: nothing exists below it.
    """
    current = root
    for part in parts:
        current = os.path.join(current, part)
        try:
            if stat.S_ISLNK(os.lstat(current).st_mode):
                return True
        except OSError:
            return False
    return False


def text_problems(value: Any, where: str, found: list[tuple[str, str]], limit: int = 20) -> None:
    """Collect ``(where, problem)`` for every string (keys included) in a JSON value holding NUL or a lone surrogate."""
    if len(found) >= limit:
        return
    if isinstance(value, str):
        problem = text_problem(value)
        if problem:
            found.append((where, problem))
    elif isinstance(value, dict):
        for key, item in value.items():
            key_where = f"{where}.{key}" if isinstance(key, str) and key.isidentifier() else f"{where}[{key!r}]"
            if isinstance(key, str):
                problem = text_problem(key)
                if problem:
                    found.append((f"{where}[{ascii(key)}] (the name itself)", problem))
                    continue
            text_problems(item, key_where, found, limit)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            text_problems(item, f"{where}[{index}]", found, limit)


def script_name_problem(script_name: Any) -> str | None:
    """Why ``script_name`` cannot name a script inside a step's snapshot (before looking at the snapshot).

    It is passed to ``python`` as its first argument, so besides staying inside the
    folder it must not start with ``-`` (``-c <code>`` would run code, not a file).
    """
    if not isinstance(script_name, str) or not script_name:
        return "must be the non-empty path of a script inside source_directory"
    if script_name.startswith("-"):
        return "starts with '-', which python would read as an option (such as -c <code>), not a script"
    if "\\" in script_name:
        return "uses '\\'; separate folders with '/' (steps run on Linux)"
    return relative_path_problem(script_name)


def snapshot_member(script_name: str) -> str:
    """``script_name`` as the snapshot lists its files (``./a//b.py`` -> ``a/b.py``)."""
    return "/".join(s for s in script_name.split("/") if s not in ("", "."))
