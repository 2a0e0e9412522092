"""The rate limits' counters: a moving window per key, in Redis or this worker's memory, failing open.

Built on `limits`, the storage and strategy library under Flask-Limiter (the
same moving window, the same Redis scripts, the same limit notation), without
Flask-Limiter's request hooks: they cost a request some 500 Python function
calls, an eighth of a whole earn's and a sixth of a balance read's
(`python -m bench.hotspots --op app-earn`, `--op app-read`); here a request
costs one hit of its counter.

When Redis fails (refused, reset, no answer within `REDIS_TIMEOUT`) the
worker logs it once, counts in its own memory under the same limits, and asks
Redis again after 1, 2, 4 ... 32 s: the ledger must keep taking sales, and a
Redis that does not answer must not hold every request up for its timeout.
"""

from __future__ import annotations

import logging
import threading
import time

from limits import RateLimitItem
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

#: How long a worker waits on Redis (connect, answer) before it counts in memory instead.
REDIS_TIMEOUT = 0.5
#: The longest wait between two tries of a Redis that failed.
RETRY_MAX_SECONDS = 32.0


class SweptMemory(MemoryStorage):
    """limits' memory storage, its expired entries swept inline at most once a second.

    limits starts a 10 ms timer thread to sweep after any hit that finds none
    running: on a worker busy every few milliseconds, a thread started per
    request, most of what counting in memory would cost. The counts never
    depend on the sweep (a window reads only its own entries); it bounds their
    memory. A test holds that no request starts a thread.
    """

    SWEEP_SECONDS = 1.0
    _swept = 0.0

    def _MemoryStorage__schedule_expiry(self) -> None:  # what MemoryStorage calls on every hit
        now = time.monotonic()
        if now - self._swept >= self.SWEEP_SECONDS:
            self._swept = now
            self._MemoryStorage__expire_events()


class Counters:
    """Moving windows keyed by (prefix, key, scope), in Redis when `url` is given, else in memory."""

    def __init__(self, url: str | None, prefix: str):
        self.prefix = prefix
        self.store = (storage_from_string(url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)
                      if url else SweptMemory())
        self._primary = MovingWindowRateLimiter(self.store)
        self._memory = MovingWindowRateLimiter(SweptMemory()) if url else None
        self._down = False
        self._wait = 1.0
        self._next_try = 0.0
        self._lock = threading.Lock()

    def hit(self, items: list[RateLimitItem], key: str, scope: str) -> RateLimitItem | None:
        """Spend one request of each budget in `items`; the first one found spent (nothing more is spent), or None."""
        return self._run(lambda window: next((item for item in items if not window.hit(item, self.prefix, key, scope)), None))

    def test(self, items: list[RateLimitItem], key: str, scope: str) -> RateLimitItem | None:
        """The first budget in `items` with no room left, spending nothing; or None."""
        return self._run(lambda window: next((item for item in items if not window.test(item, self.prefix, key, scope)), None))

    def reset_at(self, item: RateLimitItem, key: str, scope: str) -> float:
        """When the budget has room again (a Unix time); a whole window from now if the store cannot say."""
        try:
            return self._window().get_window_stats(item, self.prefix, key, scope).reset_time
        except Exception:
            return time.time() + item.get_expiry()

    def _run(self, count):
        window = self._window()
        try:
            return count(window)
        except Exception:
            if window is not self._primary or self._memory is None:
                log.exception("Rate limit counting failed; the request goes through uncounted")
                return None
            self._failed()
            return count(self._memory)

    def _window(self) -> MovingWindowRateLimiter:
        if not self._down:
            return self._primary
        if time.monotonic() < self._next_try:
            return self._memory
        with self._lock:
            if self._down and time.monotonic() >= self._next_try:
                if self._answers():
                    self._down, self._wait = False, 1.0
                    log.info("Rate limit storage recovered: counting in Redis again")
                else:
                    self._wait = min(self._wait * 2, RETRY_MAX_SECONDS)
                    self._next_try = time.monotonic() + self._wait
        return self._memory if self._down else self._primary

    def _answers(self) -> bool:
        try:
            return bool(self.store.check())
        except Exception:
            return False

    def _failed(self) -> None:
        with self._lock:
            if not self._down:
                self._down, self._wait = True, 1.0
                self._next_try = time.monotonic() + self._wait
                log.warning("Rate limit storage unreachable: counting in this worker's memory until it answers",
                            exc_info=True)
