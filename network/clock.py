"""Now, in UTC. The app holds a clock so tests can drive time explicitly."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
