"""Rate limits: a budget per credential, one per address for callers without one, and stricter ones a view asks for.

Flask-Limiter counts, in a moving window, in Redis when `COALITION_REDIS_URL`
is set (every worker and host share the counters) and in the worker's memory
otherwise (each worker then allows the whole limit: N workers, N times it).

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
  logs `Rate limit storage unreachable - falling back to in-memory storage`
  (logger `flask-limiter`, a warning), counts in its own memory under the same
  limits, and tries Redis again after 1, 2, 4 ... 32 s (`Rate limit storage
  recovered`). A Redis that does not answer costs a request at most
  `REDIS_TIMEOUT` before that.
- **A 429 carries `Retry-After` and the X-RateLimit-* headers; a success does
  not**: they cost one more read of the counters' store (a Redis round trip)
  on every request, for figures a caller needs only once it is refused.
- **Health and metrics are exempt** (`EXEMPT`): a load balancer or a scraper
  polls from one address, and a 429 there would take a healthy hub out of
  rotation. The public assets (`/docs`, `/v1/openapi.json`,
  `/v1/settlement/keys`) count like any call: a browser reading the reference
  loads five files, and the document is the largest answer the hub renders.
- **A view's own budget** (`limited`) runs inside the view's wrapper, before
  `requires` and the view: sign-in attempts per account and per address.
"""

from __future__ import annotations

import functools
import hashlib
import math
import threading
import time
from collections.abc import Callable

from flask import Flask, Response, current_app, g, request
from flask_limiter import ApplicationLimit, Limiter, RateLimitExceeded
from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from werkzeug.exceptions import TooManyRequests

from network.api.errors import error_body
from network.api.idempotency import to_json

EXTENSION = "coalition.limits"
#: Paths no budget applies to: what a load balancer, a monitor and a scraper poll.
EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})
#: Settings that turn a limit off.
OFF = frozenset({"", "0", "off", "none"})
#: How long a worker waits on Redis (connect, answer) before it counts in memory instead.
REDIS_TIMEOUT = 0.5
#: The attribute of a view holding the budgets `limited` gave it, (setting, key) pairs.
LIMITS = "_coalition_limits"
#: The scopes of the budgets: a token's, an address's without one, and the tokens refused from an address.
CREDENTIAL, ADDRESS, REFUSED = "credential", "address", "refused_tokens"
WHOSE = {CREDENTIAL: "this credential", ADDRESS: "this address", REFUSED: "the tokens refused from this address"}
_ACCEPTED_MAX = 100_000


def limit_of(config, setting: str) -> str:
    """The limit a setting holds, in Flask-Limiter's notation ("3000/minute", "5/minute;20/hour"); "" when off.

    Checked when the app is made, so a misspelt limit stops the hub at start.
    """
    if setting not in config:
        raise ValueError(f"{setting} is not a setting of this hub")
    value = str(config[setting] or "").strip()
    if value.lower() in OFF:
        return ""
    try:
        parse_many(value)
    except ValueError:
        raise ValueError(f"{setting} must be a limit such as 3000/minute or 5/minute;20/hour (or off), not {value!r}") from None
    return value


def client_address() -> str:
    """The caller's address (behind proxies, as `COALITION_PROXY_HOPS` reads X-Forwarded-For)."""
    return request.remote_addr or "unknown"


def json_field(name: str) -> Callable[[], str]:
    """A key from a field of the JSON body, trimmed and lower-cased: `json_field("email")` limits per account.

    A body without it shares one budget (`-`): the view refuses it anyway.
    """

    def key() -> str:
        try:
            body = request.get_json(silent=True)
        except Exception:  # a body over the size limit: the gate or the view says so, this only must not raise
            body = None
        value = body.get(name) if isinstance(body, dict) else None
        return value.strip().lower() if isinstance(value, str) and value.strip() else "-"

    key.__name__ = f"json_field_{name}"
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
    """

    def decorate(view):
        marks = getattr(view, LIMITS, None)
        if marks is not None:  # a second budget on a view `limited` already wraps
            marks.append((setting, key))
            return view

        @functools.wraps(view)
        def guarded(*args, **kwargs):
            return current_app.extensions[EXTENSION].guard(guarded, view)(*args, **kwargs)

        setattr(guarded, LIMITS, [(setting, key)])
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


class SweptMemory(MemoryStorage):
    """limits' memory storage, its expired entries swept inline at most once a second.

    limits starts a 10 ms timer thread to sweep after any hit that finds none
    running: on a worker busy every few milliseconds that is a thread started per
    request, most of what counting cost (`python -m bench.hotspots --op app-earn`).
    The counts never depend on the sweep (a window reads only its own entries);
    it only bounds their memory. A test holds that no request starts a thread.
    """

    STORAGE_SCHEME = ["coalition-memory"]
    SWEEP_SECONDS = 1.0
    _swept = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # what MemoryStorage calls on every hit
        now = time.monotonic()
        if now - self._swept >= self.SWEEP_SECONDS:
            self._swept = now
            self._MemoryStorage__expire_events()


class Refused(TooManyRequests):
    """Over the budget of the tokens refused from this address: the one budget counted outside Flask-Limiter's hook."""

    def __init__(self, item: RateLimitItem, args: list[str]):
        super().__init__()
        self.item, self.args = item, args


