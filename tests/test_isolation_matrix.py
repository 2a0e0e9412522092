"""Who may call what: every route of the URL map, as the operator, partner A, partner B and no one, in one table.

Partner A (`alpha`) owns what the paths name: a member it enrolled and that
member's card, its own slug, its reward, its holds and redemptions, its
section of a closed statement. Partner B (`beta`) is another partner: where
a route is about A's things, B gets 403 (operator-only routes, another
partner's slug) or 404 (A's holds and redemptions, A's member's cards) and
never a byte of A's secrets or its member's personal data. No token is 401.
Where the network is shared by design (a member's card spends at every
partner, any till reads any catalogue), B's 200 is in the table and the
comment says why; what B then sees is checked to hold none of A's.

The table is keyed by the app's own URL map: a route added without a row,
or a row left for a route that went, fails the test. One app and one world
per backend, every cell a real request with a valid body, so a refusal is
the role or the owner's, never a validation error that comes first.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from network.api.docs import VERSION
from settlement.signing import b64url_encode
from tests.support.failed_deliveries import failed_delivery
from tests.support.hub import HubClient, order_id
from tests.support.page_routes import PAGES
from tests.support.people import token_for

#: The order cells run in: the owner's writes come last. `operator` is the bootstrap token (an admin); `finance`
#: and `support` are staff; `a_staff` and `a_admin` are partner A's people; `partner_a`/`partner_b` the partners' keys.
WHO = ("no_token", "partner_b", "a_staff", "finance", "support", "partner_a", "a_admin", "operator")
STAFF_COLUMNS = {"operator": "admin", "finance": "finance", "support": "support"}
PARTNER_COLUMNS = {"partner_a": "key", "a_admin": "admin", "a_staff": "staff"}
WEBHOOK_SECRET = "alpha-webhook-secret-0123456789"
EMAIL, NAME = "ann.isolated@example.com", "Ann Isolated"
_unique = itertools.count(1)
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Scene:
    hub: HubClient
    clock: object
    keys: dict[str, str | None]
    member: str
    card: str
    hold: int
    sku: str
    sequence: int
    signing_key: Ed25519PrivateKey
    public_key: str
    merged: str = ""  # the member the merge cell merges, made by its params
    cards_of_a: list[str] = field(default_factory=list)  # every card of a member A enrolled

    def fresh_member(self) -> tuple[str, str]:
        """A member of A's, with points, for a cell that ends one (merged, deleted) or blocks its card."""
        member, card = self.hub.enrol(self.keys["partner_a"])
        self.cards_of_a.append(card)
        assert self.hub.sale(self.keys["partner_a"], card, "50.00").status_code == 201
        return member, card

    def fresh_hold(self) -> int:
        made = self.hub.call("POST", "/v1/redemptions", self.keys["partner_a"],
                             json={"card_number": self.card, "points": 2, "order_id": order_id("H"), "capture": False})
        assert made.status_code == 201, made.json
        return made.json["redemption_id"]

    def fresh_redemption(self) -> int:
        made = self.hub.redeem(self.keys["partner_a"], self.card, 2)
        assert made.status_code == 201, made.json
        return made.json["redemption_id"]

    def fresh_key(self) -> int:
        made = self.hub.call("POST", "/v1/partners/alpha/api-keys", json={"name": unique("spare")})
        assert made.status_code == 201, made.json
        return made.json["id"]

    def fresh_user(self) -> int:
        made = self.hub.call("POST", "/v1/partners/alpha/users", json={"email": f"{unique('x')}@alpha.example",
                                                                       "role": "partner_staff"})
        assert made.status_code == 201, made.json
        return made.json["id"]

    def fresh_alias(self) -> str:
        """One of A's aliases, for its own card."""
        alias = unique("A-ALIAS")
        made = self.hub.call("PUT", f"/v1/card-aliases/{alias}", self.keys["partner_a"], json={"card_number": self.card})
        assert made.status_code == 200, made.json
        return alias

    def put_webhook(self) -> None:
        put = self.hub.call("PUT", "/v1/partners/alpha/webhook", json={"url": "http://127.0.0.1:9/alpha", "secret": WEBHOOK_SECRET})
        assert put.status_code == 200, put.json

    def secrets_of_a(self) -> list[str]:
        return [self.keys["partner_a"], WEBHOOK_SECRET, EMAIL, NAME]


