"""When a rule is in force: a campaign's window, as the partner's people say it, in the partner's own time.

`valid_from` and `valid_until` are wall-clock dates or times in the
partner's zone ("2026-12-01", "2026-12-24T18:00"), never an offset: a
shop's Christmas week starts at its midnight whether or not summer time
changed in between, so a sale is judged by its local time (SaleContext)
against the window, and the instant the window ends moves with the clocks.
A date as `valid_until` includes that whole day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

KEYS = ("valid_from", "valid_until")


@dataclass(frozen=True)
class Validity:
    starts: datetime | None  # wall-clock in the partner's zone, included
    ends: datetime | None  # wall-clock, excluded

    def holds(self, local: datetime) -> bool:
        """Whether a moment, in the partner's zone, falls in the window."""
        wall = local.replace(tzinfo=None)
        return (self.starts is None or wall >= self.starts) and (self.ends is None or wall < self.ends)

    def view(self) -> dict:
        return {"starts": None if self.starts is None else self.starts.isoformat(),
                "ends": None if self.ends is None else self.ends.isoformat()}


def parse(entry: dict) -> tuple[Validity | None, dict[str, list[str]]]:
    """The window an entry of a partner's rules names (None: always), and the errors by key."""
    errors: dict[str, list[str]] = {}
    bounds = {}
    for key in KEYS:
        if key not in entry:
            continue
        found, problem = _wall_clock(entry[key], until=key == "valid_until")
        if problem:
            errors[key] = [problem]
        bounds[key] = found
    if errors:
        return None, errors
    starts, ends = bounds.get("valid_from"), bounds.get("valid_until")
    if starts is not None and ends is not None and ends <= starts:
        return None, {"valid_until": ["must be after valid_from"]}
    return (None if starts is None and ends is None else Validity(starts, ends)), {}


def _wall_clock(value, *, until: bool) -> tuple[datetime | None, str | None]:
    if not isinstance(value, str) or len(value) > 32:
        return None, "must be a date or a local time such as 2026-12-24 or 2026-12-24T18:00"
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if until else day, time()), None
        moment = datetime.fromisoformat(value)
    except (ValueError, OverflowError):
        return None, f"{value!r} is not a date or a local time such as 2026-12-24 or 2026-12-24T18:00"
    if moment.tzinfo is not None:
        return None, "must be a local time in the partner's zone, without an offset"
    return moment, None
