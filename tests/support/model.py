"""An in-memory model of the ledger, and a driver that moves the hub and the model in step over HTTP.

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

from network.ledger.invariants import violations
from tests.support.hub import HubClient
from tests.support.ledger import snapshot

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


# ---------------------------------------------------------------- the driver


class Divergence(AssertionError):
    """The hub and the model disagree."""


class Driver:
    """Drives the hub through its HTTP API as tills and the operator do, and the model beside it.

    Every write carries an Idempotency-Key and is compared with what the
    model predicts (status, error code, points and balance in the answer);
    `check` compares every member's balance, lots by issuer and export.
    """

    PARTNERS = (("alpha", "1", Contract(Decimal("0.004"), Decimal("0.008"))),
                ("beta", "1", Contract(Decimal("0.003"), Decimal("0.01"))),
                ("gamma", "0.5", Contract(Decimal("0.005"), Decimal("0.012"))))

    def __init__(self, client, admin_token: str, database, clock, tag: str):
        self.hub = HubClient(client, admin_token)
        self.database, self.clock, self.tag = database, clock, tag
        self.keys: dict[str, str] = {}
        self.contracts: dict[str, Contract] = {}
        self.model = Model({})
        self.broken = False
        self.last_write = None
        self._ids = itertools.count(1)
        self._turn = itertools.count()
        self.touched: set[str] = set()
        self.log: list[str] = []

    # ------------------------------------------------------------ plumbing

    def fail(self, message: str):
        self.broken = True
        raise Divergence(message + "\nsteps:\n  " + "\n  ".join(self.log))

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            self.fail(message)

    def key(self) -> str:
        return f"{self.tag}-{next(self._ids)}"

    def write(self, method: str, path: str, key: str | None = None, json=None):
        headers = {"Idempotency-Key": self.key()}
        response = self.hub.call(method, path, key, headers=headers, json=json)
        self.expect(response.status_code < 500, f"{method} {path} {json}: {response.status_code} {response.get_data(as_text=True)}")
        self.last_write = (method, path, key, headers, json, response.status_code, response.get_json())
        return response

    def answer(self, what: str, response, predicted: dict) -> dict:
        """The hub's answer must have the predicted status (and error code); returns its JSON."""
        if "member" in predicted:
            self.touched.add(predicted["member"])
        body = response.get_json()
        got = (response.status_code, body.get("error", {}).get("code") if isinstance(body, dict) else None)
        want = (predicted["status"], predicted.get("code"))
        self.expect(got == want, f"{what}: the hub answered {got}, the model {want}: {body}")
        return body

    def same_balance(self, what: str, shown: dict, member_id: str) -> None:
        want = self.model.balance(member_id)
        self.expect(shown == want, f"{what}: the answer shows {shown}, the model {want} for {member_id}")

    def now(self) -> datetime:
        return self.clock.now

    # ------------------------------------------------------------ scene

    def setup(self, members: int = 3) -> None:
        """Three partners (one a different earn rate each) with contracts, and a few members."""
        self.close_period()  # whatever an earlier example left belongs to a period before this one
        for name, rate, contract in self.PARTNERS:
            slug = f"{name}-{self.tag}"
            self.keys[slug] = self.hub.create_partner(slug, earn_rate=rate)
            response = self.hub.call("PUT", f"/v1/partners/{slug}/contract", json={
                "issue_fee": str(contract.issue_fee), "redeem_rate": str(contract.redeem_rate),
                "effective_from": "2026-01-01T00:00:00Z"})
            assert response.status_code in (200, 201), response.get_json()
            self.contracts[slug] = contract
            self.model.rates[slug] = Decimal(rate)
        for _ in range(members):
            self.enrol()

    @property
    def slugs(self) -> list[str]:
        return list(self.keys)

    def slug(self, name: str) -> str:
        return f"{name}-{self.tag}"

    def enrol(self) -> str:
        partner = self.slugs[0]
        member_id, card = self.hub.enrol(self.keys[partner], email=f"m{next(self._ids)}@example.com")
        self.model.members[member_id] = Member(member_id, {card: True})
        self.log.append(f"enrol -> {member_id}")
        return member_id

    def card_of(self, member_id: str) -> str:
        """The member's newest card (blocked if the member is gone): what a till would be handed."""
        member = self.model.members[member_id]
        active = member.active_cards()
        return active[-1] if active else list(member.cards or self.model.holder(member_id).cards)[-1]

    # ------------------------------------------------------------ movements

    def sale(self, partner: str, member_id: str, total: int) -> str:
        order = f"S-{self.key()}"
        card = self.card_of(member_id)
        self.log.append(f"sale {partner} {order} {cents(total)} to {member_id}")
        predicted = self.model.sale(partner, order, card, total, self.now())
        response = self.write("POST", "/v1/transactions", self.keys[partner], json={
            "type": "sale", "order_id": order, "card_number": card, "occurred_at": self.now().isoformat(),
            "currency": "EUR", "total": cents(total)})
        body = self.answer(f"sale {order}", response, predicted)
        if predicted["status"] == 201:
            self.expect(body["points"] == predicted["points"], f"sale {order}: {body['points']} points, the model {predicted['points']}")
            self.same_balance(f"sale {order}", body["balance"], predicted["member"])
        return order

    def refund(self, partner: str, original: str, total: int) -> None:
        order = f"R-{self.key()}"
        self.log.append(f"refund {partner} {original} {cents(total)}")
        predicted = self.model.refund(partner, original, total)
        response = self.write("POST", "/v1/transactions", self.keys[partner], json={
            "type": "refund", "order_id": order, "original_order_id": original, "occurred_at": self.now().isoformat(),
            "currency": "EUR", "total": cents(total)})
        body = self.answer(f"refund {order}", response, predicted)
        if predicted["status"] == 201:
            self.expect((body["points"], body.get("uncollected_points", 0)) == (predicted["points"], predicted["uncollected"]),
                        f"refund {order}: {body}, the model {predicted}")
            self.same_balance(f"refund {order}", body["balance"], predicted["member"])

    def redeem(self, partner: str, member_id: str, points: int) -> int | None:
        card = self.card_of(member_id)
        self.log.append(f"redeem {points} at {partner} by {member_id}")
        predicted = self.model.redeem(partner, card, points)
        response = self.write("POST", "/v1/redemptions", self.keys[partner],
                              json={"card_number": card, "points": points, "order_id": f"X-{self.key()}"})
        body = self.answer("redemption", response, predicted)
        if predicted["status"] != 201:
            return None
        self.model.redeemed(body["redemption_id"], partner, predicted["member"], predicted["taken"])
        self.same_balance("redemption", body["balance"], predicted["member"])
        self.same_provenance("redemption", body["provenance"], predicted["taken"])
        self.log[-1] += f" -> redemption {body['redemption_id']}"
        return body["redemption_id"]

    def same_provenance(self, what: str, shown: list, taken) -> None:
        want: dict = defaultdict(int)
        for lot, n in taken:
            want[lot.issuer or "network"] += n
        got = {p["issuer"]: p["points"] for p in shown}
        self.expect(got == dict(want), f"{what}: provenance {got}, the model {dict(want)}")

    def hold(self, partner: str, member_id: str, points: int, seconds: int) -> int | None:
        card = self.card_of(member_id)
        self.log.append(f"hold {points} at {partner} by {member_id} for {seconds} s")
        predicted = self.model.hold(partner, card, points, self.now() + timedelta(seconds=seconds))
        response = self.write("POST", "/v1/redemptions", self.keys[partner], json={
            "card_number": card, "points": points, "order_id": f"H-{self.key()}", "capture": False, "hold_seconds": seconds})
        body = self.answer("hold", response, predicted)
        if predicted["status"] != 201:
            return None
        self.model.held_by(body["redemption_id"], partner, predicted["member"], points, predicted["taken"],
                           predicted["expires_at"])
        self.same_balance("hold", body["balance"], predicted["member"])
        self.log[-1] += f" -> hold {body['redemption_id']}"
        return body["redemption_id"]

    def capture(self, hold_id: int, points: int) -> None:
        hold = self.model.holds[hold_id]
        self.log.append(f"capture {points} of hold {hold_id}")
        predicted = self.model.capture(hold_id, points)
        response = self.write("POST", f"/v1/redemptions/{hold_id}/capture", self.keys[hold.partner], json={"points": points})
        body = self.answer(f"capture of {hold_id}", response, predicted)
        if predicted["status"] == 201:
            self.model.redeemed(body["capture_id"], hold.partner, hold.member, predicted["taken"])
            self.same_balance(f"capture of {hold_id}", body["balance"], hold.member)
            self.log[-1] += f" -> redemption {body['capture_id']}"

    def void(self, hold_id: int) -> None:
        hold = self.model.holds[hold_id]
        self.log.append(f"void hold {hold_id}")
        predicted = self.model.void(hold_id)
        response = self.write("POST", f"/v1/redemptions/{hold_id}/void", self.keys[hold.partner])
        body = self.answer(f"void of {hold_id}", response, predicted)
        if predicted["status"] == 200:
            self.same_balance(f"void of {hold_id}", body["balance"], hold.member)

    def reverse(self, redemption_id: int) -> None:
        redemption = self.model.redemptions[redemption_id]
        self.touched.add(redemption.member)
        self.log.append(f"reverse redemption {redemption_id} at {redemption.partner}")
        predicted = self.model.reverse(redemption_id)
        response = self.write("POST", f"/v1/redemptions/{redemption_id}/reversal", self.keys[redemption.partner])
        body = self.answer(f"reversal of {redemption_id}", response, predicted)
        if predicted["status"] == 201:
            self.same_balance(f"reversal of {redemption_id}", body["balance"], predicted["member"])

    def adjust(self, member_id: str, points: int) -> None:
        self.log.append(f"adjust {member_id} by {points}")
        predicted = self.model.adjust(member_id, points, self.now())
        response = self.write("POST", f"/v1/members/{member_id}/adjustments", json={"points": points, "reason": "model"})
        body = self.answer("adjustment", response, predicted)
        if predicted["status"] == 201:
            self.same_balance("adjustment", body["balance"], member_id)

    def replace_card(self, member_id: str) -> None:
        self.log.append(f"replace the card of {member_id}")
        member = self.model.members[member_id]
        old = self.card_of(member_id)
        refusal = self.model.closed_refusal(member_id)
        response = self.write("POST", f"/v1/members/{member_id}/cards", json={"replaces": old})
        body = self.answer("card replacement", response, refusal or {"status": 201})
        if refusal is None:
            self.model.replace_card(member_id, old, body["card_number"])
            statuses = {card["number"]: card["status"] for card in body["cards"]}
            want = {number: "active" if active else "blocked" for number, active in member.cards.items()}
            self.expect(statuses == want, f"card replacement: cards {statuses}, the model {want}")

    def merge(self, survivor_id: str, absorbed_id: str) -> None:
        self.log.append(f"merge {absorbed_id} into {survivor_id}")
        self.touched |= {survivor_id, absorbed_id}
        predicted = self.model.merge(survivor_id, absorbed_id)
        response = self.write("POST", f"/v1/members/{survivor_id}/merge", json={"member_id": absorbed_id})
        body = self.answer("merge", response, predicted)
        if predicted["status"] == 200:
            self.same_balance("merge", body["balance"], survivor_id)

    def delete(self, member_id: str) -> None:
        self.log.append(f"delete {member_id}")
        self.touched.add(member_id)
        predicted = self.model.delete(member_id)
        response = self.write("DELETE", f"/v1/members/{member_id}")
        self.answer("deletion", response, predicted)

    def advance(self, seconds: int) -> None:
        self.log.append(f"advance the clock {seconds} s")
        self.clock.advance(seconds=seconds)
        self.model.pass_time(self.now())

    def replay(self) -> None:
        """The last write again, same key and body: the same answer, and nothing booked."""
        if self.last_write is None:
            return
        method, path, key, headers, json, status, body = self.last_write
        self.log.append(f"replay {method} {path}")
        before = snapshot(self.database)
        response = self.hub.call(method, path, key, headers=headers, json=json)
        self.expect((response.status_code, response.get_json()) == (status, body),
                    f"replay of {method} {path}: {response.status_code} {response.get_json()}, first {status} {body}")
        self.expect(response.headers.get("Idempotent-Replayed") == "true", f"replay of {method} {path}: not marked replayed")
        self.expect(snapshot(self.database) == before, f"replay of {method} {path} changed the ledger")

    # ------------------------------------------------------------ checks

    def check_balances(self, everyone: bool = True) -> None:
        """Members' balances as the operator reads them; closed members answer 410.

        `everyone=False`: the members the last steps touched and one other in
        turn (a read costs a few milliseconds; every member after every step
        would be most of the test's time).
        """
        members = list(self.model.members.values())
        if not everyone and members:
            rest = members[next(self._turn) % len(members)]
            members = [m for m in members if m.id in self.touched or m is rest]
        self.touched = set()
        for member in members:
            response = self.hub.call("GET", f"/v1/members/{member.id}")
            if member.live:
                self.expect(response.status_code == 200, f"GET member {member.id}: {response.status_code}")
                self.same_balance(f"balance of {member.id}", response.get_json()["balance"], member.id)
            else:
                self.expect(response.status_code == 410, f"GET closed member {member.id}: {response.status_code}")

    def check_export(self, member_id: str) -> None:
        """The export's balance and its open lots by issuer, expired holds released in both."""
        self.log.append(f"export {member_id}")
        response = self.hub.call("GET", f"/v1/members/{member_id}/export")
        self.expect(response.status_code == 200, f"export of {member_id}: {response.status_code}")
        export = response.get_json()
        self.same_balance(f"export of {member_id}", export["balance"], member_id)
        lots: dict = defaultdict(int)
        for lot in export["lots"]:
            if lot["remaining"]:
                lots[lot["issuer"]] += lot["remaining"]
        want = {issuer or "network": points for issuer, points in self.model.by_issuer(member_id).items() if points}
        self.expect(dict(lots) == want, f"export of {member_id}: open lots by issuer {dict(lots)}, the model {want}")

    def check_ledger(self) -> None:
        with self.database.session() as session:
            broken = violations(session)
        self.expect(not broken, f"ledger invariants broken: {broken}")

    def close_period(self) -> dict:
        """Close the settlement period up to a grace time ago, the clock moved past this example's bookings."""
        self.clock.advance(seconds=120)
        end = self.now() - timedelta(seconds=60)
        response = self.hub.call("POST", "/v1/settlement/runs", headers={"Idempotency-Key": self.key()},
                                 json={"end": end.isoformat()})
        assert response.status_code == 201, response.get_json()
        statement = response.get_json()["statement"]
        self.network_outstanding = next(s for s in statement["partners"] if s["partner"] == "network")["outstanding"]
        return statement

    def check_settlement(self) -> None:
        """A settlement run over the example's period: every figure of its partners and the network's."""
        baseline = self.network_outstanding
        self.log.append("settlement run")
        statement = self.close_period()
        want = expected_sections(self.model.figures, self.contracts)
        outstanding = self.model.outstanding()
        for slug in self.slugs:
            want[slug]["outstanding"] = outstanding.get(slug, 0)
        want["network"]["outstanding"] = baseline + outstanding.get(NETWORK, 0)
        got = {}
        for section in statement["partners"]:
            if section["partner"] in want:
                got[section["partner"]] = {k: section[k] for k in want[section["partner"]]}
        self.expect(got == want, f"settlement: the statement shows {got}, the model {want}")
        mine = set(self.slugs) | {"network"}
        cells = {(c["issuer"], c["redeemer"]): c["points"] for c in statement["matrix"]
                 if c["issuer"] in mine and c["redeemer"] in mine}
        model_cells = {(i or "network", j): n for (i, j), n in self.model.figures.matrix.items() if n}
        self.expect(cells == model_cells, f"settlement: matrix {cells}, the model {model_cells}")