def build(hub: HubClient, app, clock) -> Scene:
    app.config["COALITION_WEBHOOK_PRIVATE_NETWORKS"] = True  # the webhook points at this machine
    alpha, beta = hub.create_partner("alpha"), hub.create_partner("beta")
    hub.create_partner("food-bank", kind="charity")
    for slug in ("alpha", "beta", "food-bank"):
        assert hub.call("PUT", f"/v1/partners/{slug}/contract", json={
            "issue_fee": "0.002", "redeem_rate": "0.010", "effective_from": (clock.now - timedelta(days=1)).isoformat()}
        ).status_code == 201
    member, card = hub.enrol(alpha, email=EMAIL, name=NAME)
    assert hub.sale(alpha, card, "900.00").status_code == 201
    assert hub.call("POST", "/v1/partners/alpha/rewards", alpha, json={"sku": "MUG", "name": "A mug", "points": 5}).status_code == 201
    signing_key = Ed25519PrivateKey.generate()
    public_key = b64url_encode(signing_key.public_key().public_bytes_raw())
    assert hub.call("PUT", "/v1/partners/alpha/public-key", alpha, json={"public_key": public_key}).status_code == 200
    clock.advance(hours=1)
    closed = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=30)).isoformat()})
    assert closed.status_code == 201, closed.json
    keys = {"operator": None, "partner_a": alpha, "partner_b": beta, "no_token": "absent",
            "finance": token_for(app, "fiona@operator.example", "finance"),
            "support": token_for(app, "sam@operator.example", "support"),
            "a_admin": token_for(app, "ada@alpha.example", "partner_admin", "alpha"),
            "a_staff": token_for(app, "stan@alpha.example", "partner_staff", "alpha")}
    scene = Scene(hub, clock, keys, member, card, 0, "MUG", closed.json["statement"]["sequence"], signing_key, public_key)
    scene.cards_of_a.append(card)
    scene.hold = scene.fresh_hold()
    scene.put_webhook()
    return scene


# ---------------------------------------------------------------- the table

Body = Callable[[Scene, str], dict]


@dataclass(frozen=True)
class Cell:
    """Expected statuses as (operator, partner A, partner B, no token), and how to make a valid request."""

    operator: int
    partner_a: int
    partner_b: int
    no_token: int = 401
    body: Body | None = None          # keyword arguments of the test client's open(): json=, data=, content_type=
    params: Callable[[Scene, str], dict] | None = None  # path values other than the scene's defaults; may set things up
    query: str = ""
    why: str = ""
    #: Where a role's answer is not the one its side's (the bootstrap admin's, A's key's) would be.
    overrides: dict[str, int] = field(default_factory=dict)

    def expected(self, who: str, roles: str) -> int:
        """The cell's status for `who`: staff take the operator's, A's people A's key's, if their role may call."""
        if who in self.overrides:
            return self.overrides[who]
        if roles == "public":
            return self.operator if who in STAFF_COLUMNS else self.partner_a if who in PARTNER_COLUMNS else getattr(self, who)
        staff, _, partner = roles.partition("|")
        if who in ("finance", "support"):
            return self.operator if STAFF_COLUMNS[who] in staff.split() else 403
        if who in ("a_admin", "a_staff"):
            return self.partner_a if PARTNER_COLUMNS[who] in partner.split() else 403
        return getattr(self, who)


def sale(scene: Scene, who: str) -> dict:
    return {"json": {"type": "sale", "order_id": order_id("S"), "card_number": scene.card, "occurred_at": scene.clock.now.isoformat(),
                     "currency": "EUR", "total": "10.00"}}


def fresh(name: str, make: Callable[[Scene], object]) -> Callable[[Scene, str], dict]:
    return lambda scene, who: {name: make(scene)}


def fresh_card(scene: Scene, who: str) -> dict:
    return {"card_number": scene.fresh_member()[1]}


def acknowledgement(scene: Scene, who: str) -> dict:
    section = scene.hub.call("GET", f"/v1/settlement/statements/{scene.sequence}/partners/alpha").json
    digest = section["statement_hash"]
    return {"json": {"statement_hash": digest, "signature": b64url_encode(scene.signing_key.sign(digest.encode()))}}


def merge(scene: Scene, who: str) -> dict:
    survivor, _ = scene.fresh_member()
    scene.merged = scene.fresh_member()[0]
    return {"member_id": survivor}


def with_webhook(scene: Scene, who: str) -> dict:
    scene.put_webhook()
    return {}


def failed_delivery_of_a(scene: Scene, who: str) -> dict:
    """One of A's deliveries that failed, its webhook registered (a cell before may have removed it)."""
    scene.put_webhook()
    return {"delivery_id": failed_delivery(scene.hub.client.application.extensions["coalition"].db, "alpha",
                                           at=scene.clock.now)}


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_unique)}"


OWN = "A's own: B is another partner (wrong_partner)"
OPERATOR_ONLY = "the operator's alone"
SHARED_CARD = "a coalition card earns and spends at every partner: B's till may read and use it"

