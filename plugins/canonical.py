"""The `canonical` adapter: the hub's own JSON (partners.canonical), for tills written against the API."""

from __future__ import annotations

import json
from decimal import Decimal

from marshmallow import ValidationError

from partners.adapters import Payload
from partners.canonical import CanonicalTransactionSchema, to_transaction
from partners.errors import InvalidTransaction, UnreadablePayload, flatten_errors
from partners.hookspecs import hookimpl
from partners.transactions import Transaction


class CanonicalAdapter:
    name = "canonical"
    content_types = ("application/json",)
    config_schema = None
    signed = False

    def parse(self, payload: Payload, config) -> list[Transaction]:
        try:
            data = json.loads(payload.body, parse_float=Decimal)
        except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, or nested past any real payload
            raise UnreadablePayload(f"the body is not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidTransaction({"_schema": ["must be a JSON object"]})
        try:
            loaded = CanonicalTransactionSchema().load(data)
        except ValidationError as exc:
            raise InvalidTransaction(flatten_errors(exc.messages)) from None
        return [to_transaction(loaded)]


@hookimpl
def coalition_register_adapters():
    return [CanonicalAdapter()]
