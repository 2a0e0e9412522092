"""An in-memory model of the ledger; tests/support/model_driver.py moves the hub and it in step over HTTP.

The model is written from README.md's rules, not from the hub's code: where
the two differ the model says what the hub should do. Known places where it
deliberately disagrees with the hub of 2026-12-01 (issue 11):

- a refund takes the sale's own points first, wherever a merge moved them
  (every lot descended from the sale's lot, not only the first one found);
- points given back to a member who was merged into one since deleted (a
  reversal) are forfeited, as that member's others were;
- a hold past its `expires_at` is released by server time in every answer
  (a sale's too) and in the member's export.

Lots are taken oldest expiry first, then in the order they were opened,
which is the hub's lot id order: the model numbers lots as the hub opens
them (a sale, a credit, one per lot a merge moves), so ties break alike.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

LIFETIME = timedelta(days=730)
NETWORK = None  # the issuer of the operator's credits


@dataclass
class Lot:
    seq: int
    owner: str
    issuer: str | None
    expires_at: datetime
    remaining: int
    root: int  # the lot it descends from through merges (its own seq if none): a sale's own points


@dataclass
class Member:
    id: str
    cards: dict[str, bool] = field(default_factory=dict)  # number -> active
    merged_into: str | None = None
    deleted: bool = False

    @property
    def live(self) -> bool:
        return self.merged_into is None and not self.deleted

    def active_cards(self) -> list[str]:
        return [number for number, active in self.cards.items() if active]


@dataclass
class Sale:
    partner: str
    order_id: str
    member: str  # who made it (a merge moves its points, not the order)
    points: int
    total: int  # minor units
    lot: int | None
    refunded: int = 0


@dataclass
class Redemption:
    partner: str
    member: str
    taken: list[tuple[Lot, int]]
    reversed: bool = False


@dataclass
class Hold:
    partner: str
    member: str
    points: int
    taken: list[tuple[Lot, int]]
    expires_at: datetime
    status: str = "authorized"  # authorized, captured, voided, expired


@dataclass
class Figures:
    """What a settlement period over the model's activity must show, by party slug (None: the network)."""

    issued: dict = field(default_factory=lambda: defaultdict(int))
    redeemed: dict = field(default_factory=lambda: defaultdict(int))
    expired: dict = field(default_factory=lambda: defaultdict(int))
    matrix: dict = field(default_factory=lambda: defaultdict(int))  # (issuer, redeemer) -> points