MATRIX: dict[tuple[str, str], Cell] = {
    # partners and their settings
    ("/v1/partners", "GET"): Cell(200, 403, 403, why="the operator's staff"),
    ("/v1/partners", "POST"): Cell(201, 403, 403, why=OPERATOR_ONLY, body=lambda s, w: {"json": {
        "slug": unique("gamma"), "name": "Gamma", "timezone": "Europe/Paris", "currency": "EUR", "earn_rate": "1"}}),
    ("/v1/partners/<slug>", "GET"): Cell(200, 200, 403, why=OWN),
    ("/v1/partners/<slug>", "PATCH"): Cell(200, 403, 403, why=OPERATOR_ONLY, body=lambda s, w: {"json": {"name": "Alpha"}}),
    ("/v1/partners/<slug>/adapter", "PUT"): Cell(200, 403, 403, why="an admin's, or A's admin's", overrides={"a_admin": 200},
                                                 body=lambda s, w: {"json": {"adapter": "canonical", "adapter_config": {}}}),
    ("/v1/partners/<slug>/rules", "PUT"): Cell(200, 403, 403, why=OPERATOR_ONLY,
                                               body=lambda s, w: {"json": [{"rule": "base_rate", "rate": "1"}]}),
    ("/v1/partners/<slug>/contract", "PUT"): Cell(201, 403, 403, why=OPERATOR_ONLY, body=lambda s, w: {"json": {
        "issue_fee": "0.002", "redeem_rate": "0.010",
        "effective_from": (s.clock.now + timedelta(days=30, minutes=next(_unique))).isoformat()}}),
    ("/v1/partners/<slug>/contract", "GET"): Cell(200, 200, 403, why=OWN),
    ("/v1/partners/<slug>/points-rate", "PUT"): Cell(200, 200, 403, why=OWN, body=lambda s, w: {"json": {"points_per_unit": "10"}}),
    ("/v1/partners/<slug>/public-key", "PUT"): Cell(200, 200, 403, why=OWN, body=lambda s, w: {"json": {"public_key": s.public_key}}),
    ("/v1/partners/<slug>/rewards", "POST"): Cell(201, 201, 403, why=OWN, body=lambda s, w: {"json": {
        "sku": unique("CUP"), "name": "A cup", "points": 3}}),
    ("/v1/partners/<slug>/rewards", "GET"): Cell(200, 200, 200, why="any till shows any partner's catalogue"),
    ("/v1/partners/<slug>/rewards/<sku>", "PATCH"): Cell(200, 200, 403, why=OWN, body=lambda s, w: {"json": {"name": "A big mug"}}),
    ("/v1/partners/<slug>/webhook", "PUT"): Cell(200, 200, 403, why=OWN, body=lambda s, w: {"json": {
        "url": "http://127.0.0.1:9/alpha", "secret": WEBHOOK_SECRET}}),
    ("/v1/partners/<slug>/webhook", "GET"): Cell(200, 200, 403, why=OWN, params=with_webhook),
    ("/v1/partners/<slug>/webhook", "DELETE"): Cell(200, 200, 403, why=OWN, params=with_webhook),
    ("/v1/partners/<slug>/webhook/deliveries", "GET"): Cell(200, 200, 403, why=OWN),
    ("/v1/partners/<slug>/webhook/deliveries/<int:delivery_id>/retry", "POST"): Cell(200, 200, 403, why=OWN,
                                                                               params=failed_delivery_of_a),
    ("/v1/partners/<slug>/webhook/deliveries/replay", "POST"): Cell(200, 200, 403, why=OWN, params=with_webhook),
    ("/v1/partners/<slug>/inbound", "POST"): Cell(404, 404, 404, 404, body=lambda s, w: {"json": {}},
                                                  why="a platform's signed webhook, no token: A reads no signed format"),
    # partners' keys and people, signing in, the audit trail
    ("/v1/partners/<slug>/api-keys", "POST"): Cell(201, 403, 403, why="A's admin or an admin", overrides={"a_admin": 201},
                                                    body=lambda s, w: {"json": {"name": unique("till")}}),
    ("/v1/partners/<slug>/api-keys", "GET"): Cell(200, 403, 403, why="A's admin or an admin", overrides={"a_admin": 200}),
    ("/v1/partners/<slug>/api-keys/<int:key_id>", "DELETE"): Cell(200, 403, 403, why="A's admin or an admin",
                                                                  overrides={"a_admin": 200}, params=lambda s, w: {"key_id": s.fresh_key()}),
    ("/v1/partners/<slug>/users", "POST"): Cell(201, 403, 403, why="A's admin or an admin", overrides={"a_admin": 201},
                                                body=lambda s, w: {"json": {"email": f"{unique('u')}@alpha.example", "role": "partner_staff"}}),
    ("/v1/partners/<slug>/users", "GET"): Cell(200, 403, 403, why="A's admin or an admin", overrides={"a_admin": 200}),
    ("/v1/partners/<slug>/users/<int:user_id>", "DELETE"): Cell(200, 403, 403, why="A's admin or an admin",
                                                                overrides={"a_admin": 200}, params=lambda s, w: {"user_id": s.fresh_user()}),
    ("/v1/auth/sign-in", "POST"): Cell(401, 401, 401, 401, why="public; a wrong password is the same 401 for all",
                                       body=lambda s, w: {"json": {"email": "nobody@alpha.example", "password": "wrong"}}),
    ("/v1/auth/password", "POST"): Cell(401, 401, 401, 401, why="public; a wrong password is the same 401 for all",
                                        body=lambda s, w: {"json": {"email": "nobody@alpha.example", "password": "wrong",
                                                                    "new_password": "a long new password"}}),
    ("/v1/audit-events", "GET"): Cell(200, 403, 403, why="admins; A's admin reads A's events", overrides={"a_admin": 200}),
    # members and cards
    ("/v1/members", "POST"): Cell(201, 201, 201, why="each partner enrols its own members",
                                  body=lambda s, w: {"json": {"email": f"{unique('new')}@example.com"}}),
    ("/v1/members", "GET"): Cell(200, 403, 403, why="finding members is admins' and support's", query="?email=ann.isolated%40example.com"),
    ("/v1/members/<member_id>", "GET"): Cell(200, 200, 200, why="partners see a member's cards masked, never e-mail or name"),
    ("/v1/members/<member_id>", "DELETE"): Cell(200, 403, 403, why=OPERATOR_ONLY,
                                                params=fresh("member_id", lambda s: s.fresh_member()[0])),
    ("/v1/members/<member_id>/adjustments", "POST"): Cell(201, 403, 403, why=OPERATOR_ONLY,
                                                          body=lambda s, w: {"json": {"points": 5, "reason": "goodwill"}}),
    ("/v1/members/<member_id>/history", "GET"): Cell(200, 200, 200, why="a partner sees only the entries it booked"),
    ("/v1/members/<member_id>/cards", "POST"): Cell(201, 201, 404, why="the enrolling partner's (unknown_member to others)",
                                                    body=lambda s, w: {"json": {}}),
    ("/v1/members/<member_id>/merge", "POST"): Cell(200, 403, 403, why=OPERATOR_ONLY, params=merge,
                                                    body=lambda s, w: {"json": {"member_id": s.merged}}),
    ("/v1/members/<member_id>/export", "GET"): Cell(200, 403, 403, why=OPERATOR_ONLY),
    ("/v1/cards/<card_number>/balance", "GET"): Cell(200, 200, 200, why=SHARED_CARD),
    ("/v1/cards/<card_number>/block", "POST"): Cell(200, 200, 200, why="the lost-card call, at any till", params=fresh_card,
                                                    body=lambda s, w: {"json": {"reason": "lost"}}),
    ("/v1/network/tiers", "GET"): Cell(200, 200, 200, why="the network's ladder, the same for all"),
    ("/v1/network/tiers", "PUT"): Cell(200, 403, 403, why=OPERATOR_ONLY, body=lambda s, w: {"json": {
        "tiers": [{"name": "Base", "threshold": 0, "multiplier": "1"}]}}),
    # earning and spending: a partner books at its own till, for any coalition card
    ("/v1/transactions", "POST"): Cell(403, 201, 201, why=SHARED_CARD, body=sale),
    ("/v1/transactions/batch", "POST"): Cell(403, 415, 415, why="partners only; the canonical adapter reads no batch files",
                                             body=lambda s, w: {"data": "order_id\n", "content_type": "text/csv"}),
    ("/v1/actions", "POST"): Cell(403, 422, 422, why="partners only; neither rewards an action (unknown_action)",
                                  body=lambda s, w: {"json": {"card_number": s.card, "action": "review", "reference": unique("r")}}),
    ("/v1/redemptions", "POST"): Cell(403, 201, 201, why=SHARED_CARD, body=lambda s, w: {"json": {
        "card_number": s.card, "points": 1, "order_id": order_id("X")}}),
    ("/v1/donations", "POST"): Cell(201, 201, 201, why=SHARED_CARD, body=lambda s, w: {"json": {
        "card_number": s.card, "charity": "food-bank", "points": 1}}),
    ("/v1/redemptions/<int:redemption_id>", "GET"): Cell(403, 200, 404, why="A's hold: unknown_redemption to B"),
    ("/v1/redemptions/<int:redemption_id>/capture", "POST"): Cell(403, 201, 404, why="A's hold: unknown_redemption to B",
                                                                  params=fresh("redemption_id", Scene.fresh_hold),
                                                                  body=lambda s, w: {"json": {}}),
    ("/v1/redemptions/<int:redemption_id>/void", "POST"): Cell(403, 200, 404, why="A's hold: unknown_redemption to B",
                                                               params=fresh("redemption_id", Scene.fresh_hold)),
    ("/v1/redemptions/<int:redemption_id>/reversal", "POST"): Cell(403, 201, 404, why="A's redemption: unknown_redemption to B",
                                                                   params=fresh("redemption_id", Scene.fresh_redemption)),
    # settlement
    ("/v1/settlement/runs", "POST"): Cell(201, 403, 403, why="admins' and finance's", body=lambda s, w: {
        "json": {"end": (s.clock.advance(minutes=1) - timedelta(minutes=10)).isoformat()}}),
    ("/v1/settlement/statements", "GET"): Cell(200, 200, 200, why="each partner lists the statements with its section, "
                                                                "each linking to its own"),
    ("/v1/settlement/statements/<int:sequence>", "GET"): Cell(200, 403, 403, why="the whole statement is the operator's"),
    ("/v1/settlement/statements/<int:sequence>/partners/<slug>", "GET"): Cell(200, 200, 403, why=OWN),
    ("/v1/settlement/statements/<int:sequence>/acknowledgements", "POST"): Cell(
        403, 201, 422, why="a partner countersigns for itself; B's answer is its own (no_public_key)", body=acknowledgement,
        overrides={"a_admin": 409}),  # A's key countersigned first: already_acknowledged
    ("/v1/settlement/statements/<int:sequence>/reconciliation", "POST"): Cell(
        200, 200, 403, why=OWN, query="?partner=alpha",
        body=lambda s, w: {"data": "order_id,type,points\n", "content_type": "text/csv"}),
    ("/v1/settlement/statements/<int:sequence>/obligations.csv", "GET"): Cell(200, 403, 403, why=OPERATOR_ONLY),
    ("/v1/settlement/statements/<int:sequence>/transfers.csv", "GET"): Cell(200, 403, 403, why=OPERATOR_ONLY),
    ("/v1/settlement/keys", "GET"): Cell(200, 200, 200, 200, why="public: anyone verifies a statement offline"),
    # the programme's analytics: a partner reads its own, the operator's staff anyone's
    **{(f"/v1/analytics/{report}", "GET"): Cell(200, 200, 403, why=OWN, query="?from=2026-03-01&to=2026-03-31&partner=alpha")
       for report in ("programme", "programme.csv", "cohorts", "cohorts.csv", "returns")},
    ("/v1/analytics/members/<member_id>", "GET"): Cell(200, 403, 403, why="admins' and finance's: a member across partners"),
    ("/v1/analytics/value-models", "GET"): Cell(200, 403, 403, why=OPERATOR_ONLY),
    ("/v1/partners/<slug>/audience-preview", "POST"): Cell(200, 200, 403, why=OWN,
                                                           body=lambda s, w: {"json": {"audience": {"dormant_days": 30}}}),
    ("/v1/analytics/lifetime", "GET"): Cell(200, 403, 403, why="admins' and finance's: members across partners",
                                             query="?as_of=2026-03-31&by=partner"),
    ("/v1/analytics/liability", "GET"): Cell(200, 403, 403, why=OPERATOR_ONLY, query="?as_of=2026-03-31"),
    # paying statements: where money goes is the operator's staff's to set
    ("/v1/partners/<slug>/bank-account", "PUT"): Cell(200, 403, 403, why=OPERATOR_ONLY, body=lambda s, w: {"json": {
        "account_holder": "Alpha Ltd", "iban": "GB29NWBK60161331926819", "bic": "NWBKGB2L"}}),
    ("/v1/partners/<slug>/bank-account", "GET"): Cell(200, 403, 403, why="the operator's staff; A's admin checks A's",
                                                      overrides={"a_admin": 200}),
    ("/v1/settlement/statements/<int:sequence>/payments", "GET"): Cell(200, 403, 403, why=OPERATOR_ONLY),
    ("/v1/partners/<slug>/credit", "GET"): Cell(200, 200, 403, why=OWN),
    ("/v1/settlement/statements/<int:sequence>/disputes", "POST"): Cell(
        422, 422, 422, why="a partner files for itself (none of these orders is A's or B's); the operator names one",
        body=lambda s, w: {"json": {"order_ids": ["NOT-BOOKED"], "reason": "why not", "partner": "alpha"}
                           if w in STAFF_COLUMNS else
                           {"order_ids": ["NOT-BOOKED"], "reason": "why not"}}),
    ("/v1/settlement/statements/<int:sequence>/disputes", "GET"): Cell(200, 200, 200, why="finance sees all, "
                                                                       "a partner its own"),
    ("/v1/settlement/disputes/<int:dispute_id>/resolution", "POST"): Cell(404, 403, 403, why=OPERATOR_ONLY,
        params=lambda s, w: {"dispute_id": 999999}, body=lambda s, w: {"json": {"outcome": "rejected", "note": "n"}}),
    ("/v1/partners/<slug>/prepayments", "POST"): Cell(422, 403, 403, why="the operator's staff's; A draws on no funds",
                                                      body=lambda s, w: {"json": {"amount": "1.00", "reference": unique("BANK")}}),
    ("/v1/settlement/statements/<int:sequence>/pack.xlsx", "GET"): Cell(200, 403, 403, why=OPERATOR_ONLY),
    ("/v1/settlement/statements/<int:sequence>/partners/<slug>/section.pdf", "GET"): Cell(200, 200, 403, why=OWN),
    ("/v1/settlement/statements/<int:sequence>/transfers.xml", "GET"): Cell(422, 403, 403, why="the operator's staff's; "
                                                                            "this hub has no bank account of its own"),
    ("/v1/settlement/bank-statements", "POST"): Cell(200, 403, 403, why=OPERATOR_ONLY, body=lambda s, w: {
        "data": b"<Document><BkToCstmrStmt/></Document>", "content_type": "application/xml"}),
    # the document and its page
    ("/v1/openapi.json", "GET"): Cell(200, 200, 200, 200, why="public"),
    ("/docs", "GET"): Cell(200, 200, 200, 200, why="public"),
    ("/docs/init.js", "GET"): Cell(200, 200, 200, 200, why="public"),
    (f"/docs/{VERSION}/<name>", "GET"): Cell(200, 200, 200, 200, why="public", params=lambda s, w: {"name": "swagger-ui.css"}),
    ("/v1/card-aliases/batch", "POST"): Cell(403, 200, 200, why="each partner's own numbers; B's file makes B's",
                                             body=lambda s, w: {"data": f"alias,card_number\n{unique('FILE')},{s.card}\n",
                                                                "content_type": "text/csv"}),
    ("/v1/opening-balances/batch", "POST"): Cell(403, 200, 200, why="a partner brings its own members' points, on any "
                                                                  "coalition card; B's file books B's issuance",
                                                 body=lambda s, w: {"data": f"card,points,key\n{s.card},1,{unique('OB')}\n",
                                                                    "content_type": "text/csv"}),
    ("/v1/card-aliases/<alias:alias>", "PUT"): Cell(403, 200, 200, why="each partner's own numbers; B's alias is B's alone",
                                              params=lambda s, w: {"alias": unique("ALIAS")},
                                              body=lambda s, w: {"json": {"card_number": s.card}}),
    ("/v1/card-aliases/<alias:alias>", "GET"): Cell(403, 200, 404, why="A's alias is unknown to B (unknown_alias)",
                                              params=lambda s, w: {"alias": s.fresh_alias()}),
    ("/v1/card-aliases/<alias:alias>", "DELETE"): Cell(403, 200, 404, why="A's alias is unknown to B (unknown_alias)",
                                                 params=lambda s, w: {"alias": s.fresh_alias()}),
    ("/v1/members/<member_id>/wallet-links", "POST"): Cell(201, 201, 404, why="the enrolling partner's: a link opens the "
                                                                             "member's personal data (unknown_member to others)"),
    # the pages: tests/support/page_routes.py (a session cookie, never a bearer token: every caller is a visitor)
    # operations: for load balancers and monitors (/metrics asks for COALITION_METRICS_TOKEN once one is set; none is here)
    ("/healthz", "GET"): Cell(200, 200, 200, 200, why="public: the process answers"),
    ("/readyz", "GET"): Cell(200, 200, 200, 200, why="public: the database answers, at the code's migrations"),
    ("/metrics", "GET"): Cell(200, 200, 200, 200, why="open by default: figures only, no personal data"),
}

