"""Why an adapter could not read a payload, in terms the retailer can act on."""

from __future__ import annotations


class UnreadablePayload(Exception):
    """The body is not the format at all (not JSON, not XML): HTTP 400."""


class InvalidTransaction(Exception):
    """The body parses but names a bad value: HTTP 422.

    `fields` maps a field path (``"items.0.unit_price"``, ``"row 12.total"``)
    to the list of problems found there.
    """

    def __init__(self, fields: dict[str, list[str]], message: str = "The transaction is invalid"):
        super().__init__(message)
        self.message = message
        self.fields = fields


def flatten_errors(messages, prefix: str = "") -> dict[str, list[str]]:
    """Name each invalid field by its path.

    marshmallow nests the errors of lists and nested schemas
    ({"items": {0: {"sku": [...]}}}); a retailer wants "items.0.sku".
    """
    if not isinstance(messages, dict):
        return {prefix or "_schema": [str(m) for m in (messages if isinstance(messages, list) else [messages])]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(flatten_errors(value, path))
        else:
            flat[path] = [str(m) for m in (value if isinstance(value, list) else [value])]
    return flat


class BadSignature(Exception):
    """A signed payload whose signature is missing or does not match: HTTP 401."""
