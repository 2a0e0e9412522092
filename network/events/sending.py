"""One attempt on the wire: a signed POST that ends by its deadline, or a delivery plugin's call.

urllib3 sends: a well-kept client with no dependencies of its own, with
retries and redirects switched off so every try is ours to record. It
connects to the address network.events.destination resolved and checked,
never to the URL itself (see `Pools`).

Its timeouts bound each socket operation, not the request: an endpoint that
answers a byte every 0.8 s holds a 1 s timeout for as long as it likes. So
every attempt has a deadline that a `Watchdog` enforces: past it, the
attempt's socket is shut down under whatever read is waiting, and the
attempt ends as timed out. A claim is sized to that deadline, so no claim
runs out while its attempt may still be sending.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection

from network.events import destination
from network.events.webhooks import EVENT_ID_HEADER, SIGNATURE_HEADER, sign

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    duration_ms: int


class Watchdog:
    """One thread that cuts the connection of every attempt still open at its deadline."""

    def __init__(self) -> None:
        self._due: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._wake = threading.Condition()
        threading.Thread(target=self._run, name="delivery-watchdog", daemon=True).start()

    def watch(self, deadline: float) -> Watch:
        found = Watch(deadline)
        with self._wake:
            heapq.heappush(self._due, (deadline, next(self._order), found))
            self._wake.notify()
        return found

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._due or self._due[0][0] > time.monotonic():
                    self._wake.wait(None if not self._due else self._due[0][0] - time.monotonic())
                _, _, found = heapq.heappop(self._due)
            found.expire()


class Watch:
    """An attempt's deadline and the connection it is using; expiring it shuts that connection's socket."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = False
        self.done = False
        self._connection: HTTPConnection | None = None
        self._lock = threading.Lock()

    def using(self, connection: HTTPConnection) -> None:
        with self._lock:
            self._connection = connection
            late = self.expired and not self.done
        if late:
            _cut(connection)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            connection = self._connection
        if connection is not None:
            _cut(connection)

    def finish(self) -> bool:
        """Stop watching; whether the deadline cut the attempt short."""
        with self._lock:
            self.done = True
            return self.expired


def _cut(connection: HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_current = threading.local()


class _Watched:
    """Hands the connection of each request to the sending thread's `Watch` before a byte goes out."""

    def request(self, *args, **kwargs):
        watch = getattr(_current, "watch", None)
        if watch is not None:
            watch.using(self)
        return super().request(*args, **kwargs)


class WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class Pools:
    """Connection pools shared by a deliverer's threads, one per (scheme, address, port, host).

    The URL never reaches urllib3's own parser or resolver: a pool is made
    for the address `destination.checked_address` allowed, with the URL's
    host kept as the `Host` header and as the TLS name (SNI and the
    certificate check), so a second DNS answer cannot move the connection.
    """

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self._pools: dict[tuple, urllib3.HTTPConnectionPool] = {}
        self._lock = threading.Lock()

    def get(self, target: destination.Target, address: destination.IPAddress) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, address, target.port, target.host)
        with self._lock:
            if key not in self._pools:
                self._pools[key] = self._make(target, address)
            return self._pools[key]

    def _make(self, target: destination.Target, address: destination.IPAddress) -> urllib3.HTTPConnectionPool:
        if target.scheme == "https":
            pool = urllib3.HTTPSConnectionPool(
                str(address), target.port, maxsize=self.size, retries=False, cert_reqs="CERT_REQUIRED",
                server_hostname=target.host, assert_hostname=target.host)
            pool.ConnectionCls = WatchedHTTPSConnection
        else:
            pool = urllib3.HTTPConnectionPool(str(address), target.port, maxsize=self.size, retries=False)
            pool.ConnectionCls = WatchedHTTPConnection
        return pool

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()


#: The deliverer's one watchdog thread, started when the first attempt needs it.
_watchdog: Watchdog | None = None
_watchdog_lock = threading.Lock()


def watchdog() -> Watchdog:
    global _watchdog
    with _watchdog_lock:
        if _watchdog is None:
            _watchdog = Watchdog()
        return _watchdog


