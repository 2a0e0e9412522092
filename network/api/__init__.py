"""The HTTP layer: parse and validate, call the domain, render. Nothing else lives here."""

from __future__ import annotations

from flask import Flask

from network.api import (
    access,
    analytics,
    audit_events,
    campaigns,
    card_aliases,
    disputes,
    docs,
    document,
    finance,
    gate,
    holds,
    inbound,
    limits,
    lists,
    member_data,
    members,
    network,
    opening_balances,
    partner_access,
    partners,
    reconciliation,
    rewards,
    settlement,
    transactions,
    value,
    wallet_links,
    webhooks,
)
from network.api.errors import CoalitionApi, handle_domain_error
from network.errors import DomainError


def register(app: Flask) -> None:
    api = CoalitionApi(app, spec_kwargs={"extra_plugins": [document.Examples()]})
    app.url_map.converters["alias"] = card_aliases.AliasConverter
    api.register_converter(card_aliases.AliasConverter, lambda converter: {"type": "string", "maxLength": 128})
    document.register(api)
    for module in (access, partners, partner_access, audit_events, members, member_data, transactions, holds, rewards, inbound,
                   settlement, reconciliation, finance, disputes, analytics, value, campaigns, network, webhooks, lists, wallet_links, card_aliases, opening_balances):
        api.register_blueprint(module.blp, url_prefix="/v1")
    app.register_blueprint(docs.blp)  # beside the API, not in its document: the page that renders it
    app.register_error_handler(DomainError, handle_domain_error)
    limits.init(app)  # before the gate: a request over its budget costs no parsing
    gate.register(app)