#: Which roles may call each route, written out as the README's role table says (staff roles | partner A's
#: roles): held here apart from the code's `requires(...)`, so a changed declaration fails until this agrees.
ALL = "admin finance support | admin staff key"
ROLES: dict[tuple[str, str], str] = {
    ("/v1/partners", "POST"): "admin |",
    ("/v1/partners", "GET"): "admin finance support |",
    ("/v1/members", "GET"): "admin support |",
    ("/v1/settlement/statements", "GET"): "admin finance | admin staff key",
    ("/v1/partners/<slug>", "GET"): ALL,
    ("/v1/partners/<slug>", "PATCH"): "admin |",
    ("/v1/partners/<slug>/adapter", "PUT"): "admin | admin",
    ("/v1/partners/<slug>/rules", "PUT"): "admin |",
    ("/v1/partners/<slug>/contract", "PUT"): "admin finance |",
    ("/v1/partners/<slug>/contract", "GET"): "admin finance | admin key",
    ("/v1/partners/<slug>/points-rate", "PUT"): "admin | admin key",
    ("/v1/partners/<slug>/public-key", "PUT"): "admin | admin key",
    ("/v1/partners/<slug>/rewards", "POST"): "admin | admin key",
    ("/v1/partners/<slug>/rewards", "GET"): ALL,
    ("/v1/partners/<slug>/rewards/<sku>", "PATCH"): "admin | admin key",
    ("/v1/partners/<slug>/webhook", "PUT"): "admin | admin key",
    ("/v1/partners/<slug>/webhook", "GET"): "admin | admin key",
    ("/v1/partners/<slug>/webhook", "DELETE"): "admin | admin key",
    ("/v1/partners/<slug>/webhook/deliveries", "GET"): "admin | admin key",
    ("/v1/partners/<slug>/webhook/deliveries/<int:delivery_id>/retry", "POST"): "admin | admin key",
    ("/v1/partners/<slug>/webhook/deliveries/replay", "POST"): "admin | admin key",
    ("/v1/partners/<slug>/inbound", "POST"): "public",
    ("/v1/partners/<slug>/api-keys", "POST"): "admin | admin",
    ("/v1/partners/<slug>/api-keys", "GET"): "admin | admin",
    ("/v1/partners/<slug>/api-keys/<int:key_id>", "DELETE"): "admin | admin",
    ("/v1/partners/<slug>/users", "POST"): "admin | admin",
    ("/v1/partners/<slug>/users", "GET"): "admin | admin",
    ("/v1/partners/<slug>/users/<int:user_id>", "DELETE"): "admin | admin",
    ("/v1/auth/sign-in", "POST"): "public",
    ("/v1/auth/password", "POST"): "public",
    ("/v1/audit-events", "GET"): "admin | admin",
    ("/v1/members", "POST"): "admin support | key",
    ("/v1/members/<member_id>", "GET"): ALL,
    ("/v1/members/<member_id>", "DELETE"): "admin support |",
    ("/v1/members/<member_id>/adjustments", "POST"): "admin support |",
    ("/v1/members/<member_id>/history", "GET"): ALL,
    ("/v1/members/<member_id>/cards", "POST"): "admin support | key",
    ("/v1/members/<member_id>/merge", "POST"): "admin support |",
    ("/v1/members/<member_id>/export", "GET"): "admin support |",
    ("/v1/cards/<card_number>/balance", "GET"): ALL,
    ("/v1/cards/<card_number>/block", "POST"): "admin support | key",
    ("/v1/network/tiers", "GET"): ALL,
    ("/v1/network/tiers", "PUT"): "admin |",
    ("/v1/transactions", "POST"): "| key",
    ("/v1/transactions/batch", "POST"): "| admin key",
    ("/v1/actions", "POST"): "| key",
    ("/v1/redemptions", "POST"): "| key",
    ("/v1/donations", "POST"): "admin support | key",
    ("/v1/redemptions/<int:redemption_id>", "GET"): "| admin staff key",
    ("/v1/redemptions/<int:redemption_id>/capture", "POST"): "| key",
    ("/v1/redemptions/<int:redemption_id>/void", "POST"): "| key",
    ("/v1/redemptions/<int:redemption_id>/reversal", "POST"): "| key",
    ("/v1/settlement/runs", "POST"): "admin finance |",
    **{(f"/v1/analytics/{report}", "GET"): "admin finance | admin staff key"
       for report in ("programme", "programme.csv", "cohorts", "cohorts.csv", "returns")},
    ("/v1/analytics/members/<member_id>", "GET"): "admin finance |",
    ("/v1/analytics/value-models", "GET"): "admin finance |",
    ("/v1/partners/<slug>/audience-preview", "POST"): "admin | admin staff key",
    ("/v1/analytics/lifetime", "GET"): "admin finance |",
    ("/v1/analytics/liability", "GET"): "admin finance |",
    ("/v1/partners/<slug>/bank-account", "PUT"): "admin finance |",
    ("/v1/partners/<slug>/bank-account", "GET"): "admin finance | admin",
    ("/v1/settlement/statements/<int:sequence>/payments", "GET"): "admin finance |",
    ("/v1/partners/<slug>/credit", "GET"): "admin finance | admin staff key",
    ("/v1/settlement/statements/<int:sequence>/disputes", "POST"): "admin finance | admin key",
    ("/v1/settlement/statements/<int:sequence>/disputes", "GET"): "admin finance | admin staff key",
    ("/v1/settlement/disputes/<int:dispute_id>/resolution", "POST"): "admin finance |",
    ("/v1/partners/<slug>/prepayments", "POST"): "admin finance |",
    ("/v1/settlement/statements/<int:sequence>/pack.xlsx", "GET"): "admin finance |",
    ("/v1/settlement/statements/<int:sequence>/partners/<slug>/section.pdf", "GET"): "admin finance | admin staff key",
    ("/v1/settlement/statements/<int:sequence>/transfers.xml", "GET"): "admin finance |",
    ("/v1/settlement/bank-statements", "POST"): "admin finance |",
    ("/v1/settlement/statements/<int:sequence>", "GET"): "admin finance |",
    ("/v1/settlement/statements/<int:sequence>/partners/<slug>", "GET"): "admin finance | admin staff key",
    ("/v1/settlement/statements/<int:sequence>/acknowledgements", "POST"): "| admin key",
    ("/v1/settlement/statements/<int:sequence>/reconciliation", "POST"): "admin finance | admin key",
    ("/v1/settlement/statements/<int:sequence>/obligations.csv", "GET"): "admin finance |",
    ("/v1/settlement/statements/<int:sequence>/transfers.csv", "GET"): "admin finance |",
    ("/v1/settlement/keys", "GET"): "public",
    ("/v1/openapi.json", "GET"): "public",
    ("/docs", "GET"): "public",
    ("/docs/init.js", "GET"): "public",
    (f"/docs/{VERSION}/<name>", "GET"): "public",
    ("/v1/card-aliases/batch", "POST"): "| key admin",
    ("/v1/opening-balances/batch", "POST"): "| key admin",
    ("/v1/card-aliases/<alias:alias>", "PUT"): "| key admin",
    ("/v1/card-aliases/<alias:alias>", "GET"): "| key admin",
    ("/v1/card-aliases/<alias:alias>", "DELETE"): "| key admin",
    ("/v1/members/<member_id>/wallet-links", "POST"): "admin support | key",
    ("/healthz", "GET"): "public",
    ("/readyz", "GET"): "public",
    ("/metrics", "GET"): "public",
}

