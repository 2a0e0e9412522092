"""Rate limits: a budget per credential, one per address for callers without one, and stricter ones a view asks for.

Counted in a moving window (`network/api/rate_counters.py`), in Redis when
`COALITION_REDIS_URL` is set (every worker and host share the counters) and
in the worker's memory otherwise (each worker then allows the whole limit: N
workers, N times it).

Why it is shaped this way:

- **A request with `Authorization: Bearer` spends its token's budget**
  (`COALITION_RATE_LIMIT`), keyed by a SHA-256 of the token: each partner key
  and each staff token has its own, the count runs before the token is looked
  up (a flood costs no query), and the token never reaches the counters' store
  or a log line. A request without one spends its address's
  (`COALITION_RATE_LIMIT_ANONYMOUS`).
- **A wrong token would otherwise buy a fresh budget per string**, so the
  tokens refused (401) from one address share a budget of the anonymous
  size, and once it is spent that address gets through only with tokens this
  worker has seen accepted: random tokens cannot outrun the anonymous limit,
  and a till whose key was revoked cannot hold up its neighbours' sales.
- **Redis down fails open**: the ledger must keep taking sales. The worker
  logs `Rate limit storage unreachable` (a warning), counts in its own memory
  under the same limits, and tries Redis again after 1, 2, 4 ... 32 s (`Rate
  limit storage recovered`).
- **A 429 carries `Retry-After` and the X-RateLimit-* headers; a success does
  not**: they cost one more read of the counters' store (a Redis round trip)
  on every request, for figures a caller needs only once it is refused.
- **Health and metrics are exempt** (`EXEMPT`): a load balancer or a scraper
  polls from one address, and a 429 there would take a healthy hub out of
  rotation. The public assets (`/docs`, `/v1/openapi.json`,
  `/v1/settlement/keys`) count like any call: a browser reading the reference
  loads five files, and the document is the largest answer the hub renders.
- **Counted before the text gate and the views**, so a request over its
  budget costs neither parsing nor a query; a view's own budget (`limited`)
  is spent in the view's wrapper, before `requires` and the view: sign-in
  attempts per account and per address.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request
from limits import RateLimitItem, parse_many
from werkzeug.exceptions import TooManyRequests

from network.api.errors import error_body
from network.api.idempotency import to_json
from network.api.rate_counters import Counters

EXTENSION = "coalition.limits"
#: Paths no budget applies to: what a load balancer, a monitor and a scraper poll.
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
#: Settings that turn a limit off.
OFF = frozenset({"", "0", "off", "none"})
#: The attribute of a view holding the budgets `limited` gave it, (setting, key) pairs.
LIMITS = "_coalition_limits"
#: The scopes of the budgets: a token's, an address's without one, and the tokens refused from an address.
CREDENTIAL, ADDRESS, REFUSED = "credential", "address", "refused_tokens"
WHOSE = {CREDENTIAL: "this credential", ADDRESS: "this address", REFUSED: "the tokens refused from this address"}
_ACCEPTED_MAX = 100_000


def limit_of(config, setting: str) -> list[RateLimitItem]:
    """The limits a setting holds, in the `limits` notation ("3000/minute", "5/minute;20/hour"); none when off.

    Checked when the app is made, so a misspelt limit stops the hub at start.
    """
    if setting not in config:
        raise ValueError(f"{setting} is not a setting of this hub")
    value = str(config[setting] or "").strip()
    if value.lower() in OFF:
        return []
    try:
        return parse_many(value)
    except ValueError:
        raise ValueError(f"{setting} must be a limit such as 3000/minute or 5/minute;20/hour (or off), not {value!r}") from None


def client_address() -> str:
    """The caller's address (behind proxies, as `COALITION_PROXY_HOPS` reads X-Forwarded-For)."""
    return request.remote_addr or "unknown"


def json_field(name: str) -> Callable[[], str]:
    """A key from a field of the JSON body, trimmed and lower-cased: `json_field("email")` limits per account.

    A body without it shares one budget (`-`): the view refuses it anyway.
    """

    def key() -> str:
        body = request.get_json(silent=True)
        value = body.get(name) if isinstance(body, dict) else None
        return value.strip().lower() if isinstance(value, str) and value.strip() else "-"

    return key


def form_field(name: str) -> Callable[[], str]:
    """`json_field` for a page's form: a key from a field of the posted form, trimmed and lower-cased."""

    def key() -> str:
        value = request.form.get(name) or ""
        return value.strip().lower() or "-"

    return key


def limited(setting: str, key: Callable[[], str] = client_address):
    """Give a view a budget of its own, besides the caller's: `setting` names the app setting that holds the limit.

    Place it under the route decorator, above `requires`, so an attempt is
    counted before a password or a token is checked::

        @blp.route("/sign-in", methods=["POST"])
        @limited("COALITION_SIGN_IN_LIMIT", json_field("email"))  # per account
        @limited("COALITION_SIGN_IN_LIMIT_PER_ADDRESS")           # per address
        @blp.arguments(SignIn)
        ...

    The setting is read from the app's config (add it to network/config.py;
    "off" turns it off); `key` says whose budget a request spends, and its value
    is hashed before it is stored or logged (an e-mail is personal data).
    Budgets are spent top down: an attempt refused by the first is not counted
    by the second. Views naming one setting share its budget (sign-in and the
    password change: both check a password).
    """

    def decorate(view):
        marks = getattr(view, LIMITS, None)
        if marks is not None:  # a second budget on a view `limited` already wraps
            marks.append((setting, key))
            return view

        @functools.wraps(view)
        def guarded(*args, **kwargs):
            current_app.extensions[EXTENSION].spend(marks)
            return view(*args, **kwargs)

        marks = [(setting, key)]
        setattr(guarded, LIMITS, marks)
        return guarded

    return decorate


