"""How many points a sale earns, exactly, and how many a refund takes back.

A partner's rules (partners.rules) are compiled once into a `RuleSet`. For a
sale, every rule's award is computed as a Fraction and floored on its own, so
9.99 EUR at 1.5 points/EUR is 14 points, never 14.985 rounded by a float, and
a weekend bonus floors separately from the base it multiplies.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from marshmallow import ValidationError

from partners import audience, validity
from partners.audience import Audience, Member
from partners.errors import flatten_errors
from partners.money import decimals
from partners.rules import Award, EarningRule, Line, SaleContext
from partners.transactions import Sale
from partners.validity import Validity


class InvalidRules(ValueError):
    """A partner's rules name an unknown rule or a bad parameter."""

    def __init__(self, fields: dict[str, list[str]]):
        super().__init__("The earning rules are invalid")
        self.fields = fields


@dataclass(frozen=True)
class RuleSet:
    """A partner's rules, validated and ready: (rule, parameters) in the partner's order, each with its campaign's
    window (partners.validity) and audience (partners.audience)."""

    rules: tuple[tuple[EarningRule, Mapping[str, Any]], ...]
    #: Each rule's window, None for always; empty: no rule has one.
    windows: tuple[Validity | None, ...] = ()
    #: Each rule's audience, None for everyone; empty: no rule has one.
    audiences: tuple[Audience | None, ...] = ()

    def stage(self, stage: str, at: datetime | None = None,
              member: Member | None = None) -> list[tuple[EarningRule, Mapping[str, Any], str]]:
        """The rules of one stage with their parameters and description (worked out once per rule set); with `at`
        (a local time in the partner's zone), only those in force then, and for `member` (None: unknown yet)."""
        if at is None or not (self.windows or self.audiences):
            return self._always.get(stage, [])
        return [(rule, params, detail) for rule, params, detail, window, audience in self._stages.get(stage, [])
                if (window is None or window.holds(at)) and (audience is None or audience.admits(member, at))]

    @functools.cached_property
    def _always(self) -> dict[str, list[tuple[EarningRule, Mapping[str, Any], str]]]:
        """The stages without windows and audiences: what a sale reads of rules that have none, as it always did."""
        return {stage: [(rule, params, detail) for rule, params, detail, *_ in found]
                for stage, found in self._stages.items()}

    @functools.cached_property
    def _stages(self) -> dict[str, list[tuple]]:
        stages: dict[str, list] = {}
        for (rule, params), window, who in zip(self.rules, self._windows, self._audiences):
            stages.setdefault(rule.stage, []).append((rule, params, rule.describe(params), window, who))
        return stages

    @property
    def _windows(self) -> tuple:
        return self.windows or (None,) * len(self.rules)

    @property
    def _audiences(self) -> tuple:
        return self.audiences or (None,) * len(self.rules)

    def event(self, name: str, at: datetime | None = None) -> Mapping[str, Any] | None:
        """The parameters of the event rule `name` (welcome_bonus, referral) in force at `at`, if the partner has it."""
        return next(iter(self.events(name, at)), None)

    def events(self, name: str, at: datetime | None = None) -> list[Mapping[str, Any]]:
        """An event's rules in force at `at`; an event rule has no audience (refused when the rules are set)."""
        return [params for (rule, params), window in zip(self.rules, self._windows)
                if rule.name == name and (at is None or window is None or window.holds(at))]


def earn_rate_rules(earn_rate: str) -> list[dict]:
    """`earn_rate` is shorthand for a single base rate."""
    return [{"rule": "base_rate", "rate": str(earn_rate)}]


def compile_rules(registry: Mapping[str, EarningRule], raw: Sequence[Mapping[str, Any]]) -> RuleSet:
    """Validate a partner's rules with each rule's own schema.

    Errors name the entry and field, as a retailer's developer reads them:
    ``rules.1.rate``, ``rules.2.rule``.
    """
    if not isinstance(raw, (list, tuple)):
        raise InvalidRules({"rules": ["must be a list of rules"]})
    errors: dict[str, list[str]] = {}
    compiled, windows, audiences = [], [], []
    for index, entry in enumerate(raw):
        where = f"rules.{index}"
        if not isinstance(entry, Mapping):
            errors[where] = ["must be an object with a `rule` name"]
            continue
        name = entry.get("rule")
        rule = registry.get(name) if isinstance(name, str) else None
        if rule is None:
            known = ", ".join(sorted(registry))
            errors[f"{where}.rule"] = [f"unknown rule {name!r}; known rules: {known}"]
            continue
        params = {key: value for key, value in entry.items() if key not in ("rule", audience.KEY, *validity.KEYS)}
        window, wrong = validity.parse(entry)
        errors.update({f"{where}.{key}": messages for key, messages in wrong.items()})
        who, wrong = (None, {}) if audience.KEY not in entry else audience.parse(entry[audience.KEY])
        errors.update(flatten_errors(wrong, f"{where}.{audience.KEY}"))
        if who is not None and rule.stage == "event":
            errors[f"{where}.{audience.KEY}"] = ["an event rule (welcome_bonus, referral, action) has no audience"]
        try:
            compiled.append((rule, rule.schema().load(params)))
            windows.append(window)
            audiences.append(who)
        except ValidationError as exc:
            errors.update(flatten_errors(exc.messages, where))
    if errors:
        raise InvalidRules(errors)
    return RuleSet(tuple(compiled), tuple(windows) if any(w is not None for w in windows) else (),
                   tuple(audiences) if any(a is not None for a in audiences) else ())


