"""What the OpenAPI document declares of the rules that are not a field's own validators.

The text gate (`network/api/gate.py`) refuses a control character in any
path parameter or JSON field before a schema reads it; the document says
so as a `pattern` on every string a request carries, made from the gate's
own expression, so a request valid by the document passes the gate.
Card numbers carry `format: card-number` (16 digits, the last a Luhn check
digit: more than a pattern can say).
"""

from __future__ import annotations

from apispec import BasePlugin
from marshmallow import RAISE, fields
from werkzeug.routing import UnicodeConverter

from partners.cards import LENGTH
from partners.fields import CardNumber
from partners.text import CONTROL

#: A string holding no character the gate refuses.
TEXT = "^[^" + CONTROL.pattern[1:-1] + "]*$"
CARD = {"type": "string", "format": "card-number", "minLength": LENGTH, "maxLength": LENGTH,
        "description": f"{LENGTH} digits, the last a Luhn check digit", "example": "7000000000000008"}


def card_in_path(view):
    """The view's `card_number` path parameter is a card number (an operation's parameter overrides the path's)."""
    doc = view.__dict__.setdefault("_apidoc", {})
    doc.setdefault("arguments", {}).setdefault("parameters", []).append(
        {"in": "path", "name": "card_number", "required": True, "schema": CARD})
    return view


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


class Examples(BasePlugin):
    """An example for every request body and answer that has none: built from the schema's own field examples.

    A field's `metadata={"example": ...}` is used where it is given; otherwise a
    value of the declared type within the declared bounds. A request example
    holds the required fields and those with an example of their own; an
    answer example every field. The fuzz sends every request example, so an
    example the hub refuses fails the suite.
    """

    def init_spec(self, spec) -> None:
        self.spec = spec

    def operation_helper(self, path=None, operations=None, **kwargs) -> None:
        for operation in (operations or {}).values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None and "example" not in body and "examples" not in body:
                body["example"] = self.example(body["schema"], request=True)
            for status, response in operation.get("responses", {}).items():
                found = response.get("content", {}).get("application/json") if isinstance(response, dict) else None
                if found is not None and "schema" in found and "example" not in found and "examples" not in found:
                    found["example"] = self.example(found["schema"], request=False)

    def example(self, schema: dict, *, request: bool):
        schema = self._resolved(schema)
        if "example" in schema:
            return schema["example"]
        if "enum" in schema:
            return schema["enum"][0]
        if schema.get("default") is not None:
            return schema["default"]
        kind = schema.get("type")
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            wanted = [name for name, field in properties.items()
                      if not request or name in schema.get("required", ()) or "example" in self._resolved(field)]
            return {name: self.example(properties[name], request=request) for name in wanted
                    if not (request and self._resolved(properties[name]).get("readOnly"))}
        if kind == "array":
            return [self.example(schema.get("items", {}), request=request)] if schema.get("minItems", 1) else []
        if kind == "integer":
            return max(schema.get("minimum", 1), 1) if schema.get("maximum", 1) >= 1 else schema.get("minimum", 0)
        if kind == "number":
            return 1
        if kind == "boolean":
            return True
        if kind == "string":
            return _STRINGS.get(schema.get("format"), "text")
        return None

    def _resolved(self, schema: dict) -> dict:
        while isinstance(schema, dict) and "$ref" in schema:
            schema = self.spec.components.schemas[schema["$ref"].rsplit("/", 1)[-1]]
        return schema if isinstance(schema, dict) else {}


_STRINGS = {"date-time": "2026-03-14T09:30:00+00:00", "date": "2026-03-14", "email": "ann@example.com",
            "card-number": "7000000000000008", "iana-time-zone": "Europe/Paris"}