class Limits:
    """The app's limiter, the tokens this worker has seen accepted, and the views' own budgets, built once each.

    The two budgets every request spends one of are one Flask-Limiter limit
    whose value, key and scope follow the caller: each limit Flask-Limiter
    checks costs a request a hundred-odd function calls. The refused tokens'
    budget is counted here, through the same storage, only for a token this
    worker has not seen accepted.
    """

    def __init__(self, app: Flask):
        config = app.config
        self.credential = limit_of(config, "COALITION_RATE_LIMIT")
        self.anonymous = limit_of(config, "COALITION_RATE_LIMIT_ANONYMOUS")
        self.refused = parse_many(self.anonymous) if self.anonymous else []
        self.prefix = config["COALITION_RATE_LIMIT_PREFIX"]
        redis_url = config.get("COALITION_REDIS_URL")
        self.accepted: set[str] = set()
        self._guards: dict[int, Callable] = {}
        self._lock = threading.Lock()
        self.limiter = Limiter(
            client_address,
            application_limits=[ApplicationLimit(self._callers_limit, key_function=caller_key, scope=_callers_scope)],
            strategy="moving-window",
            storage_uri=redis_url or "coalition-memory://",
            storage_options={"socket_connect_timeout": REDIS_TIMEOUT, "socket_timeout": REDIS_TIMEOUT} if redis_url else {},
            key_prefix=self.prefix,
            swallow_errors=True,
            in_memory_fallback_enabled=True,
            headers_enabled=False,
        )
        self.limiter.request_filter(exempt)
        self.limiter.init_app(app)
        app.before_request(self._check_refused)
        app.after_request(self._remember)
        for view in app.view_functions.values():
            for setting, _ in getattr(view, LIMITS, ()):
                limit_of(config, setting)

    def _callers_limit(self) -> str:
        return self.credential if bearer_digest() is not None else self.anonymous

    def _refused_args(self) -> list[str]:
        return [self.prefix, client_address(), REFUSED] if self.prefix else [client_address(), REFUSED]

    def _check_refused(self) -> None:
        found = bearer_digest()
        if found is None or found in self.accepted or not self.refused or exempt():
            return
        args = self._refused_args()
        for item in self.refused:
            try:
                room = self.limiter.limiter.test(item, *args)
            except Exception:  # the store failed under us: Flask-Limiter logged it, and a refusal must not hang on it
                return
            if not room:
                raise Refused(item, args)

    def _remember(self, response: Response) -> Response:
        """A token `requires` accepted skips the refused tokens' budget from now on; a refused one spends it."""
        found = bearer_digest()
        if found is None:
            return response
        if response.status_code == 401:
            self.accepted.discard(found)
            args = self._refused_args()
            try:
                for item in self.refused:
                    self.limiter.limiter.hit(item, *args)
            except Exception:
                pass  # fail open, as every count does
        elif found not in self.accepted and g.get("principal") is not None:
            if len(self.accepted) >= _ACCEPTED_MAX:
                self.accepted.clear()
            self.accepted.add(found)
        return response

    def guard(self, guarded, view) -> Callable:
        """`view` under Flask-Limiter's decorators for each budget `limited` gave it, made on its first call."""
        found = self._guards.get(id(guarded))
        if found is None:
            with self._lock:
                found = self._guards.get(id(guarded))
                if found is None:
                    found = view
                    for setting, key in getattr(guarded, LIMITS):
                        found = self.limiter.limit(functools.partial(self._setting, setting), key_func=_hashed(key),
                                                   scope=setting, override_defaults=False)(found)
                    self._guards[id(guarded)] = found
        return found

    @staticmethod
    def _setting(setting: str) -> str:
        return limit_of(current_app.config, setting)

    def refuse(self, error: TooManyRequests) -> Response:
        """429 in the API's error shape, with when to come back."""
        if isinstance(error, Refused):
            item, budget = error.item, REFUSED
            window = lambda: self.limiter.limiter.get_window_stats(item, *error.args)  # noqa: E731
        elif isinstance(error, RateLimitExceeded):
            item, scope = error.limit.limit, error.limit.scope
            budget = scope(request.endpoint or "") if callable(scope) else scope
            window = lambda: self.limiter.current_limit.window  # noqa: E731
        else:  # a 429 from elsewhere (a plugin): the shape, without figures
            return Response(to_json(error_body("rate_limited", error.description or "Too many requests")) + "\n",
                            status=429, mimetype="application/json")
        try:
            reset = window().reset_time
        except Exception:  # the store went away between the count and this answer: a whole window is safe to say
            reset = time.time() + item.get_expiry()
        retry = max(1, math.ceil(reset - time.time()))
        body = error_body("rate_limited", f"Too many requests for {WHOSE.get(budget, budget)}: {item}; retry in {retry} s",
                          {"budget": budget, "limit": str(item), "retry_after": retry})
        response = Response(to_json(body) + "\n", status=429, mimetype="application/json")
        response.headers["Retry-After"] = str(retry)
        response.headers["X-RateLimit-Limit"] = str(item.amount)
        response.headers["X-RateLimit-Remaining"] = "0"
        response.headers["X-RateLimit-Reset"] = str(math.ceil(reset))
        return response


def exempt() -> bool:
    return request.path in EXEMPT


def caller_key() -> str:
    """Whose budget a request spends: its token's digest, or without one its address."""
    found = bearer_digest()
    return found if found is not None else client_address()


def _callers_scope(endpoint: str) -> str:
    return CREDENTIAL if bearer_digest() is not None else ADDRESS


def _hashed(key: Callable[[], str]) -> Callable[[], str]:
    """The key's digest; a key that raises spends the shared budget `-` (Flask-Limiter would take it for Redis down)."""

    def hashed() -> str:
        try:
            return digest(str(key()))
        except Exception:
            return digest("-")

    return hashed


def init(app: Flask) -> Limits:
    """Count before the text gate and the views (`network.api.register` calls it after the blueprints, before the gate)."""
    limits = app.extensions[EXTENSION] = Limits(app)
    app.register_error_handler(TooManyRequests, limits.refuse)
    return limits
