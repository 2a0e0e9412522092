"""What every view needs: the hub's state, the caller, the clock, and idempotent writes."""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import pluggy
from flask import Response, current_app, g, request
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from network.api import answers, audit_trail, gate, idempotency
from network.db import Database
from network.earning.terms import Terms
from network.errors import Forbidden, Invalid, Unavailable, UnsupportedMediaType
from network.events import notices
from network.lifecycle import tiers
from network.parties import auth
from network.parties.auth import Principal, authenticate
from network.parties.registry import PartnerRef
from network.parties.roles import ALL_ROLES
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
    signing: KeyRing
    #: The principals this worker read, for writes that check them themselves.
    callers: auth.CallerCache = field(default_factory=auth.CallerCache)

    _compiled: dict[tuple[str, str], object] = field(default_factory=dict)
    _recent: dict[str, tuple[int, object]] = field(default_factory=dict)

    def recently(self, name: str, load, version: int):
        """A network-wide setting read once per change, not once per sale.

        `version` is the network's settings version as this request read it
        with its credential (`auth.settings_version`); every change of such a
        setting raises it in its own transaction, so every worker reads the
        new value from its next request on, and no worker keeps an old one.
        """
        found = self._recent.get(name)
        if found is not None and found[0] == version:
            return found[1]
        value = load()
        self._recent[name] = (version, value)
        return value

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


def requires(*allowed: str | tuple[str, ...]):
    """Authenticate and check the caller's role before the body is even parsed.

    Placed under `@blp.route` and above `@blp.arguments`, so a stranger
    learns nothing from validation errors. Takes roles and groups of them
    (`roles.STAFF_ROLES`); the README's role table is printed from these.
    """
    roles = tuple(dict.fromkeys(role for item in allowed for role in ((item,) if isinstance(item, str) else item)))
    unknown = set(roles) - set(ALL_ROLES)
    if unknown:
        raise ValueError(f"No such roles: {sorted(unknown)}")

    def decorate(view):
        # A write run by idempotent_write proves its caller in its audit INSERT, a read in its first statement; any
        # other write (a streamed batch, a reconciliation) proves it before it starts, as it cannot run twice.
        proves_itself = answers.is_write(view)

        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            g.principal = _caller()
            if request.method != "GET" and not proves_itself and not _proven():
                _checked_again()
            try:
                answer = view(*args, **kwargs)
            except auth.Stale:
                return _again(args, kwargs)
            except Exception:
                # A refusal (a 422, a business refusal) goes only to a proven principal: a revoked key learns
                # nothing from it, and a refusal made on stale settings is made again on fresh ones. Refusals
                # are rare, so this costs the hot path nothing.
                if _proven():
                    raise
                return _again(args, kwargs)
            if not _proven():
                return _again(args, kwargs)
            return answer

        def _caller():
            principal = g.principal = authenticate(hub().db, request.headers.get("Authorization"),
                                                   current_app.config["COALITION_ADMIN_TOKEN"], now(), hub().callers)
            try:
                if principal.role not in roles:
                    raise Forbidden(f"This needs the {' or '.join(roles)} role", code="wrong_role")
                gate.check_request()
            except Exception:
                if _proven():
                    raise
                _forget_caller()
                return _caller()  # read afresh: a 401 if it is gone, else this refusal again
            return principal

        def _again(args, kwargs):
            _checked_again()
            return view(*args, **kwargs)

        def _checked_again():
            """The unchecked principal did not hold: forget it, and read it afresh (a 401 if it is gone)."""
            _forget_caller()
            g.principal = _caller()

        wrapper.roles = roles
        return gate.after_authentication(answers.authenticated(wrapper, roles))

    return decorate


def terms() -> Terms:
    """The network's booking policies as this request sees the settings, the ladder and the catalogues."""
    state = hub()
    return Terms.from_config(current_app.config, ladder=ladder(),
                             offers=state.recently("offers", lambda: state.db.read(notices.offers), settings_version()))


def ladder() -> list[tiers.Tier]:
    """The tier ladder as this worker last read it (a balance read needs no catalogue)."""
    state = hub()
    return state.recently("ladder", lambda: state.db.read(tiers.ladder), settings_version())


def settings_version() -> int:
    """The settings version this request read with its credential; a request without one reads it itself."""
    caller = g.get("principal")
    if caller is not None and caller.settings_version is not None:
        return caller.settings_version
    if "settings_version" not in g:
        g.settings_version = hub().db.read(auth.settings_version)
    return g.settings_version


def tier_window() -> tiers.Window:
    """Which sales qualify for a tier (COALITION_TIER_WINDOW, COALITION_LOYALTY_YEAR_START)."""
    return tiers.Window.from_config(current_app.config)


def principal() -> Principal:
    return g.principal


def only_itself(slug: str, message: str = "A partner sees only itself") -> None:
    """The operator's staff may act for any partner; a partner's keys and people only for it (403 otherwise)."""
    caller = principal()
    if caller.partner is not None and caller.partner.slug != slug:
        raise Forbidden(message, code="wrong_partner")


