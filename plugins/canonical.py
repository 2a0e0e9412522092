"""The `canonical` adapter: the hub's own JSON (partners.canonical), for tills written against the API."""

from __future__ import annotations

from marshmallow import ValidationError

from partners.adapters import Payload
from partners.canonical import CanonicalTransactionSchema, to_transaction
from partners.errors import InvalidTransaction, flatten_errors
from partners.hookspecs import hookimpl
from partners.payloads import read_json
from partners.transactions import Transaction


class CanonicalAdapter:
    name = "canonical"
    content_types = ("application/json",)
    config_schema = None
    signed = False

    def parse(self, payload: Payload, config) -> list[Transaction]:
        data = read_json(payload.body)
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
