"""Races with real threads: calls released together by a barrier."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor


def race(count, call):
    """Start `count` calls at once (a barrier releases them together) and collect the responses."""
    barrier = threading.Barrier(count)

    def one(index):
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))
