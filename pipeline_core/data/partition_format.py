"""AML v1 ``partition_format``: values taken from a file's path, e.g. ``/{store}/{day:yyyy/MM/dd}/*.csv``.

Why: ParallelRunStep's ``partition_keys`` groups files by these values (one
mini-batch per distinct key), and a tabular dataset adds them as columns. The
format matches the end of the blob path, as AML documents ("from the position
of the first partition key until the end of file path").
"""

from __future__ import annotations

import re
from functools import lru_cache

_FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_ ]*)(?::([^}]*))?\}")
_DATE_PARTS = {"yyyy": r"\d{4}", "MM": r"\d{2}", "dd": r"\d{2}", "HH": r"\d{2}", "mm": r"\d{2}", "ss": r"\d{2}"}


def _date_regex(fmt: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(fmt):
        for token, pattern in _DATE_PARTS.items():
            if fmt.startswith(token, i):
                out.append(pattern)
                i += len(token)
                break
        else:
            out.append(re.escape(fmt[i]))
            i += 1
    return "".join(out)


@lru_cache(maxsize=64)
def compile_format(partition_format: str) -> tuple[re.Pattern[str], tuple[str, ...]]:
    """The regex (anchored at the end of a path) and the key names, in order."""
    names: list[str] = []
    out: list[str] = []
    pos = 0
    for match in _FIELD.finditer(partition_format):
        out.append(_literal(partition_format[pos:match.start()]))
        name, fmt = match.group(1), match.group(2)
        if name in names:
            raise ValueError(f"partition_format {partition_format!r} names {name!r} twice")
        names.append(name)
        group = f"g{len(names) - 1}"
        out.append(f"(?P<{group}>{_date_regex(fmt)})" if fmt else f"(?P<{group}>[^/]+)")
        pos = match.end()
    out.append(_literal(partition_format[pos:]))
    if not names:
        raise ValueError(f"partition_format {partition_format!r} has no {{key}}; e.g. '/{{store}}/*.csv'")
    return re.compile("(?:^|/)" + "".join(out).lstrip("/") + r"\Z"), tuple(names)


def _literal(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        if text.startswith("**", i):
            out.append(".*")
            i += 2
        elif text[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            out.append(re.escape(text[i]))
            i += 1
    return "".join(out)


def partition_keys_of(partition_format: str) -> list[str]:
    return list(compile_format(partition_format)[1])


def partition_values(partition_format: str, blob_path: str) -> dict[str, str] | None:
    """The key values for one path, or None when the path does not fit the format."""
    regex, names = compile_format(partition_format)
    match = regex.search(blob_path.strip("/"))
    if match is None:
        return None
    return {name: match.group(f"g{i}") for i, name in enumerate(names)}


def date_keys(partition_format: str) -> dict[str, str]:
    """Keys declared with a date format (``{day:yyyy/MM/dd}``) and that format: these become datetime columns."""
    return {m.group(1): m.group(2) for m in _FIELD.finditer(partition_format) if m.group(2)}


def iso_datetime(value: str, fmt: str) -> str:
    """``2019/01/31`` read with ``yyyy/MM/dd`` -> ``2019-01-31T00:00:00``, for a datetime column."""
    parts = {"yyyy": "0001", "MM": "01", "dd": "01", "HH": "00", "mm": "00", "ss": "00"}
    i = j = 0
    while i < len(fmt) and j <= len(value):
        for token in _DATE_PARTS:
            if fmt.startswith(token, i):
                width = 4 if token == "yyyy" else 2
                parts[token] = value[j:j + width]
                i += len(token)
                j += width
                break
        else:
            i += 1
            j += 1
    return f"{parts['yyyy']}-{parts['MM']}-{parts['dd']}T{parts['HH']}:{parts['mm']}:{parts['ss']}"
