"""The tier ladder the tier tests work through: Blue 0 x1, Silver 1000 x1.25, Gold 5000 x1.5."""

from __future__ import annotations

LADDER = [
    {"name": "Blue", "threshold": 0, "multiplier": "1"},
    {"name": "Silver", "threshold": 1000, "multiplier": "1.25"},
    {"name": "Gold", "threshold": 5000, "multiplier": "1.5"},
]


def set_ladder(hub, ladder=LADDER):
    """Put the ladder through the API, as the operator does."""
    response = hub.call("PUT", "/v1/network/tiers", json={"tiers": ladder})
    assert response.status_code == 200, response.json
    return response.json