def post(pools: Pools, url: str, secret: str, event_id: str, body: bytes, attempted_at: datetime, deadline: float, *,
         private_networks: bool = False) -> Outcome:
    """POST the event, signed; 2xx is delivered, anything else (status, redirect, refusal, deadline) a failed attempt.

    The host is resolved here, once, and every address it answers is
    checked (a name may resolve elsewhere since registration); a refused
    URL is an attempt recorded with no request sent. `deadline` is in
    seconds for the whole attempt: resolving, connecting, sending, the
    answer's headers and its body.
    """
    started = time.monotonic()
    watch = watchdog().watch(started + deadline)
    _current.watch = watch
    try:
        outcome = _post(pools, url, secret, event_id, body, attempted_at, deadline, started, private_networks)
    finally:
        _current.watch = None
        cut = watch.finish()
    # A 2xx whose body was still coming when the deadline cut it is delivered: the receiver has said it took the event.
    if cut and not outcome.ok:
        return Outcome(False, None, f"timed out after {deadline:g} s", _ms(started))
    return outcome


def _post(pools: Pools, url: str, secret: str, event_id: str, body: bytes, attempted_at: datetime, deadline: float,
          started: float, private_networks: bool) -> Outcome:
    try:
        target = destination.parse(url)
        address = destination.checked_address(target, private_networks=private_networks)
    except destination.PrivateAddress as exc:
        return Outcome(False, None, f"refused: the URL's host is a private address ({exc.address}); "
                                    "COALITION_WEBHOOK_PRIVATE_NETWORKS allows it", 0)
    except destination.Refused as exc:
        return Outcome(False, None, f"refused: the URL {exc}", 0)
    except (OSError, UnicodeError) as exc:
        return Outcome(False, None, f"NameResolutionError: {target.host}: {exc}"[:500], _ms(started))
    headers = {
        "Host": target.host_header,
        "Content-Type": "application/json",
        "User-Agent": "coalition-webhooks/1",
        EVENT_ID_HEADER: event_id,
        SIGNATURE_HEADER: sign(secret, body, int(attempted_at.timestamp())),
    }
    left = max(0.001, deadline - (time.monotonic() - started))
    try:
        response = pools.get(target, address).urlopen(
            "POST", target.path, body=body, headers=headers, retries=False, redirect=False,
            assert_same_host=False, timeout=urllib3.Timeout(total=left), preload_content=False)
        try:
            response.drain_conn()
        finally:
            response.release_conn()
    except urllib3.exceptions.NewConnectionError as exc:  # urllib3 makes it a ConnectTimeoutError: it is a refusal
        return Outcome(False, None, f"NewConnectionError: {exc}"[:500], _ms(started))
    except urllib3.exceptions.TimeoutError:
        return Outcome(False, None, f"timed out after {deadline:g} s", _ms(started))
    except urllib3.exceptions.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    if 300 <= response.status < 400:  # followed, it would go wherever the receiver says, unchecked
        return Outcome(False, response.status, "a redirect is not followed: answer 2xx at the registered URL",
                       _ms(started))
    return Outcome(200 <= response.status < 300, response.status, None, _ms(started))


def offer(call: Callable | None, plugin: str, event: dict, settings: Mapping[str, Any]) -> Outcome:
    """Hand the event to a delivery plugin; returning is delivered, raising a failed attempt retried like a webhook's.

    A plugin runs in the deliverer's own thread and cannot be cut short:
    one that outlives its claim may see the event twice, as a receiver can.
    """
    started = time.monotonic()
    if call is None:
        return Outcome(False, None, f"plugin {plugin!r} is not installed on this hub", 0)
    try:
        call(dict(event), settings)
    except Exception as exc:  # noqa: BLE001 - a plugin's failure is recorded, never the deliverer's end
        log.warning("delivery plugin %s failed on event %s: %r", plugin, event["id"], exc)
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:500], _ms(started))
    return Outcome(True, None, None, _ms(started))


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
