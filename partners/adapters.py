"""The shape of an adapter: a retailer's payload in, canonical transactions out."""

from __future__ import annotations

from typing import Protocol

from partners.transactions import Transaction


class Adapter(Protocol):
    #: The value of a partner's `adapter` setting that selects this adapter.
    name: str

    def parse(self, body: bytes, content_type: str) -> list[Transaction]:
        """Translate one request body.

        Raise `partners.errors.UnreadablePayload` when the body is not the
        format at all, `partners.errors.InvalidTransaction` naming each bad
        field (or row) when it is.
        """
        ...