MATRIX.update({route: Cell(status, status, status, status, why=why, params=(lambda s, w, v=values: v) if values else None)
               for route, (status, why, values) in PAGES.items()})
ROLES.update({route: "public" for route in PAGES})

#: Path values naming nothing: B's refusal of A's thing must read exactly as its refusal of these.
NOBODY = {"alias": "no-such-alias", "slug": "no-such-partner", "member_id": "no-such-member", "redemption_id": 987654321, "key_id": 987654321,
          "user_id": 987654321}

#: Methods every rule answers without a view of its own: OPTIONS (Flask lists the methods), HEAD (the GET view, no body).
AUTOMATIC = {"OPTIONS", "HEAD"}


#: POSTs that write nothing: a reconciliation compares files.
BOOKS_NOTHING = {"/v1/settlement/statements/<int:sequence>/reconciliation", "/v1/partners/<slug>/audience-preview"}


def audit_count(app) -> int:
    from sqlalchemy import func, select

    from network.models import AuditEvent

    return app.extensions["coalition"].db.read(lambda session: session.scalar(select(func.count()).select_from(AuditEvent)))


def routes(app) -> set[tuple[str, str]]:
    return {(rule.rule, method) for rule in app.url_map.iter_rules() for method in rule.methods - AUTOMATIC}


