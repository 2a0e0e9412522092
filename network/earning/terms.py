"""The network's policies a booking follows: how long points live, what a refund may take back,
which sales count for a tier, how close a reward must be to nudge a member, how far from the
hub's clock a transaction may be dated.

Read from the settings once per request (or per import) and handed down as
one value, so the domain functions take no Flask and no long list of
keyword arguments that every layer must pass on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from network.earning.clawback import POLICIES, WITHIN_BALANCE
from network.lifecycle import tiers

#: How far ahead of the hub's clock a transaction may be dated: a till's clock may run fast, never by a day.
MAX_AHEAD = timedelta(days=1)


@dataclass(frozen=True)
class Terms:
    lifetime: timedelta = timedelta(days=730)
    clawback: str = WITHIN_BALANCE
    tier_window: tiers.Window = field(default_factory=lambda: tiers.DEFAULT_WINDOW)
    #: A sale that brings a member this close to a catalogue reward sends `reward_within_reach` (0: never).
    nudge_gap: int = 0
    #: The tier ladder and the rewards on offer as a worker last read them (None: read them from the database).
    ladder: list | None = None
    offers: list | None = None
    #: How far back a sale or refund may be dated (None: the points' lifetime, past which its points are expired).
    backdate: timedelta | None = None

    def __post_init__(self):
        if self.clawback not in POLICIES:
            raise ValueError(f"COALITION_CLAWBACK must be one of {', '.join(POLICIES)}, not {self.clawback!r}")
        if self.backdate is not None and self.backdate <= timedelta(0):
            raise ValueError(f"COALITION_MAX_BACKDATE_DAYS must be a positive number of days, not {self.backdate.days}")

    def dating(self, now: datetime) -> tuple[datetime, datetime]:
        """The earliest and latest `occurred_at` the hub books at `now`: a setting may only narrow the lifetime."""
        back = self.lifetime if self.backdate is None else min(self.backdate, self.lifetime)
        return now - back, now + MAX_AHEAD

    @classmethod
    def from_config(cls, config: Mapping, *, ladder: list | None = None, offers: list | None = None) -> Terms:
        return cls(
            lifetime=timedelta(days=config["COALITION_POINTS_LIFETIME_DAYS"]),
            clawback=config["COALITION_CLAWBACK"],
            tier_window=tiers.Window.from_config(config),
            nudge_gap=config["COALITION_NUDGE_GAP_POINTS"],
            ladder=ladder,
            offers=offers,
            backdate=None if config.get("COALITION_MAX_BACKDATE_DAYS") is None
            else timedelta(days=config["COALITION_MAX_BACKDATE_DAYS"]),
        )
