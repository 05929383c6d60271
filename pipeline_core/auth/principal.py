"""Who made a request, and the three roles amlite checks.

Roles are Entra *app roles* defined on the amlite API app registration. They
form a ladder so one assignment is enough per caller:

``Pipelines.Publish`` ⊇ ``Pipelines.Submit`` ⊇ ``Pipelines.Read``

Publishing creates endpoints anyone with Submit can then run, so it is the most
powerful; submitting runs implies being allowed to watch them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

ROLE_READ = "Pipelines.Read"
ROLE_SUBMIT = "Pipelines.Submit"
ROLE_PUBLISH = "Pipelines.Publish"

#: Each role and every role it implies (itself included).
ROLE_IMPLIES: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        ROLE_READ: frozenset({ROLE_READ}),
        ROLE_SUBMIT: frozenset({ROLE_SUBMIT, ROLE_READ}),
        ROLE_PUBLISH: frozenset({ROLE_PUBLISH, ROLE_SUBMIT, ROLE_READ}),
    }
)
ALL_ROLES: frozenset[str] = ROLE_IMPLIES[ROLE_PUBLISH]


def expand_roles(roles: Iterable[str]) -> frozenset[str]:
    """Known roles plus the ones they imply; unknown role names are dropped."""
    out: set[str] = set()
    for role in roles:
        out |= ROLE_IMPLIES.get(role, frozenset())
    return frozenset(out)


def check_role_name(role: str) -> str:
    """Fail fast on a typo in a handler's ``required_role`` (a bug, not a 403)."""
    if role not in ROLE_IMPLIES:
        raise ValueError(f"unknown role {role!r}; use one of {sorted(ROLE_IMPLIES)}")
    return role


@dataclass(frozen=True)
class Principal:
    """The authenticated caller.

    ``id`` is the stable identifier to record on runs (Entra object id, the
    function key's position, or ``"local"``); ``name`` is for humans.
    ``roles`` already includes implied roles. ``claims`` keeps the validated
    token claims (Entra) or client-principal claims (Easy Auth) for auditing;
    it never contains the token itself.
    """

    id: str
    name: str
    auth_mode: str
    roles: frozenset[str]
    tenant_id: str | None = None
    is_application: bool = False
    claims: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def has_role(self, role: str) -> bool:
        return role in self.roles