def digest(value: str) -> str:
    """What a counter is keyed by: never the token or the e-mail itself, and not the hash the database keeps either."""
    return hashlib.sha256(b"coalition-rate-limit\0" + value.encode()).hexdigest()[:32]


def bearer_digest() -> str | None:
    """The digest of the request's bearer token, or None without one (read as `authenticate` reads the header)."""
    found = g.get("_coalition_bearer", False)
    if found is False:
        scheme, _, token = (request.headers.get("Authorization") or "").partition(" ")
        token = token.strip()
        found = g._coalition_bearer = digest(token) if scheme.lower() == "bearer" and token else None
    return found


class Refused(TooManyRequests):
    """A request over a budget: which one, and whose, to say when to come back."""

    def __init__(self, item: RateLimitItem, key: str, scope: str, budget: str):
        super().__init__()
        self.item, self.key, self.scope, self.budget = item, key, scope, budget


class Limits:
    """The app's budgets and counters, and the tokens this worker has seen accepted."""

    def __init__(self, app: Flask):
        config = app.config
        self.credential = limit_of(config, "COALITION_RATE_LIMIT")
        self.anonymous = limit_of(config, "COALITION_RATE_LIMIT_ANONYMOUS")
        self.counters = Counters(config.get("COALITION_REDIS_URL"), config["COALITION_RATE_LIMIT_PREFIX"])
        self.accepted: set[str] = set()
        for view in app.view_functions.values():
            for setting, _ in getattr(view, LIMITS, ()):
                limit_of(config, setting)

    def count(self) -> None:
        """Spend the request's budget: its token's, or its address's; a token not seen accepted, if refused ones may."""
        if request.endpoint is None or request.path in EXEMPT:  # no route (404, 405) or a health check
            return
        found = bearer_digest()
        if found is None:
            self._spend(self.anonymous, client_address(), ADDRESS)
            return
        self._spend(self.credential, found, CREDENTIAL)
        if found not in self.accepted and self.anonymous:
            address = client_address()
            spent = self.counters.test(self.anonymous, address, REFUSED)
            if spent is not None:
                raise Refused(spent, address, REFUSED, REFUSED)

    def remember(self, response: Response) -> Response:
        """A token `requires` accepted skips the refused tokens' budget from now on; a refused one spends it."""
        found = bearer_digest()
        if found is None or request.endpoint is None:
            return response
        if response.status_code == 401:
            self.accepted.discard(found)
            if self.anonymous:
                self.counters.hit(self.anonymous, client_address(), REFUSED)
        elif found not in self.accepted and g.get("principal") is not None:
            if len(self.accepted) >= _ACCEPTED_MAX:
                self.accepted.clear()
            self.accepted.add(found)
        return response

    def spend(self, marks: list[tuple[str, Callable[[], str]]]) -> None:
        """Spend a view's own budgets (`limited`) in the order they are written, each under its key's digest.

        `marks` holds them innermost first; the first budget found spent refuses the request, and those after it
        are not spent.
        """
        for setting, key in reversed(marks):
            items = limit_of(current_app.config, setting)
            if items:
                self._spend(items, _key_digest(key), setting)

    def _spend(self, items: list[RateLimitItem], key: str, scope: str, budget: str | None = None) -> None:
        if items:
            spent = self.counters.hit(items, key, scope)
            if spent is not None:
                raise Refused(spent, key, scope, budget or scope)

    def refuse(self, error: TooManyRequests) -> Response:
        """429 in the API's error shape, with when to come back."""
        if not isinstance(error, Refused):  # a 429 from elsewhere (a plugin): the shape, without figures
            return Response(to_json(error_body("rate_limited", error.description or "Too many requests")) + "\n",
                            status=429, mimetype="application/json")
        item, budget = error.item, error.budget
        reset = self.counters.reset_at(item, error.key, error.scope)
        retry = max(1, math.ceil(reset - time.time()))
        body = error_body("rate_limited", f"Too many requests for {WHOSE.get(budget, budget)}: {item}; retry in {retry} s",
                          {"budget": budget, "limit": str(item), "retry_after": retry})
        response = Response(to_json(body) + "\n", status=429, mimetype="application/json")
        response.headers["Retry-After"] = str(retry)
        response.headers["X-RateLimit-Limit"] = str(item.amount)
        response.headers["X-RateLimit-Remaining"] = "0"
        response.headers["X-RateLimit-Reset"] = str(math.ceil(reset))
        return response


def _key_digest(key: Callable[[], str]) -> str:
    """The digest of a view's key; a key that raises spends the shared budget `-` rather than failing the request."""
    try:
        return digest(str(key()))
    except Exception:
        return digest("-")


def init(app: Flask) -> Limits:
    """Count before the text gate and the views (`network.api.register` calls it after the blueprints, before the gate)."""
    limits = app.extensions[EXTENSION] = Limits(app)
    app.before_request(limits.count)
    app.after_request(limits.remember)
    app.register_error_handler(TooManyRequests, limits.refuse)
    return limits
