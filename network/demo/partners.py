"""Scene one, partners onboard: the operator opens the network and adds each partner as it will send its sales.

The network opens a points lifetime, a return window and a week ago, so that
the member-life scenes can watch one member's points go pending, become
available, be warned of and expire before today.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

from network.demo.catalogue import (
    BIKE_SHOP,
    CURRENCY,
    EXPIRED_DAYS_AGO,
    PARTNERS,
    PLUGIN_PARTNERS,
    RETURN_DAYS,
    SHOP,
    TIMEZONE,
)
from network.demo.client import expect
from network.demo.stage import Stage


@dataclass(frozen=True)
class Inbound:
    """What the plugin partners need later: the shop's webhook secret and URL."""

    shop_secret: str
    shop_path: str  # the shop's inbound URL, as a path on the hub


def onboard(stage: Stage) -> Inbound:
    """Every partner of the demo, created through POST /v1/partners long enough ago for points to have expired."""
    stage.clock.set(datetime.now(timezone.utc) - stage.lifetime() - timedelta(days=RETURN_DAYS + EXPIRED_DAYS_AGO))
    for trade in PARTNERS:
        _create(stage, trade.slug, trade.name, {"adapter": "canonical", "rules": list(trade.rules)})
    secret = f"shpss_{secrets.token_hex(16)}"  # the shop's webhook signing secret, as Shopify's admin shows it
    inbound = ""
    for partner in PLUGIN_PARTNERS:
        settings = {"webhook_secret": secret} if partner is SHOP else {}
        created = _create(stage, partner.slug, partner.name,
                          {"adapter": partner.adapter, "adapter_config": settings, "rules": list(partner.rules)})
        if partner is SHOP:
            inbound = urlsplit(created["inbound_url"]).path
    # A bike shop with a return window: its sales' points are pending for RETURN_DAYS.
    _create(stage, BIKE_SHOP.slug, BIKE_SHOP.name,
            {"adapter": BIKE_SHOP.adapter, "rules": list(BIKE_SHOP.rules), "pending_days": RETURN_DAYS})
    return Inbound(secret, inbound)


def _create(stage: Stage, slug: str, name: str, settings: dict) -> dict:
    body = {"slug": slug, "name": name, "timezone": TIMEZONE, "currency": CURRENCY, **settings}
    created = expect(stage.client.call("POST", "/v1/partners", stage.admin, body), 201, f"creating {name}")
    stage.keys[slug] = created["api_key"]
    return created