def path_of(rule: str, values: dict) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule)


@dataclass
class Outcome:
    rule: str
    method: str
    who: str
    status: int
    expected: int
    body: bytes = field(repr=False, default=b"")


def test_every_route_has_a_row(app):
    assert routes(app) == set(MATRIX) == set(ROLES)


def test_the_readme_role_table_is_the_code(app):
    from network.api.role_table import markdown

    assert markdown(app) in (ROOT / "README.md").read_text(), "regenerate it: python -m network.api.role_table"


def test_the_code_declares_the_roles_this_table_says(app):
    from network.api.role_table import routes as declared

    names = {"admin": "admin", "finance": "finance", "support": "support"}
    sides = {"admin": "partner_admin", "staff": "partner_staff", "key": "partner_key"}
    for method, rule, roles in declared(app):
        written = ROLES[(rule, method)]
        if written == "public":
            assert roles is None, (method, rule)
            continue
        staff, _, partner = written.partition("|")
        assert set(roles) == {names[r] for r in staff.split()} | {sides[r] for r in partner.split()}, (method, rule)


def test_who_may_call_what(app, hub, clock):
    scene = build(hub, app, clock)
    defaults = {"slug": "alpha", "member_id": scene.member, "card_number": scene.card, "sku": scene.sku,
                "sequence": scene.sequence}
    wrong, leaks, oracles, unaudited = [], [], [], []
    for (rule, method), cell in MATRIX.items():
        for who in WHO:
            values = {**defaults, "redemption_id": scene.hold, **(cell.params(scene, who) if cell.params else {})}
            request = cell.body(scene, who) if cell.body else {}
            headers = {} if who == "no_token" else hub.operator if who == "operator" else hub.bearer(scene.keys[who])
            path = path_of(rule, values) + cell.query
            events = audit_count(app)
            response = hub.client.open(path, method=method, headers=headers, **request)
            if method != "GET" and response.status_code < 300 and rule not in BOOKS_NOTHING and audit_count(app) == events:
                unaudited.append((method, rule, who))
            expected = cell.expected(who, ROLES[(rule, method)])
            if response.status_code != expected:
                wrong.append(Outcome(rule, method, who, response.status_code, expected, response.data[:300]))
            if who in ("partner_b", "no_token"):
                leaks.extend(check_nothing_of_a_leaks(scene, rule, method, who, response, path, request))
            if who == "partner_b" and cell.no_token == 401 and response.status_code in (403, 404) and set(NOBODY) & set(values):
                nobody = hub.client.open(path_of(rule, {**values, **NOBODY}) + cell.query, method=method, headers=headers,
                                         **(cell.body(scene, who) if cell.body else {}))
                if refusal(nobody) != refusal(response):
                    oracles.append((method, rule, refusal(response), refusal(nobody)))
    assert wrong == [], "\n".join(f"{o.method} {o.rule} as {o.who}: {o.status}, not {o.expected}: {o.body!r}" for o in wrong)
    assert leaks == []
    assert oracles == [], "\n".join(map(str, oracles))  # B tells A's things from what does not exist
    assert unaudited == [], unaudited  # every write that was made left its audit event


def refusal(response) -> tuple:
    """What a refusal says, less the values it echoes (the id asked for)."""
    error = response.json["error"]
    return response.status_code, error["code"], error["message"], sorted(error["details"])


def check_nothing_of_a_leaks(scene: Scene, rule: str, method: str, who: str, response, path: str, request: dict) -> list:
    """B and a stranger see none of A's secrets, nor its member's personal data, nor a card number they were not given."""
    text = response.get_data(as_text=True)
    given = path + json.dumps(request.get("json"))
    found = [secret for secret in scene.secrets_of_a() if secret in text]
    found += [card for card in scene.cards_of_a if card in text and card not in given]
    if response.status_code >= 400 and response.mimetype == "application/json":
        assert set(response.json) == {"error"}, (method, rule, who)
    if rule == "/v1/members/<member_id>/history" and response.status_code == 200:
        found += [entry for entry in response.json["items"] if entry["partner"] != "beta"]
    return [(method, rule, who, item) for item in found]
