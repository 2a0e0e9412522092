"""What every view needs: the hub's state, the caller, the clock, and idempotent writes."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import pluggy
from flask import Response, current_app, g, request
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from network.api import answers, gate, idempotency
from network.db import Database
from network.earning.terms import Terms
from network.errors import Forbidden, Invalid, Unavailable, UnsupportedMediaType
from network.events import notices
from network.lifecycle import tiers
from network.parties.auth import KeyCache, Principal, authenticate
from network.parties.registry import PartnerRef
from partners.adapters import Adapter
from partners.earning import InvalidRules, RuleSet, compile_rules
from partners.errors import flatten_errors
from partners.rules import EarningRule
from settlement.signing import KeyRing


@dataclass
class Hub:
    """Per-app state, kept in app.extensions: never a module global."""

    db: Database
    plugins: pluggy.PluginManager
    adapters: dict[str, Adapter]
    rules: dict[str, EarningRule]
    keys: KeyCache
    signing: KeyRing

    #: How long a worker keeps a network-wide setting it read (the tier ladder, the reward catalogues).
    recent_seconds: float = 5.0

    _compiled: dict[tuple[str, str], object] = field(default_factory=dict)
    _recent: dict[str, tuple[float, object]] = field(default_factory=dict)

    def recently(self, name: str, load):
        """A network-wide setting read at most once every `recent_seconds` per worker, not once per sale.

        The worker that changes it forgets it at once (`forget`); the others
        see the change within `recent_seconds`, as with partner keys.
        """
        found = self._recent.get(name)
        if found is not None and time.monotonic() - found[0] < self.recent_seconds:
            return found[1]
        value = load()
        self._recent[name] = (time.monotonic(), value)
        return value

    def forget(self, name: str) -> None:
        self._recent.pop(name, None)

    def ruleset(self, partner: PartnerRef) -> RuleSet:
        """The partner's rules, compiled once per distinct list (they were validated when set)."""
        try:
            return self._once("rules", partner.rules, lambda raw: compile_rules(self.rules, raw))
        except InvalidRules as exc:  # a rule plugin was uninstalled since the rules were set
            raise Unavailable(f"{partner.name}'s earning rules need a plugin not installed here", exc.fields,
                              code="rules_unavailable") from None

    def adapter(self, partner: PartnerRef) -> tuple[Adapter, dict]:
        """The partner's adapter and its loaded settings; 503 when the plugin is not installed here."""
        adapter = self.adapters.get(partner.adapter)
        if adapter is None:
            raise Unavailable(f"The adapter {partner.adapter!r} is not installed on this hub", code="adapter_unavailable")
        config = self._once(f"adapter:{adapter.name}", partner.adapter_config, lambda raw: load_adapter_config(adapter, raw))
        return adapter, config

    def _once(self, kind: str, raw, build):
        key = (kind, json.dumps(raw, sort_keys=True))
        found = self._compiled.get(key)
        if found is None:
            if len(self._compiled) > 10_000:
                self._compiled.clear()
            found = self._compiled[key] = build(raw)
        return found


def load_adapter_config(adapter: Adapter, raw: object) -> dict:
    """Validate a partner's `adapter_config` with the adapter's own schema; 422 naming the field."""
    if adapter.config_schema is None:
        if raw:
            raise Invalid(f"The {adapter.name} adapter takes no settings", {"adapter_config": ["must be empty"]})
        return {}
    try:
        return adapter.config_schema().load(raw or {})
    except ValidationError as exc:
        raise Invalid("The adapter settings are invalid", flatten_errors(exc.messages, "adapter_config")) from None


def hub() -> Hub:
    return current_app.extensions["coalition"]


def now() -> datetime:
    return current_app.config["CLOCK"]()


def requires(*roles: str):
    """Authenticate and check the caller's role before the body is even parsed.

    Placed under `@blp.route` and above `@blp.arguments`, so a stranger
    learns nothing from validation errors.
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = authenticate(
                hub().db, request.headers.get("Authorization"), current_app.config["COALITION_ADMIN_TOKEN"], hub().keys
            )
            if principal.role not in roles:
                raise Forbidden(f"This needs the {' or '.join(roles)} role", code="wrong_role")
            g.principal = principal
            gate.check_request()
            return view(*args, **kwargs)

        return gate.after_authentication(answers.authenticated(wrapper, roles))

    return decorate


def terms() -> Terms:
    """The network's booking policies as this request sees the settings, the ladder and the catalogues."""
    state = hub()
    return Terms.from_config(
        current_app.config, ladder=ladder(), offers=state.recently("offers", lambda: state.db.read(notices.offers))
    )


def ladder() -> list[tiers.Tier]:
    """The tier ladder as this worker last read it (a balance read needs no catalogue)."""
    state = hub()
    return state.recently("ladder", lambda: state.db.read(tiers.ladder))


def tier_window() -> tiers.Window:
    """Which sales qualify for a tier (COALITION_TIER_WINDOW, COALITION_LOYALTY_YEAR_START)."""
    return tiers.Window.from_config(current_app.config)


def principal() -> Principal:
    return g.principal


def only_itself(slug: str, message: str = "A partner sees only itself") -> None:
    """The operator may act for any partner; a partner only for itself (403 otherwise)."""
    caller = principal()
    if caller.partner is not None and caller.partner.slug != slug:
        raise Forbidden(message, code="wrong_partner")


def media_type(reads: Sequence[str], reader: str) -> str:
    """The request's media type if `reader` reads it: anything else is a 415 before a byte of the body is read."""
    found = request.mimetype or ""
    if found not in reads:
        raise UnsupportedMediaType(f"{reader} reads {', '.join(reads)}, not {found or 'an unnamed type'}",
                                   {"content_type": [found]})
    return found


def read(work: Callable[[Session], object]):
    return hub().db.read(work)


def idempotent_write(work: Callable[[Session], dict], status: int = 201,
                     booked: Callable[[dict], None] | None = None) -> Response:
    """Run a write under the request's Idempotency-Key (if any) and answer with its stored outcome.

    `booked` is handed the answer of a write that committed now (not a replay, not a refusal): the figures
    of /metrics count what the ledger holds.
    """
    key = request.headers.get("Idempotency-Key")
    idempotency.validate_key(key)
    done: list[dict] = []

    def unit(session: Session) -> tuple[int, dict]:
        done[:] = [work(session)]  # the last attempt's: the one that committed, if any did
        return status, done[0]

    outcome = idempotency.run(
        hub().db,
        unit,
        principal=g.principal.key,
        key=key,
        request_hash=idempotency.fingerprint(request.method, request.path, request.get_data()),
        now=now(),
    )
    if booked is not None and done and not outcome.replayed and outcome.status < 300:
        booked(done[0])
    response = Response(outcome.body + "\n", status=outcome.status, mimetype="application/json")
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
