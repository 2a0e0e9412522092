"""Two-phase redemptions through the API: a hold, its capture, its void."""

from __future__ import annotations


def hold(hub, key, card, points, order, **extra):
    return hub.call("POST", "/v1/redemptions", key,
                    json={"card_number": card, "points": points, "order_id": order, "capture": False, **extra})


def capture(hub, key, hold_id, points=None, headers=None):
    return hub.call("POST", f"/v1/redemptions/{hold_id}/capture", key, headers=headers,
                    json={} if points is None else {"points": points})


def void(hub, key, hold_id, headers=None):
    return hub.call("POST", f"/v1/redemptions/{hold_id}/void", key, headers=headers)
