"""Functions HTTP route templates (ASP.NET Core routing syntax) compiled to regexes.

Supported: literal segments (case-insensitive), ``{name}``, optional
``{name?}``, defaults ``{name=value}``, catch-all ``{*rest}`` / ``{**rest}``,
several parameters in one segment (``{a}.{b}``) and inline constraints
(``{id:int}``, ``{flag:bool}``, ``{id:guid}``, ``{name:alpha}``,
``{x:regex(...)}``...).  Constraints only decide whether a URL matches;
values are handed to the function as strings, as the host does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

_DIGITS = r"-?\d+"
_NUMBER = r"-?\d+(?:\.\d+)?"
_CONSTRAINTS = {
    "int": _DIGITS,
    "long": _DIGITS,
    "min": _DIGITS,
    "max": _DIGITS,
    "range": _DIGITS,
    "bool": r"(?:true|false)",
    "double": _NUMBER,
    "float": _NUMBER,
    "decimal": _NUMBER,
    "alpha": r"[A-Za-z]+",
    "guid": r"\{?[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12}\}?",
    "datetime": r"[^/]+",
    "length": r"[^/]+",
    "minlength": r"[^/]+",
    "maxlength": r"[^/]+",
    "required": r"[^/]+",
}

# Precedence ranks per segment: lower sorts first (literal beats parameter).
_LITERAL, _CONSTRAINED, _PARAM, _OPTIONAL, _CATCH_ALL = range(5)


class RouteError(ValueError):
    """A route template the dev host cannot parse (names the template)."""


@dataclass
class _Param:
    name: str
    pattern: str
    optional: bool = False
    default: str | None = None
    catch_all: bool = False
    constrained: bool = False


def _parse_param(text: str, template: str) -> _Param:
    body = text
    catch_all = False
    if body.startswith("**"):
        body, catch_all = body[2:], True
    elif body.startswith("*"):
        body, catch_all = body[1:], True
    default = None
    optional = False
    # default value: {name=value} (not inside a constraint's parentheses)
    depth = 0
    for i, ch in enumerate(body):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "=" and depth == 0:
            body, default = body[:i], body[i + 1:]
            break
    if body.endswith("?"):
        body, optional = body[:-1], True
    name, _, constraint_text = body.partition(":")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
        raise RouteError(f"route '{template}': bad parameter name '{name}'")
    pattern = r".*" if catch_all else r"[^/]+"
    constrained = False
    if constraint_text:
        for constraint in _split_constraints(constraint_text):
            kind, _, arg = constraint.partition("(")
            kind = kind.strip().lower()
            if kind == "regex":
                expr = arg[:-1] if arg.endswith(")") else arg
                pattern = expr.lstrip("^").rstrip("$")
            elif kind in _CONSTRAINTS:
                pattern = _CONSTRAINTS[kind]
            else:
                raise RouteError(f"route '{template}': unknown constraint '{kind}' on '{name}'")
            constrained = True
    return _Param(name=name, pattern=pattern, optional=optional or default is not None,
                  default=default, catch_all=catch_all, constrained=constrained)


def _split_constraints(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == ":" and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p]


def _split_segment(segment: str, template: str) -> list[str | _Param]:
    """Split one path segment into literal text and parameters; ``{{``/``}}`` escape braces."""
    parts: list[str | _Param] = []
    i, literal = 0, ""
    while i < len(segment):
        ch = segment[i]
        if segment.startswith("{{", i) or segment.startswith("}}", i):
            literal += ch
            i += 2
            continue
        if ch == "{":
            depth, j = 1, i + 1
            while j < len(segment) and depth:
                if segment[j] == "{":
                    depth += 1
                elif segment[j] == "}":
                    depth -= 1
                j += 1
            if depth:
                raise RouteError(f"route '{template}': unbalanced '{{' in segment '{segment}'")
            if literal:
                parts.append(literal)
                literal = ""
            parts.append(_parse_param(segment[i + 1:j - 1], template))
            i = j
            continue
        if ch == "}":
            raise RouteError(f"route '{template}': unbalanced '}}' in segment '{segment}'")
        literal += ch
        i += 1
    if literal:
        parts.append(literal)
    return parts


@dataclass
class RouteTemplate:
    """A compiled template; :meth:`match` returns route params or ``None``."""

    template: str
    regex: re.Pattern[str]
    groups: dict[str, str]  # regex group -> parameter name
    defaults: dict[str, str]
    precedence: tuple[int, ...]

    def match(self, path: str) -> dict[str, str] | None:
        """Match a raw (percent-encoded) path relative to the route prefix."""
        normalized = "/" + path.strip("/") if path.strip("/") else ""
        found = self.regex.match(normalized)
        if found is None:
            return None
        params = dict(self.defaults)
        for group, name in self.groups.items():
            value = found.group(group)
            if value is not None and value != "":
                params[name] = unquote(value)
        return params


def compile_route(template: str) -> RouteTemplate:
    """Compile a Functions route template."""
    text = template.strip().strip("/")
    segments = text.split("/") if text else []
    regex = ""
    groups: dict[str, str] = {}
    defaults: dict[str, str] = {}
    ranks: list[int] = []
    for index, segment in enumerate(segments):
        if not segment:
            raise RouteError(f"route '{template}': empty segment")
        parts = _split_segment(segment, template)
        params = [p for p in parts if isinstance(p, _Param)]
        if any(p.catch_all for p in params) and (index != len(segments) - 1 or len(parts) != 1):
            raise RouteError(f"route '{template}': a catch-all parameter must be the whole last segment")
        if len(parts) == 1 and isinstance(parts[0], _Param):
            param = parts[0]
            group = f"g{len(groups)}"
            groups[group] = param.name
            if param.default is not None:
                defaults[param.name] = param.default
            if param.catch_all:
                regex += f"(?:/(?P<{group}>{param.pattern}))?"
                ranks.append(_CATCH_ALL)
            elif param.optional:
                regex += f"(?:/(?P<{group}>{param.pattern}))?"
                ranks.append(_OPTIONAL)
            else:
                regex += f"/(?P<{group}>{param.pattern})"
                ranks.append(_CONSTRAINED if param.constrained else _PARAM)
            continue
        piece = "/"
        rank = _LITERAL
        for part in parts:
            if isinstance(part, str):
                piece += re.escape(part)
            else:
                group = f"g{len(groups)}"
                groups[group] = part.name
                if part.default is not None:
                    defaults[part.name] = part.default
                # Greedy, so earlier parameters take the most (ASP.NET matches
                # complex segments right to left: {name}.{ext} on a.b.csv -> a.b, csv).
                piece += f"(?P<{group}>{part.pattern})" + ("?" if part.optional else "")
                rank = max(rank, _CONSTRAINED if part.constrained else _PARAM)
        regex += piece
        ranks.append(rank)
    return RouteTemplate(template=template, regex=re.compile("^" + regex + "$", re.IGNORECASE),
                         groups=groups, defaults=defaults, precedence=tuple(ranks))


class RouteNotFound(LookupError):
    pass


class MethodNotAllowed(LookupError):
    def __init__(self, allowed: list[str]) -> None:
        super().__init__(f"allowed: {', '.join(allowed)}")
        self.allowed = allowed


@dataclass
class _Entry:
    route: RouteTemplate
    methods: frozenset[str]
    target: Any
    order: int


@dataclass
class Router:
    """Most specific template first (ASP.NET precedence), then registration order."""

    _entries: list[_Entry] = field(default_factory=list)

    def add(self, template: str, methods: tuple[str, ...] | list[str], target: Any) -> RouteTemplate:
        route = compile_route(template)
        self._entries.append(_Entry(route, frozenset(m.upper() for m in methods), target, len(self._entries)))
        self._entries.sort(key=lambda e: (e.route.precedence, e.order))
        return route

    def resolve(self, path: str, method: str) -> tuple[Any, dict[str, str]]:
        """Return ``(target, route_params)``; raise RouteNotFound / MethodNotAllowed."""
        allowed: list[str] = []
        for entry in self._entries:
            params = entry.route.match(path)
            if params is None:
                continue
            if method.upper() in entry.methods:
                return entry.target, params
            allowed.extend(m for m in sorted(entry.methods) if m not in allowed)
        if allowed:
            raise MethodNotAllowed(allowed)
        raise RouteNotFound(path)
