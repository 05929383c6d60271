"""Names a step sends its host: metric names, artifact names, model names, and their storage keys.

Why one module: every one of these comes from user code (or from a hostile
step), so each is checked once, the same way on both sides of the run context
channel, and an artifact name is never used as a path before it passed
``check_artifact_name``. Stdlib only: the step side imports this.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from urllib.parse import quote

from pipeline_core.errors import AmliteError

MAX_METRIC_NAME = 255
MAX_ARTIFACT_NAME = 1024
MAX_TAG_NAME = 255
MAX_TAG_VALUE = 5000
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")
_KEY_PART_LIMIT = 300  # Table RowKeys hold at most 1 KiB; longer parts are hashed


def check_metric_name(name: object) -> str:
    if not isinstance(name, str) or not name.strip():
        raise AmliteError(f"metric name {name!r} is invalid: give a non-empty string")
    if len(name) > MAX_METRIC_NAME or not name.isprintable():
        raise AmliteError(f"metric name {name[:40]!r}... is invalid: use at most {MAX_METRIC_NAME} printable "
                          "characters")
    return name


def check_tag(name: object, value: object, what: str = "tag") -> tuple[str, str]:
    """AML stores tag and property values as strings; a None value is an empty string (``run.tag("flag")``)."""
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_TAG_NAME or not name.isprintable():
        raise AmliteError(f"{what} name {str(name)[:40]!r} is invalid: use 1-{MAX_TAG_NAME} printable characters")
    text = "" if value is None else str(value)
    if len(text) > MAX_TAG_VALUE:
        raise AmliteError(f"{what} {name!r}: the value has {len(text)} characters; at most {MAX_TAG_VALUE}")
    return name, text


def check_model_name(name: object) -> str:
    if not isinstance(name, str) or not _MODEL_NAME.match(name):
        raise AmliteError(f"model name {name!r} is invalid: use 1-255 letters, digits, '.', '_' or '-', "
                          "starting with a letter or digit")
    return name


def check_artifact_name(name: object, what: str = "artifact name") -> str:
    """A relative, '/'-separated name that stays inside its folder; refused (with the reason) otherwise.

    ``./`` at the start is dropped (``upload_file("./outputs/x", ...)`` is common); ``..``, absolute
    names, drive letters, backslashes, empty segments and control characters are refused.
    """
    if not isinstance(name, str) or not name:
        raise AmliteError(f"{what} {name!r} is invalid: give a relative path such as 'outputs/model.pkl'")
    text = name
    while text.startswith("./"):
        text = text[2:]
    problem = None
    if len(text) > MAX_ARTIFACT_NAME:
        problem = f"it is longer than {MAX_ARTIFACT_NAME} characters"
    elif not text or not text.isprintable():
        problem = "it is empty or holds control characters"
    elif "\\" in text:
        problem = "it holds a backslash; separate folders with '/'"
    elif text.startswith("/") or re.match(r"^[A-Za-z]:", text):
        problem = "it is absolute; give a path relative to the run"
    elif any(part in ("", ".", "..") for part in text.split("/")):
        problem = "it has an empty, '.' or '..' segment; names may not leave their folder"
    if problem:
        raise AmliteError(f"{what} {name!r} is refused: {problem}")
    return text


def local_path(root: Path, name: str, what: str = "artifact name") -> Path:
    """``root/name`` for a checked name, refused if it would resolve outside ``root`` (a symlink included)."""
    target = root / check_artifact_name(name, what)
    resolved_root = root.resolve()
    resolved = target.resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise AmliteError(f"{what} {name!r} is refused: it resolves outside {root}")
    return target


def key_part(text: str) -> str:
    """``text`` as a Table key segment: percent-encoded (no '/', '\\\\', '#', '?' or '|'), hashed when long."""
    encoded = quote(text, safe="")
    if len(encoded) > _KEY_PART_LIMIT:
        encoded = "~" + hashlib.sha256(text.encode()).hexdigest()
    return encoded
