"""Members' personal data: encrypted at rest under a key per member, exported on request, shredded on deletion."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from network import create_app
from network.db import Database, make_engine
from network.ledger.invariants import violations
from network.members import privacy
from network.members.privacy import MasterKey, MasterKeyError
from network.models import JournalEntry, Member, MemberKey, Posting
from network.schema import upgrade
from settlement.figures import Period, settle
from tests.support.cli import HubRunner
from tests.support.hub import ADMIN_TOKEN, HubClient
from tests.support.ledger import ids, snapshot


def raw_member(database, member_id):
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT email, name FROM members WHERE id = :id"), {"id": member_id}).one()


def test_the_database_holds_no_plaintext_email_or_name(world, database):
    email, name = raw_member(database, world.member_id)
    # Whole values, not "ann": a random Fernet token holds three such letters by chance now and then.
    assert "ann@example.com" not in email and name != "Ann"
    assert email.startswith("gAAAA") and name.startswith("gAAAA")  # Fernet tokens
    with database.engine.connect() as connection:
        dump = " ".join(str(v) for row in connection.execute(text("SELECT * FROM member_keys")) for v in row)
    assert "ann@example.com" not in dump and "example.com" not in dump
    shown = world.hub.call("GET", f"/v1/members/{world.member_id}").json
    assert (shown["email"], shown["name"]) == ("ann@example.com", "Ann")
    # Two members with the same e-mail get different keys and different ciphertext.
    other, _ = world.hub.enrol(email="ann@example.com", name="Ann")
    assert raw_member(database, other).email != email


def test_a_wrong_master_key_fails_clearly(world, database, clock, tmp_path):
    other = create_app({"TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, "CLOCK": clock,
                        "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "keys2"),
                        "COALITION_MASTER_KEY_FILE": str(tmp_path / "another.key")})
    if os.environ.get(privacy.ENV_VAR):
        pytest.skip("COALITION_MASTER_KEY is set: both apps share it")
    hub = HubClient(other.test_client(), ADMIN_TOKEN)
    answer = hub.call("GET", f"/v1/members/{world.member_id}")
    assert answer.status_code == 500
    assert answer.json["error"]["code"] == "master_key_error"
    assert "COALITION_MASTER_KEY" in answer.json["error"]["message"]
    # What needs no decryption still works: a partner's view, the till.
    assert hub.call("GET", f"/v1/members/{world.member_id}", world.coffee).status_code == 200


def test_master_key_rotation_with_multifernet(database, clock, tmp_path):
    def app_with(master):
        app = create_app({"TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, "CLOCK": clock,
                          "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "keys"),
                          "COALITION_MASTER_KEY_FILE": str(tmp_path / "unused.key")})
        app.extensions["coalition.master_key"] = master
        return app

    old, new = Fernet.generate_key(), Fernet.generate_key()
    with database.sessions() as session:
        session.execute(Member.__table__.insert().values(id="zoe", created_at=clock.now))
        sealed = privacy.seal(session, MasterKey.of(old), "zoe", email="zoe@example.com", name="Zoé", now=clock.now)
        session.execute(Member.__table__.update().where(Member.id == "zoe").values(**sealed))
        session.commit()
    with database.sessions() as session:
        zoe = session.get(Member, "zoe")
        both = MasterKey.of(new, old)  # the new key first: it encrypts, the old one still decrypts
        assert privacy.reveal(session, both, zoe) == {"email": "zoe@example.com", "name": "Zoé"}
        session.commit()
    result = HubRunner(app_with(both)).invoke(["members", "rewrap-keys"], catch_exceptions=False)
    assert result.exit_code == 0
    assert "1 member keys" in result.output  # every data key now wrapped under `new`
    with database.sessions() as session:
        zoe = session.get(Member, "zoe")
        assert privacy.reveal(session, MasterKey.of(new), zoe) == {"email": "zoe@example.com", "name": "Zoé"}
        with pytest.raises(MasterKeyError, match="does not decrypt"):
            privacy.reveal(session, MasterKey.of(old), zoe)


def test_the_master_key_comes_from_the_environment_or_a_private_file(tmp_path):
    key = Fernet.generate_key()
    assert MasterKey(tmp_path / "unused.key", environ={privacy.ENV_VAR: key.decode()}).unwrap(
        MasterKey.of(key).wrap(b"data")) == b"data"
    assert not (tmp_path / "unused.key").exists()

    path = tmp_path / "instance" / "master.key"
    made = MasterKey(path, environ={})
    wrapped = made.wrap(b"data")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert MasterKey(path, environ={}).unwrap(wrapped) == b"data"  # the same file next time

    path.chmod(0o644)
    with pytest.raises(MasterKeyError, match="chmod 600"):
        MasterKey(path, environ={}).fernet()
    with pytest.raises(MasterKeyError, match="does not hold Fernet keys"):
        MasterKey(environ={privacy.ENV_VAR: "not-a-key"}).fernet()


def test_the_migration_encrypts_existing_members_or_refuses_without_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv(privacy.ENV_VAR, raising=False)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO members (id, email, name, created_at) "
                                "VALUES ('m1', 'old@example.com', 'Olga', '2025-01-01 00:00:00')"))
        # Rows that refer to the member and to its lots: the tables are rebuilt under them on SQLite.
        connection.execute(text("INSERT INTO accounts (id, kind, member_id, balance) VALUES (1, 'available', 'm1', 5), "
                                "(2, 'promotion', NULL, NULL)"))
        connection.execute(text("INSERT INTO cards (number, member_id, status, created_at) "
                                "VALUES ('4000000000000002', 'm1', 'active', '2025-01-01 00:00:00')"))
        connection.execute(text("INSERT INTO journal_entries (id, kind, member_id, reason, booked_at) "
                                "VALUES (1, 'adjustment', 'm1', 'welcome', '2025-01-01 00:00:00')"))
        connection.execute(text("INSERT INTO postings (entry_id, account_id, amount) VALUES (1, 1, 5), (1, 2, -5)"))
        connection.execute(text("INSERT INTO lots (id, member_id, account_id, entry_id, points, remaining, earned_at, "
                                "available_at, expires_at) VALUES (1, 'm1', 1, 1, 5, 5, '2025-01-01 00:00:00', "
                                "'2025-01-01 00:00:00', '2027-01-01 00:00:00')"))
        connection.execute(text("INSERT INTO lot_movements (lot_id, entry_id, points) VALUES (1, 1, 0)"))
    with pytest.raises(RuntimeError, match="COALITION_MASTER_KEY"):
        upgrade(engine, "head")
    with engine.connect() as connection:  # nothing lost: still the old schema and the old row
        assert connection.execute(text("SELECT email FROM members")).scalar_one() == "old@example.com"
    upgrade(engine, "head", master_key_file=str(tmp_path / "master.key"))
    db = Database(engine)
    with db.session() as session:
        row = session.get(Member, "m1")
        assert row.email.startswith("gAAAA")
        assert privacy.reveal(session, MasterKey(tmp_path / "master.key", environ={}), row) == {
            "email": "old@example.com", "name": "Olga"}
        assert not violations(session)
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA foreign_key_check")).all() == []
    engine.dispose()


def test_export_holds_everything_about_the_member(world, database):
    hub = world.hub
    hub.sale(world.coffee, world.card, "12.50", order="A-1")  # 12 coffee points
    hub.sale(world.grocer, world.card, "40.25", order="G-1")  # 80 grocer points
    hub.redeem(world.coffee, world.card, 50, order="A-R1")
    hub.refund(world.grocer, "G-1", "20.12", order="G-1-R")  # -39
    hub.put_rules("brew-bar", [{"rule": "base_rate", "rate": "1"},
                               {"rule": "referral", "referrer_points": 100, "referred_points": 40}])
    friend, _ = hub.enrol(world.coffee, referred_by=world.card)

    answer = hub.call("GET", f"/v1/members/{world.member_id}/export")
    assert answer.status_code == 200
    doc = answer.json
    profile = doc["profile"]
    assert (profile["email"], profile["name"], profile["enrolled_by"], profile["deleted_at"]) == (
        "ann@example.com", "Ann", "brew-bar", None)
    assert [(c["number"], c["status"]) for c in doc["cards"]] == [(world.card, "active")]
    assert doc["balance"] == {"available": 3, "pending": 0, "held": 0}
    assert [(l["issuer"], l["points"], l["remaining"]) for l in doc["lots"]] == [("brew-bar", 12, 0), ("green-grocer", 80, 3)]
    assert all(l["expires_at"] and l["earned_at"] for l in doc["lots"])
    assert [(e["kind"], e["partner"], e["postings"]) for e in doc["entries"]] == [
        ("earn", "brew-bar", [{"account": "available", "amount": 12}]),
        ("earn", "green-grocer", [{"account": "available", "amount": 80}]),
        ("redemption", "brew-bar", [{"account": "available", "amount": -50}]),
        ("refund", "green-grocer", [{"account": "available", "amount": -39}]),
    ]
    assert doc["entries"][0]["awards"][0]["points"] == 12
    assert [(o["partner"], o["kind"], o["order_id"], o["original_order_id"], o["points"]) for o in doc["orders"]] == [
        ("brew-bar", "sale", "A-1", None, 12), ("green-grocer", "sale", "G-1", None, 80),
        ("brew-bar", "redemption", "A-R1", None, -50), ("green-grocer", "refund", "G-1-R", "G-1", -39)]
    assert [(r["role"], r["other_member_id"], r["partner"], r["referrer_points"], r["paid_entry_id"])
            for r in doc["referrals"]] == [("referrer", friend, "brew-bar", 100, None)]

    forbidden = hub.call("GET", f"/v1/members/{world.member_id}/export", world.coffee)
    assert (forbidden.status_code, forbidden.json["error"]["code"]) == (403, "wrong_role")


def test_delete_forfeits_as_breakage_shreds_the_data_and_keeps_the_ledger(world, database, clock):
    hub = world.hub
    hub.sale(world.coffee, world.card, "12.50")  # 12 brew-bar points
    hub.sale(world.grocer, world.card, "40.25")  # 80 green-grocer points
    hub.redeem(world.coffee, world.card, 50)  # brew-bar's 12, then 38 of green-grocer's
    second = hub.call("POST", f"/v1/members/{world.member_id}/cards", json={}).json["card_number"]
    t1 = clock.advance(hours=1)

    assert hub.call("DELETE", f"/v1/members/{world.member_id}", world.coffee).status_code == 403
    deleted = hub.call("DELETE", f"/v1/members/{world.member_id}")
    assert deleted.status_code == 200, deleted.json
    assert deleted.json["forfeited"] == 42
    assert deleted.json["cards_blocked"] == sorted([world.card, second])
    assert deleted.json["balance"] == {"available": 0, "pending": 0, "held": 0}
    t2 = clock.advance(hours=1)

    # Settlement: the 42 points are breakage of their issuer, the grocer; nothing is outstanding.
    p = ids(database)
    with database.session() as session:
        figures = settle(session, Period(t1, t2), "EUR")
        whole = settle(session, Period(None, t2), "EUR")
        assert not violations(session)
        kinds = session.scalars(select(JournalEntry.kind).where(JournalEntry.member_id == world.member_id)
                                .order_by(JournalEntry.id)).all()
        assert kinds == ["earn", "earn", "redemption", "forfeiture"]
        assert session.get(MemberKey, world.member_id) is None
    assert dict(figures.expired) == {p["green-grocer"]: 42}
    assert {k: v for k, v in whole.outstanding.items() if v} == {}
    assert tuple(raw_member(database, world.member_id)) == (None, None)

    assert hub.sale(world.coffee, second, "10.00").json["error"]["code"] == "card_blocked"
    gone = hub.call("GET", f"/v1/members/{world.member_id}")
    assert (gone.status_code, gone.json["error"]["code"]) == (410, "member_deleted")
    assert hub.call("GET", f"/v1/members/{world.member_id}/history").status_code == 410

    doc = hub.call("GET", f"/v1/members/{world.member_id}/export").json
    assert (doc["profile"]["email"], doc["profile"]["name"]) == (None, None)
    assert doc["profile"]["deleted_at"] == t1.isoformat()
    assert [e["kind"] for e in doc["entries"]] == ["earn", "earn", "redemption", "forfeiture"]
    assert "ann" not in answer_text(hub, world.member_id).lower()

    # Deleting twice is refused and changes nothing.
    before = snapshot(database)
    again = hub.call("DELETE", f"/v1/members/{world.member_id}")
    assert (again.status_code, again.json["error"]["code"]) == (410, "member_deleted")
    assert snapshot(database) == before
    with database.session() as session:
        assert session.scalar(select(Posting.id).limit(1)) is not None


def answer_text(hub, member_id):
    return hub.call("GET", f"/v1/members/{member_id}/export").get_data(as_text=True)


def test_a_member_with_held_points_is_not_deleted_and_a_replayed_delete_posts_nothing(world, database, clock):
    hub = world.hub
    hub.sale(world.coffee, world.card, "20.00")  # 20 points
    hold = hub.call("POST", "/v1/redemptions", world.grocer,
                    json={"card_number": world.card, "points": 5, "order_id": "H-1", "capture": False})
    assert hold.status_code == 201, hold.json
    before = snapshot(database)
    held = hub.call("DELETE", f"/v1/members/{world.member_id}")
    assert (held.status_code, held.json["error"]["code"]) == (409, "member_has_holds")
    assert snapshot(database) == before
    assert hub.call("GET", f"/v1/members/{world.member_id}").json["email"] == "ann@example.com"

    other, _ = hub.enrol(world.coffee, email="bo@example.com")
    headers = {"Idempotency-Key": "forget-bo"}
    first = hub.call("DELETE", f"/v1/members/{other}", headers=headers)
    assert first.status_code == 200
    after = snapshot(database)
    replay = hub.call("DELETE", f"/v1/members/{other}", headers=headers)
    assert (replay.status_code, replay.headers.get("Idempotent-Replayed")) == (200, "true")
    assert replay.json == first.json
    assert snapshot(database) == after