def sale_context(sale: Sale, timezone: str) -> SaleContext:
    total = Fraction(sale.total.minor, 10 ** decimals(sale.total.currency))
    priced = [(item, Fraction(item.quantity) * Fraction(item.unit_price.minor, 10 ** decimals(item.unit_price.currency)))
              for item in sale.items]
    listed = sum((price for _, price in priced), Fraction(0))
    if listed > 0:
        lines = tuple(Line(item, price * total / listed) for item, price in priced)
    else:
        lines = (Line(None, total),)
    local = sale.occurred_at.astimezone(ZoneInfo(timezone))
    return SaleContext(sale=sale, local_time=local, lines=lines)


def awards_for_sale(rules: RuleSet, sale: Sale, timezone: str, member: Member | None = None) -> list[Award]:
    """The awards a sale earns, in the partner's order of rules, each floored on its own.

    `member`: what the hub knows of the buyer, for rules with an audience; unknown (None), they do not count.
    """
    if sale.total.minor == 0:  # nothing a refund could ever take back in proportion
        return []
    context = sale_context(sale, timezone)
    at = context.local_time  # a campaign's rule counts only inside its window (partners.validity)
    if not all(rule.admits(params, context) for rule, params, _ in rules.stage("gate", at, member)):
        return []
    base_lines = [Fraction(0)] * len(context.lines)
    awards: list[Award] = []
    for rule, params, detail in rules.stage("base", at, member):
        exact = [_exact(rule, value) for value in rule.base(params, context)]
        if len(exact) != len(base_lines):
            raise RuleError(f"rule {rule.name!r} gave {len(exact)} base values for {len(base_lines)} lines")
        base_lines = [a + b for a, b in zip(base_lines, exact)]
        awards.append(Award(rule.name, math.floor(sum(exact, Fraction(0))), detail))
    context = SaleContext(context.sale, context.local_time, context.lines, tuple(base_lines))
    for rule, params, detail in rules.stage("bonus", at, member):
        awards.append(Award(rule.name, math.floor(_exact(rule, rule.bonus(params, context))), detail))
    awards = [award for award in awards if award.points > 0]
    for rule, params, _ in rules.stage("limit", at, member):
        awards = [award for award in rule.limit(params, context, awards) if award.points > 0]
    return awards


class RuleError(RuntimeError):
    """A rule plugin broke the contract (a float, a wrong count): a bug in the plugin, never the partner's fault."""


def _exact(rule: EarningRule, value) -> Fraction:
    """Points are decided exactly: a rule returns an int or a Fraction, never a float."""
    if isinstance(value, bool) or not isinstance(value, (int, Fraction)):
        raise RuleError(f"rule {rule.name!r} returned {type(value).__name__} {value!r}; return an int or a Fraction")
    return Fraction(value)


def clawback_for(sale_points: int, sale_total: int, refunded_before: int, refunded_now: int) -> int:
    """Points to take back for a refund of `refunded_now` minor units.

    Computed on the cumulative refunded share and differenced, so each refund
    is floored (the member keeps a fraction of a point) yet a sale refunded in
    full in any number of parts gives back exactly the points it earned.
    """
    if sale_total == 0:
        return 0
    before = sale_points * refunded_before // sale_total
    after = sale_points * (refunded_before + refunded_now) // sale_total
    return after - before


def clawback_awards(awards: Sequence[Award], sale_total: int, refunded_before: int, refunded_now: int) -> list[Award]:
    """A refund takes back each award of the refunded share, rule by rule (as positive points)."""
    back = [
        Award(award.rule, clawback_for(award.points, sale_total, refunded_before, refunded_now), award.detail)
        for award in awards
    ]
    return [award for award in back if award.points > 0]


def local_day_bounds(moment: datetime, timezone: str) -> tuple[datetime, datetime]:
    """The partner-local calendar day around `moment`, as aware bounds (midnight to midnight, DST included)."""
    zone = ZoneInfo(timezone)
    day = moment.astimezone(zone).date()
    start = datetime.combine(day, time(), zone)
    return start, datetime.combine(day + timedelta(days=1), time(), zone)
