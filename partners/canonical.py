"""The hub's own JSON transaction format: its schema, shared by the adapter and the API docs.

    {"type": "sale", "order_id": "A-1001", "card_number": "7000000000000008",
     "occurred_at": "2026-11-22T09:30:00+01:00", "currency": "EUR",
     "total": "12.50", "items": [{"sku": "LATTE", "category": "coffee",
     "quantity": 2, "unit_price": "3.20"}]}

A refund has `"type": "refund"` and names the sale in `original_order_id`.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from partners.fields import MAX_ORDER_ID, CardReference, Currency, Quantity
from partners.money import MAX_MINOR, Money, MoneyError
from partners.transactions import LineItem, Refund, Sale, Transaction

_ORDER_ID = validate.Length(min=1, max=MAX_ORDER_ID)
#: What `Money.parse` reads in any currency (more decimals than the currency has are refused by it, not by this).
AMOUNT_PATTERN = r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,3})?$"
_AMOUNT = f"decimal string, major unit; at most {MAX_MINOR} minor units"


class LineItemSchema(Schema):
    class Meta:
        unknown = RAISE

    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    category = fields.String(load_default=None, validate=validate.Length(max=64))
    quantity = Quantity(required=True, metadata={"example": 2})
    unit_price = fields.String(required=True, metadata={"example": "3.20", "description": _AMOUNT, "pattern": AMOUNT_PATTERN})


class CanonicalTransactionSchema(Schema):
    """A sale or a refund in the hub's canonical JSON."""

    class Meta:
        unknown = RAISE

    type = fields.String(required=True, validate=validate.OneOf(["sale", "refund"]))
    order_id = fields.String(required=True, validate=_ORDER_ID, metadata={"example": "A-1001"})
    original_order_id = fields.String(validate=_ORDER_ID, metadata={"description": "refunds only: the sale refunded"})
    card_number = CardReference(metadata={"example": "7000000000000008", "description": "required for sales: the hub "
                                                                                    "card number, or the partner's own alias of it"})
    occurred_at = fields.AwareDateTime(required=True, metadata={"example": "2026-11-22T09:30:00+01:00"})
    currency = Currency(required=True, metadata={"example": "EUR"})
    total = fields.String(required=True, metadata={"example": "12.50", "description": _AMOUNT, "pattern": AMOUNT_PATTERN})
    items = fields.List(fields.Nested(LineItemSchema), load_default=list, validate=validate.Length(max=500))

    @validates_schema
    def _check(self, data, **kwargs):
        errors: dict[str, list[str]] = {}
        if data["type"] == "sale" and "card_number" not in data:
            errors["card_number"] = ["is required for a sale"]
        if data["type"] == "refund" and "original_order_id" not in data:
            errors["original_order_id"] = ["is required for a refund"]
        if data["type"] == "sale" and "original_order_id" in data:
            errors["original_order_id"] = ["is only for refunds"]
        try:
            total = Money.parse(data["total"], data["currency"])
        except MoneyError as exc:
            errors["total"] = [str(exc)]
        else:
            if data["type"] == "refund" and total.minor == 0:
                errors["total"] = ["a refund must be greater than zero"]
        for index, item in enumerate(data["items"]):
            try:
                Money.parse(item["unit_price"], data["currency"])
            except MoneyError as exc:
                errors[f"items.{index}.unit_price"] = [str(exc)]
        if errors:
            raise ValidationError(errors)


def to_transaction(data: dict) -> Transaction:
    currency = data["currency"]
    items = tuple(
        LineItem(
            sku=item["sku"],
            category=item["category"],
            quantity=item["quantity"],
            unit_price=Money.parse(item["unit_price"], currency),
        )
        for item in data["items"]
    )
    total = Money.parse(data["total"], currency)
    if data["type"] == "sale":
        return Sale(data["order_id"], data["card_number"], data["occurred_at"], total, items)
    return Refund(
        order_id=data["order_id"],
        original_order_id=data["original_order_id"],
        occurred_at=data["occurred_at"],
        total=total,
        card_number=data.get("card_number"),
        items=items,
    )


