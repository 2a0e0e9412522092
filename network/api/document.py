"""What the OpenAPI document declares of the rules that are not a field's own validators.

The text gate (`network/api/gate.py`) refuses a control character in any
path parameter or JSON field before a schema reads it; the document says
so as a `pattern` on every string a request carries, made from the gate's
own expression, so a request valid by the document passes the gate.
Card numbers carry `format: card-number` (16 digits, the last a Luhn check
digit: more than a pattern can say).
"""

from __future__ import annotations

from marshmallow import RAISE, fields
from werkzeug.routing import UnicodeConverter

from partners.cards import LENGTH
from partners.fields import CardNumber
from partners.text import CONTROL

#: A string holding no character the gate refuses.
TEXT = "^[^" + CONTROL.pattern[1:-1] + "]*$"
CARD = {"type": "string", "format": "card-number", "minLength": LENGTH, "maxLength": LENGTH,
        "description": f"{LENGTH} digits, the last a Luhn check digit", "example": "7000000000000008"}


def card_path(name: str = "card_number") -> dict:
    """A card number in the path, for `blp.route(..., parameters=[...])`."""
    return {"in": "path", "name": name, "required": True, "schema": CARD}


def text_pattern(converter, field, **kwargs) -> dict:
    """A request's strings (fields of a schema that refuses unknown fields: the requests') pass the gate."""
    if isinstance(field, CardNumber):
        return {key: value for key, value in CARD.items() if key not in ("description", "example")}
    if not isinstance(field, fields.String) or isinstance(field, fields.Email) or field.dump_only:
        return {}
    if getattr(getattr(field, "root", None), "unknown", None) != RAISE:
        return {}
    ret = kwargs.get("ret", {})
    if "pattern" in ret or "enum" in ret or "format" in ret:
        return {}
    return {"pattern": TEXT}


def path_text(converter) -> dict:
    """A path parameter: not empty (the route would not match), and through the gate."""
    return {"type": "string", "minLength": 1, "pattern": TEXT}


def register(api) -> None:
    api.ma_plugin.converter.add_attribute_function(text_pattern)
    api.register_converter(UnicodeConverter, path_text)
