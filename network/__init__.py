"""The hub of the coalition network: the ledger of the shared points currency and its HTTP API.

`create_app` is the composition root: the only place that wires the ledger,
the partner plugins and the HTTP layer together.
"""

from __future__ import annotations

import os
from types import MappingProxyType

from flask import Flask

from network import config
from network.clock import utc_now
from network.db import Database, make_engine, make_replica_engine


def create_app(test_config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True, static_folder=None)  # the pages' assets are their blueprint's
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.update(config.from_environment(app.instance_path))
    app.config.update(
        CLOCK=utc_now,
        API_TITLE="Coalition loyalty network",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/v1",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearer": []}],
            "info": {"description": "One points currency shared by many retailers. Errors are "
                     '{"error": {"code", "message", "details"}}; every POST takes an Idempotency-Key header.'},
        },
        JSON_SORT_KEYS=False,
    )
    if test_config:
        app.config.update(test_config)

    _check_policies(app.config)
    if app.config["COALITION_PROXY_HOPS"]:  # the client's address, as rate limits and logs need it, behind proxies
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=app.config["COALITION_PROXY_HOPS"], x_proto=0, x_host=0, x_port=0,
                                x_prefix=0)

    from network import pages
    from network.api import register
    from network.api.common import Hub
    from network.members.privacy import MasterKey
    from network.ops import access, health, logs
    from partners.plugins import adapters, make_plugin_manager, rules
    from settlement.signing import KeyRing

    plugins = make_plugin_manager(extra=app.config.get("EXTRA_PLUGINS", ()))
    db = app.config.get("DATABASE") or Database(
        make_engine(app.config["DATABASE_URL"], transaction_pooler=app.config["DATABASE_TRANSACTION_POOLER"]),
        replica=make_replica_engine(app.config["DATABASE_REPLICA_URL"]) if app.config.get("DATABASE_REPLICA_URL") else None)
    settings = MappingProxyType(config.plugin_settings(app.config))
    signing = KeyRing(app.config["COALITION_SIGNING_KEYS_DIR"], environ=os.environ)
    app.extensions["coalition"] = Hub(
        db=db, plugins=plugins, adapters=adapters(plugins, settings), rules=rules(plugins, settings), signing=signing,
    )
    app.extensions["coalition.master_key"] = MasterKey(app.config["COALITION_MASTER_KEY_FILE"], environ=os.environ)
    logs.install()
    access.register(app)  # before the API's hooks: a request the gate refuses has its id and its line too
    register(app)
    pages.register(app)
    health.register(app, db)
    return app


def _check_policies(settings) -> None:
    """A misspelt policy must stop the hub at start, not surprise the first refund or sale.

    The booking terms check their own settings (claw-back, tier window) as
    every request reads them; building them once here makes that happen at start.
    """
    from network.earning.terms import Terms
    from network.lifecycle import expiry
    from settlement.liability import parse_breakage

    if settings["COALITION_EXPIRY"] not in expiry.POLICIES:
        raise ValueError(f"COALITION_EXPIRY must be one of {', '.join(expiry.POLICIES)}, not {settings['COALITION_EXPIRY']!r}")
    Terms.from_config(settings)
    parse_breakage(settings["COALITION_EXPECTED_BREAKAGE"])
    _check_network_account(settings)


def _check_network_account(settings) -> None:
    """The network's bank account is all three settings or none, and valid: a typo must not wait for pay day."""
    from network.errors import Invalid
    from settlement.banking import checked

    names = ("COALITION_NETWORK_ACCOUNT_HOLDER", "COALITION_NETWORK_IBAN", "COALITION_NETWORK_BIC")
    given = [settings.get(name) for name in names]
    if not any(given):
        return
    try:
        checked(*given, names=names)
    except Invalid as exc:
        raise ValueError(f"The network's bank account is not valid: {exc.details}") from None