def acting_for(slug: str | None, message: str, *, required: bool) -> str | None:
    """The partner a request speaks of: a partner's caller always itself (naming another is 403 `wrong_partner`);
    the operator's staff the one they name, which `required` makes them name (422 naming `partner`)."""
    caller = principal()
    if caller.partner is not None:
        if slug is not None and slug != caller.partner.slug:
            raise Forbidden(message, code="wrong_partner")
        return caller.partner.slug
    if slug is None and required:
        raise Invalid("The operator's staff name the partner", {"partner": ["is required for the operator"]})
    return slug


def media_type(reads: Sequence[str], reader: str) -> str:
    """The request's media type if `reader` reads it: anything else is a 415 before a byte of the body is read."""
    found = request.mimetype or ""
    if found not in reads:
        raise UnsupportedMediaType(f"{reader} reads {', '.join(reads)}, not {found or 'an unnamed type'}",
                                   {"content_type": [found]})
    return found


def read(work: Callable[[Session], object]):
    """A read; its first statement proves the caller read before still holds (on the same connection), else the
    view runs again on a fresh reading of the caller."""

    def proven(session: Session):
        if not _prove(session.connection()):
            raise auth.Stale
        return work(session)

    return hub().db.read(proven)


def lagging_read(work: Callable[[Session], object]):
    """A read that may lag the ledger (`Database.lagging_read`: the replica, when there is one).

    The caller is proven on the primary first: a key revoked a moment ago
    must not read on a replica that has not replayed the revocation yet.
    """
    if not _proven():
        raise auth.Stale
    return hub().db.lagging_read(work)


def lagging_reads(works: dict[str, Callable[[Session], object]]) -> dict:
    """Independent lagging reads at once (`Database.lagging_reads`), once the caller is proven on the primary."""
    if not _proven():
        raise auth.Stale
    return hub().db.lagging_reads(works)


def _proven() -> bool:
    """Whether this request's caller holds: at once if it was read or proven by this request, else one query."""
    return g.principal.verified or hub().db.read(lambda session: _prove(session.connection()))


def _forget_caller() -> None:
    hub().callers.drop(auth.hash_api_key(auth.bearer(request.headers.get("Authorization"))))


def _proven_or_stale(session: Session) -> None:
    if not _prove(session.connection()):
        raise auth.Stale


def _prove(connection) -> bool:
    """Prove an unchecked principal once per request; a proven one (or the bootstrap token) costs nothing."""
    caller = g.get("principal")
    if caller is None or caller.verified:  # a signed webhook's request has no bearer caller
        return True
    if not auth.still_good(connection, caller, now()):
        return False
    g.principal = replace(caller, verified=True)
    return True


def _path_and_query() -> str:
    """What a write's key is held to beside its body: a write may take a query (a replay's `since`), and another
    query is another request. Bytes as sent (latin-1 reads any), so a request without one hashes as it always did."""
    query = request.query_string.decode("latin-1")
    return f"{request.path}?{query}" if query else request.path


def idempotent_write(work: Callable[[Session], dict], status: int | Callable[[dict], int] = 201,
                     booked: Callable[[dict], None] | None = None) -> Response:
    """Run a write under the request's Idempotency-Key (if any) and answer with its stored outcome.

    `booked` is handed the answer of a write that committed now (not a replay, not a refusal): the figures
    of /metrics count what the ledger holds. `status` may be a function of the answer.
    """
    key = request.headers.get("Idempotency-Key")
    idempotency.validate_key(key)
    done: list[dict] = []

    def unit(session: Session) -> tuple[int, dict]:
        audit_trail.begin()
        done[:] = [work(session)]  # the last attempt's: the one that committed, if any did
        return (status(done[0]) if callable(status) else status), done[0]

    outcome = idempotency.run(
        hub().db,
        unit,
        principal=g.principal.key,
        key=key,
        request_hash=idempotency.fingerprint(request.method, _path_and_query(), request.get_data()),
        now=now(),
        before_refusal=_proven_or_stale,
        event=audit_trail.event,
    )
    # Every way out of `run` but an exception proved the caller: the event's INSERT, or `before_refusal`.
    if not g.principal.verified:
        g.principal = replace(g.principal, verified=True)
    if booked is not None and done and not outcome.replayed and outcome.status < 300:
        booked(done[0])
    response = Response(outcome.body + "\n", status=outcome.status, mimetype="application/json")
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def csv_file(filename: str, header: list[str], rows: list[list]) -> Response:
    """A download for a spreadsheet: RFC 4180 (CRLF line ends, quoting only where needed), named `filename`."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)
    return download(out.getvalue(), "text/csv", filename)


def download(data: str | bytes, mimetype: str, filename: str) -> Response:
    """A file the browser saves under `filename` rather than shows."""
    response = Response(data, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
