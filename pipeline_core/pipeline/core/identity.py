"""The read-only ``id``, ``name`` and ``description`` that AML v1's published objects share.

Why a mixin: ``PublishedPipeline``, ``PipelineEndpoint`` and ``Schedule`` expose
the same three properties (set once from the stored record, never assigned by
the user); one definition keeps their behaviour and docs identical.
"""

from __future__ import annotations


class PublishedIdentity:
    """``id``/``name``/``description`` read from ``_id``/``_name``/``_description``, set by the subclass."""

    _id: str
    _name: str
    _description: str

    @property
    def id(self) -> str:
        return self._id

    @property
    def name(self) -> str:
        return self._name

    @property
    def description(self) -> str:
        return self._description
