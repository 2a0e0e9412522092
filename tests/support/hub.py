"""The hub as its callers see it: a thin client for the API, order ids, and the usual scene."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

ADMIN_TOKEN = "test-operator-token"
_orders = itertools.count(1)


def order_id(prefix: str = "O") -> str:
    """An order id no other test has used in this process."""
    return f"{prefix}-{next(_orders)}"


class HubClient:
    """Calls the API as a till or the operator would, returning (status, json)."""

    def __init__(self, client, admin_token: str):
        self.client = client
        self.operator = {"Authorization": f"Bearer {admin_token}"}

    @staticmethod
    def bearer(key: str) -> dict:
        return {"Authorization": f"Bearer {key}"}

    def call(self, method: str, path: str, key: str | None = None, headers: dict | None = None, **kwargs):
        auth = self.operator if key is None else self.bearer(key)
        response = self.client.open(path, method=method, headers={**auth, **(headers or {})}, **kwargs)
        return response

    def create_partner(self, slug: str, currency: str = "EUR", earn_rate: str = "1", **extra) -> str:
        body = {"slug": slug, "name": slug.replace("-", " ").title(), "timezone": "Europe/Paris",
                "currency": currency, **({} if "rules" in extra else {"earn_rate": earn_rate}), **extra}
        response = self.call("POST", "/v1/partners", json=body)
        assert response.status_code == 201, response.json
        return response.json["api_key"]

    def enrol(self, key: str | None = None, **body) -> tuple[str, str]:
        response = self.call("POST", "/v1/members", key, json=body)
        assert response.status_code == 201, response.json
        return response.json["member_id"], response.json["card_number"]

    def sale(self, key: str, card: str, total: str, order: str | None = None, currency: str = "EUR", **extra):
        body = {"type": "sale", "order_id": order or order_id("S"), "card_number": card,
                "occurred_at": "2026-03-14T10:30:00+01:00", "currency": currency, "total": total, **extra}
        return self.call("POST", "/v1/transactions", key, json=body)

    def refund(self, key: str, original: str, total: str, order: str | None = None, currency: str = "EUR", **extra):
        body = {"type": "refund", "order_id": order or order_id("R"), "original_order_id": original,
                "occurred_at": "2026-03-14T11:00:00+01:00", "currency": currency, "total": total, **extra}
        return self.call("POST", "/v1/transactions", key, json=body)

    def redeem(self, key: str, card: str, points, order: str | None = None, headers: dict | None = None):
        body = {"card_number": card, "points": points, "order_id": order or order_id("X")}
        return self.call("POST", "/v1/redemptions", key, headers=headers, json=body)

    def put_rules(self, slug: str, rules: list) -> dict:
        response = self.call("PUT", f"/v1/partners/{slug}/rules", json=rules)
        assert response.status_code == 200, response.json
        return response.json

    def balance(self, card: str, key: str | None = None) -> dict:
        response = self.call("GET", f"/v1/cards/{card}/balance", key)
        assert response.status_code == 200, response.json
        return response.json

    def points(self, card: str, key: str | None = None) -> dict:
        """The card's balances alone (the till's view also shows expiry and tier)."""
        view = self.balance(card, key)
        return {name: view[name] for name in ("card_number", "available", "pending", "held")}

    def history(self, member_id: str, key: str | None = None, **query) -> dict:
        response = self.call("GET", f"/v1/members/{member_id}/history", key, query_string=query)
        assert response.status_code == 200, response.json
        return response.json


@dataclass
class World:
    hub: HubClient
    coffee: str
    grocer: str
    member_id: str
    card: str

    @classmethod
    def build(cls, hub: HubClient) -> World:
        coffee = hub.create_partner("brew-bar", earn_rate="1")
        grocer = hub.create_partner("green-grocer", earn_rate="2")
        member_id, card = hub.enrol(coffee, email="ann@example.com", name="Ann")
        return cls(hub, coffee, grocer, member_id, card)
