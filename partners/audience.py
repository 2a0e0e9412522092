"""Who a campaign's rule is for: an audience of members, judged at the sale from what the hub knows of the member.

`audience` on a rule entry: any of `tiers` (names on the network's ladder),
`enrolled_since` and `enrolled_before` (dates on the partner's clock:
since includes its day, before excludes its day) and `dormant_days` (no
purchase or redemption at any partner for at least that many days before
the sale; a member who never bought counts as dormant). A rule with an
audience counts only for a member in it; its sale is priced again once the
member is known (network.earning.audiences), so a rule set without
audiences costs nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

KEY = "audience"


@dataclass(frozen=True)
class Member:
    """What an audience may know of a member, read when the sale is booked."""

    tier: str | None  # the tier's name; None on a network without a ladder
    enrolled_at: datetime
    last_activity_at: datetime | None  # the last purchase or redemption before this sale


@dataclass(frozen=True)
class Audience:
    tiers: frozenset[str] | None = None
    enrolled_since: date | None = None
    enrolled_before: date | None = None
    dormant_days: int | None = None

    def admits(self, member: Member | None, at: datetime) -> bool:
        """Whether the member is in the audience at `at` (a local time in the partner's zone); no member, no."""
        if member is None:
            return False
        if self.tiers is not None and member.tier not in self.tiers:
            return False
        enrolled = member.enrolled_at.astimezone(at.tzinfo).date()
        if self.enrolled_since is not None and enrolled < self.enrolled_since:
            return False
        if self.enrolled_before is not None and enrolled >= self.enrolled_before:
            return False
        if self.dormant_days is not None and member.last_activity_at is not None:
            return at - member.last_activity_at >= timedelta(days=self.dormant_days)
        return True

    def view(self) -> dict:
        found = {"tiers": None if self.tiers is None else sorted(self.tiers),
                 "enrolled_since": self.enrolled_since and self.enrolled_since.isoformat(),
                 "enrolled_before": self.enrolled_before and self.enrolled_before.isoformat(),
                 "dormant_days": self.dormant_days}
        return {key: value for key, value in found.items() if value is not None}


class AudienceSchema(Schema):
    class Meta:
        unknown = "raise"

    tiers = fields.List(fields.String(validate=validate.Length(min=1, max=40)),
                        validate=validate.Length(min=1, max=20, error="must name 1 to 20 tiers"))
    enrolled_since = fields.Date()
    enrolled_before = fields.Date()
    dormant_days = fields.Integer(validate=validate.Range(1, 3660))

    @validates_schema
    def _some(self, data, **kwargs):
        if not data:
            raise ValidationError("must name who: tiers, enrolled_since, enrolled_before or dormant_days", "_schema")
        since, before = data.get("enrolled_since"), data.get("enrolled_before")
        if since and before and before <= since:
            raise ValidationError("must be after enrolled_since", "enrolled_before")


def parse(value) -> tuple[Audience | None, dict]:
    """The audience an entry names, and its errors (marshmallow's messages, by field)."""
    if not isinstance(value, dict):
        return None, {"_schema": ["must be an object such as {\"tiers\": [\"Gold\"]}"]}
    try:
        return of(AudienceSchema().load(value)), {}
    except ValidationError as exc:
        return None, exc.messages


def of(loaded: dict) -> Audience:
    """The audience of fields AudienceSchema loaded."""
    tiers = loaded.get("tiers")
    return Audience(tiers=None if tiers is None else frozenset(tiers), enrolled_since=loaded.get("enrolled_since"),
                    enrolled_before=loaded.get("enrolled_before"), dormant_days=loaded.get("dormant_days"))