class Model:
    """Balances, lots by issuer and statement figures, as README.md says they move."""

    def __init__(self, rates: dict[str, Decimal]):
        self.rates = rates  # partner slug -> earn rate
        self.members: dict[str, Member] = {}
        self.lots: list[Lot] = []
        self.sales: dict[tuple[str, str], Sale] = {}
        self.redemptions: dict[int, Redemption] = {}
        self.holds: dict[int, Hold] = {}
        self.figures = Figures()
        self._seq = itertools.count(1)

    # ------------------------------------------------------------ reading

    def holder(self, member_id: str) -> Member:
        member = self.members[member_id]
        while member.merged_into is not None:
            member = self.members[member.merged_into]
        return member

    def card_holder(self, number: str) -> Member:
        return next(m for m in self.members.values() if number in m.cards)

    def open_lots(self, member_id: str) -> list[Lot]:
        return sorted((lot for lot in self.lots if lot.owner == member_id and lot.remaining > 0),
                      key=lambda lot: (lot.expires_at, lot.seq))

    def available(self, member_id: str) -> int:
        return sum(lot.remaining for lot in self.open_lots(member_id))

    def held(self, member_id: str) -> int:
        return sum(h.points for h in self.holds.values() if h.member == member_id and h.status == "authorized")

    def balance(self, member_id: str) -> dict:
        return {"available": self.available(member_id), "pending": 0, "held": self.held(member_id)}

    def by_issuer(self, member_id: str) -> dict:
        points: dict = defaultdict(int)
        for lot in self.open_lots(member_id):
            points[lot.issuer] += lot.remaining
        return dict(points)

    # ------------------------------------------------------------ time

    def pass_time(self, now: datetime) -> None:
        """Holds past their time give their points back to their lots, whoever looks."""
        for hold in self.holds.values():
            if hold.status == "authorized" and hold.expires_at <= now:
                for lot, n in hold.taken:
                    lot.remaining += n
                hold.status = "expired"

    # ------------------------------------------------------------ lots

    def open_lot(self, owner: str, issuer: str | None, points: int, expires_at: datetime, root: int | None = None) -> Lot:
        seq = next(self._seq)
        lot = Lot(seq, owner, issuer, expires_at, points, seq if root is None else root)
        self.lots.append(lot)
        return lot

    def take(self, member_id: str, points: int, first: list[Lot] = ()) -> list[tuple[Lot, int]]:
        """Take points from lots (`first` before the others, then oldest expiry first)."""
        taken, left = [], points
        ordered = list(first) + [lot for lot in self.open_lots(member_id) if lot not in first]
        for lot in ordered:
            if left == 0:
                break
            n = min(left, lot.remaining)
            if n:
                lot.remaining -= n
                left -= n
                taken.append((lot, n))
        assert left == 0, "the model took more points than the member has"
        return taken

    def forfeit(self, member_id: str) -> int:
        total = 0
        for lot in self.open_lots(member_id):
            self.figures.expired[lot.issuer] += lot.remaining
            total += lot.remaining
            lot.remaining = 0
        return total

    def move_lots(self, absorbed: str, survivor: str) -> None:
        """A merge (or a reversal to a merged member): open lots re-opened on the survivor, in lot order."""
        for lot in sorted((lot for lot in self.lots if lot.owner == absorbed and lot.remaining > 0), key=lambda lot: lot.seq):
            self.open_lot(survivor, lot.issuer, lot.remaining, lot.expires_at, root=lot.root)
            lot.remaining = 0

    # ------------------------------------------------------------ movements

    def sale(self, partner: str, order_id: str, number: str, total: int, now: datetime) -> dict:
        member = self.card_holder(number)
        if not member.cards[number]:
            return {"status": 422, "code": "card_blocked"}
        points = int(Decimal(total) * self.rates[partner] // 100)
        lot = self.open_lot(member.id, partner, points, now + LIFETIME) if points else None
        self.sales[partner, order_id] = Sale(partner, order_id, member.id, points, total, lot.seq if lot else None)
        self.figures.issued[partner] += points
        return {"status": 201, "member": member.id, "points": points}

    def refund(self, partner: str, original: str, total: int) -> dict:
        sale = self.sales[partner, original]
        if sale.refunded + total > sale.total:
            return {"status": 422, "code": "refund_exceeds_sale"}
        due = sale.points * (sale.refunded + total) // sale.total - sale.points * sale.refunded // sale.total
        sale.refunded += total
        holder = self.holder(sale.member)
        own = [lot for lot in self.open_lots(holder.id) if sale.lot is not None and lot.root == sale.lot]
        taken = self.take(holder.id, min(due, self.available(holder.id)), first=own)
        for lot, n in taken:
            if lot.issuer == partner:
                self.figures.issued[partner] -= n
            else:  # another issuer's points: spent at the refunding partner
                self.figures.matrix[lot.issuer, partner] += n
                self.figures.redeemed[partner] += n
        collected = sum(n for _, n in taken)
        return {"status": 201, "member": holder.id, "points": -collected, "uncollected": due - collected}

    def _spendable(self, number: str, points: int) -> dict | Member:
        member = self.card_holder(number)
        if not member.cards[number]:
            return {"status": 422, "code": "card_blocked"}
        if self.available(member.id) < points:
            return {"status": 422, "code": "insufficient_points"}
        return member

    def redeem(self, partner: str, number: str, points: int) -> dict:
        member = self._spendable(number, points)
        if isinstance(member, dict):
            return member
        taken = self.take(member.id, points)
        self._spent(partner, taken)
        return {"status": 201, "member": member.id, "taken": taken}

    def redeemed(self, redemption_id: int, partner: str, member_id: str, taken) -> None:
        self.redemptions[redemption_id] = Redemption(partner, member_id, taken)

    def _spent(self, partner: str, taken, sign: int = 1) -> None:
        for lot, n in taken:
            self.figures.matrix[lot.issuer, partner] += sign * n
            self.figures.redeemed[partner] += sign * n

    def hold(self, partner: str, number: str, points: int, expires_at: datetime) -> dict:
        member = self._spendable(number, points)
        if isinstance(member, dict):
            return member
        return {"status": 201, "member": member.id, "taken": self.take(member.id, points), "expires_at": expires_at}

    def held_by(self, hold_id: int, partner: str, member_id: str, points: int, taken, expires_at: datetime) -> None:
        self.holds[hold_id] = Hold(partner, member_id, points, taken, expires_at)

    def _hold_refusal(self, hold: Hold) -> dict | None:
        if hold.status != "authorized":
            return {"status": 409, "code": f"hold_{hold.status}"}
        return None

    def capture(self, hold_id: int, points: int) -> dict:
        hold = self.holds[hold_id]
        if refusal := self._hold_refusal(hold):
            return refusal
        if points > hold.points:
            return {"status": 422, "code": "capture_exceeds_hold"}
        for lot, n in hold.taken:
            lot.remaining += n
        hold.status = "captured"
        taken, left = [], points
        for lot, n in hold.taken:  # the capture takes from the held lots, in the hold's order
            m = min(n, left)
            if m:
                lot.remaining -= m
                left -= m
                taken.append((lot, m))
        self._spent(hold.partner, taken)
        return {"status": 201, "member": hold.member, "taken": taken}

    def void(self, hold_id: int) -> dict:
        hold = self.holds[hold_id]
        if refusal := self._hold_refusal(hold):
            return refusal
        for lot, n in hold.taken:
            lot.remaining += n
        hold.status = "voided"
        return {"status": 200, "member": hold.member}

    def reverse(self, redemption_id: int) -> dict:
        redemption = self.redemptions[redemption_id]
        if redemption.reversed:
            return {"status": 409, "code": "already_reversed"}
        redemption.reversed = True
        for lot, n in redemption.taken:
            lot.remaining += n
        self._spent(redemption.partner, redemption.taken, sign=-1)
        owner, holder = self.members[redemption.member], self.holder(redemption.member)
        if holder.deleted:  # given back to a member now gone (itself, or the one it was merged into): forfeited
            self.forfeit(owner.id)
        elif holder.id != owner.id:
            self.move_lots(owner.id, holder.id)
        return {"status": 201, "member": holder.id}

    def adjust(self, member_id: str, points: int, now: datetime) -> dict:
        member = self.members[member_id]
        if member.merged_into is not None:
            return {"status": 410, "code": "member_merged"}
        if member.deleted:
            return {"status": 410, "code": "member_deleted"}
        if points > 0:
            self.open_lot(member_id, NETWORK, points, now + LIFETIME)
            self.figures.issued[NETWORK] += points
        else:
            if self.available(member_id) < -points:
                return {"status": 422, "code": "insufficient_points"}
            for lot, n in self.take(member_id, -points):
                self.figures.expired[lot.issuer] += n
        return {"status": 201, "member": member_id}

    def replace_card(self, member_id: str, old: str, new: str) -> None:
        member = self.members[member_id]
        member.cards[old] = False
        member.cards[new] = True

    def closed_refusal(self, member_id: str) -> dict | None:
        member = self.members[member_id]
        if member.merged_into is not None:
            return {"status": 410, "code": "member_merged"}
        if member.deleted:
            return {"status": 410, "code": "member_deleted"}
        return None

    def merge(self, survivor_id: str, absorbed_id: str) -> dict:
        for member_id in (survivor_id, absorbed_id):
            if refusal := self.closed_refusal(member_id):
                return refusal
        if self.held(absorbed_id):
            return {"status": 409, "code": "member_has_holds"}
        self.move_lots(absorbed_id, survivor_id)
        survivor, absorbed = self.members[survivor_id], self.members[absorbed_id]
        survivor.cards.update(absorbed.cards)
        absorbed.cards = {}
        absorbed.merged_into = survivor_id
        return {"status": 200, "member": survivor_id}

    def delete(self, member_id: str) -> dict:
        if refusal := self.closed_refusal(member_id):
            return refusal
        if self.held(member_id):
            return {"status": 409, "code": "member_has_holds"}
        self.forfeit(member_id)
        member = self.members[member_id]
        member.cards = dict.fromkeys(member.cards, False)
        member.deleted = True
        return {"status": 200, "member": member_id}

    def outstanding(self) -> dict:
        """Points members hold by issuer: open lots and held points (still theirs until captured)."""
        points: dict = defaultdict(int)
        for lot in self.lots:
            points[lot.issuer] += lot.remaining
        for hold in self.holds.values():
            if hold.status == "authorized":
                for lot, n in hold.taken:
                    points[lot.issuer] += n
        return points


# ---------------------------------------------------------------- settlement arithmetic


def amount(points: int, rate: Decimal) -> int:
    """points x rate in cents, rounded half to even once (as the statement values each pair)."""
    return int((Decimal(points) * rate * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def cents(minor: int) -> str:
    sign = "-" if minor < 0 else ""
    return f"{sign}{abs(minor) // 100}.{abs(minor) % 100:02d}"


@dataclass(frozen=True)
class Contract:
    issue_fee: Decimal
    redeem_rate: Decimal


def expected_sections(figures: Figures, contracts: dict[str, Contract]) -> dict:
    """Each partner's issued, redeemed, expired, fee and net as the statement must show them."""
    obligations: dict = defaultdict(int)
    for (issuer, redeemer), points in figures.matrix.items():
        if issuer != redeemer:
            obligations[issuer, redeemer] += amount(points, contracts[redeemer].redeem_rate)
    fees = {slug: amount(figures.issued.get(slug, 0), c.issue_fee) for slug, c in contracts.items()}
    sections = {}
    for slug in contracts:
        owed_to = sum(a for (_, j), a in obligations.items() if j == slug)
        owed_by = sum(a for (i, _), a in obligations.items() if i == slug)
        sections[slug] = {"issued": figures.issued.get(slug, 0), "redeemed": figures.redeemed.get(slug, 0),
                          "expired": figures.expired.get(slug, 0), "fee": cents(fees[slug]),
                          "net": cents(owed_to - owed_by - fees[slug])}
    network_net = sum(fees.values()) - sum(a for (i, _), a in obligations.items() if i is NETWORK)
    sections["network"] = {"issued": figures.issued.get(NETWORK, 0), "expired": figures.expired.get(NETWORK, 0),
                           "fees": cents(sum(fees.values())), "net": cents(network_net)}
    return sections
