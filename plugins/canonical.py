"""The `canonical` adapter: the hub's own JSON (partners.canonical), for tills written against the API."""

from __future__ import annotations

import json

from marshmallow import ValidationError

from partners.canonical import CanonicalTransactionSchema, to_transaction
from partners.errors import InvalidTransaction, UnreadablePayload, flatten_errors
from partners.hookspecs import hookimpl
from partners.transactions import Transaction


class CanonicalAdapter:
    name = "canonical"

    def parse(self, body: bytes, content_type: str) -> list[Transaction]:
        try:
            payload = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UnreadablePayload(f"the body is not JSON: {exc}") from None
        if not isinstance(payload, dict):
            raise InvalidTransaction({"_schema": ["must be a JSON object"]})
        try:
            data = CanonicalTransactionSchema().load(payload)
        except ValidationError as exc:
            raise InvalidTransaction(flatten_errors(exc.messages)) from None
        return [to_transaction(data)]


@hookimpl
def coalition_register_adapters():
    return [CanonicalAdapter()]
