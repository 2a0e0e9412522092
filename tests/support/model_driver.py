"""The driver that moves the hub and the model of the ledger (tests/support/model.py) in step over HTTP."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from network.ledger.invariants import violations
from tests.support.hub import HubClient
from tests.support.ledger import snapshot
from tests.support.model import NETWORK, Contract, Member, Model, cents, expected_sections


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
            response = self.hub.call("PUT", f"/v1/partners/{slug}/contract", json={  # from now: the past is closed
                "issue_fee": str(contract.issue_fee), "redeem_rate": str(contract.redeem_rate),
                "effective_from": self.now().isoformat()})
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
