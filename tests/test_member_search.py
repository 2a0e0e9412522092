"""Finding a member by card or e-mail: the operator's search, which never decrypts anyone it did not find."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime, timezone

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.orm import Session

from network import create_app
from network.db import Database, make_engine
from network.ledger.invariants import violations
from network.members import privacy, search
from network.members.privacy import MasterKey
from network.models import Member
from network.schema import upgrade
from tests.support.cli import HubRunner
from tests.support.hub import ADMIN_TOKEN
from tests.support.ledger import snapshot


def email_hash(database, member_id):
    with database.engine.connect() as connection:
        return connection.execute(text("SELECT email_hash FROM members WHERE id = :id"), {"id": member_id}).scalar_one()


def found(hub, **query) -> list[dict]:
    answer = hub.call("GET", "/v1/members", query_string=query)
    assert answer.status_code == 200, answer.json
    assert answer.json["next"] is None
    return answer.json["items"]


def test_search_by_email_finds_the_member_and_decrypts_no_one_else(hub, world, app, monkeypatch):
    others = [hub.enrol(world.coffee, email=f"member{n}@example.com", name=f"Member {n}")[0] for n in range(6)]
    twin, _ = hub.enrol(world.grocer, email="Ann@Example.COM", name="Ann again")  # the same address, in other case
    unwrapped = []
    unwrap = MasterKey.unwrap
    monkeypatch.setattr(MasterKey, "unwrap", lambda self, wrapped: unwrapped.append(wrapped) or unwrap(self, wrapped))
    items = found(hub, email="ANN@example.com")
    assert [item["member_id"] for item in items] == sorted([world.member_id, twin])  # in member id order
    by_id = {item["member_id"]: item for item in items}
    assert (by_id[world.member_id]["email"], by_id[world.member_id]["name"]) == ("ann@example.com", "Ann")
    assert (by_id[twin]["email"], by_id[twin]["name"]) == ("Ann@Example.COM", "Ann again")
    assert by_id[world.member_id]["cards"][0]["number"] == world.card  # the operator sees cards in full
    assert by_id[world.member_id]["merged_into"] is None
    assert len(unwrapped) == 2  # one data key per member found: the six others were never decrypted
    unwrapped.clear()
    assert found(hub, email="nobody@example.com") == [] and unwrapped == []
    assert [item["member_id"] for item in found(hub, email="member3@example.com")] == [others[3]]


def test_the_hash_is_keyed_and_the_same_for_one_address_in_any_case(hub, world, database, app):
    twin, _ = hub.enrol(email="ann@EXAMPLE.com", name="Twin")
    stored = email_hash(database, world.member_id)
    assert re.fullmatch("[0-9a-f]{64}", stored) and stored == email_hash(database, twin)
    master = app.extensions["coalition.master_key"]
    assert stored == master.email_hash(" Ann@example.com ")
    assert stored != hashlib.sha256(b"ann@example.com").hexdigest()  # keyed: no guessing addresses from the column
    assert MasterKey.of(Fernet.generate_key()).email_hash("ann@example.com") != stored
    nameless, _ = hub.enrol(world.coffee)
    assert email_hash(database, nameless) is None


def test_paging_through_members_with_one_address(hub, world):
    more = [hub.enrol(world.coffee, email="ann@example.com")[0] for _ in range(4)]
    seen, path = [], "/v1/members?email=ann%40example.com&limit=2"
    while path:
        page = hub.call("GET", path).json
        assert len(page["items"]) <= 2
        seen += [item["member_id"] for item in page["items"]]
        path = page["next"]
        assert path is None or "email=ann%40example.com" in path  # the filter goes on in the link
    assert seen == sorted([world.member_id, *more])


def test_search_by_card_finds_its_holder_blocked_or_merged(hub, world):
    assert [item["member_id"] for item in found(hub, card=world.card)] == [world.member_id]
    other, other_card = hub.enrol(world.coffee, email="bob@example.com", name="Bob")
    assert hub.call("POST", f"/v1/cards/{other_card}/block", world.coffee, json={"reason": "lost"}).status_code == 200
    [bob] = found(hub, card=other_card)  # a blocked card is what a member calls about
    assert (bob["member_id"], bob["email"], bob["cards"][0]["status"]) == (other, "bob@example.com", "blocked")
    assert hub.call("POST", f"/v1/members/{world.member_id}/merge", json={"member_id": other}).status_code == 200
    [holder] = found(hub, card=other_card)  # the merge moved Bob's card: it leads to the survivor
    assert holder["member_id"] == world.member_id and {c["number"] for c in holder["cards"]} == {world.card, other_card}
    [merged] = found(hub, email="bob@example.com")  # by e-mail, Bob himself, with where his points went
    assert (merged["member_id"], merged["merged_into"], merged["cards"]) == (other, world.member_id, [])
    assert found(hub, card="7000000000000005") == []  # a valid number nobody holds: nothing found, not an error


def test_a_search_gives_exactly_one_of_card_or_email(hub, world, database):
    before = snapshot(database)
    refusals = (
        (f"card={world.card}&email=ann%40example.com", ["card", "email"]), ("", ["card", "email"]),
        ("limit=5", ["card", "email"]), ("card=7000000000000009", ["card"]), ("card=12", ["card"]),
        ("email=not-an-address", ["email"]), ("email=" + "a" * 320 + "%40x.io", ["email"]),
        ("email=ann%40example.com&cursor=abc", ["cursor"]), ("email=ann%40example.com&limit=0", ["limit"]),
        ("name=Ann", ["name"]),
    )
    for query, fields in refusals:
        refused = hub.call("GET", f"/v1/members?{query}")
        assert refused.status_code == 422, (query, refused.json)
        assert sorted(refused.json["error"]["details"]) == fields, query
    assert snapshot(database) == before


def test_partners_may_not_search_members(hub, world):
    for key in (world.coffee, world.grocer):
        refused = hub.call("GET", "/v1/members", key, query_string={"card": world.card})
        assert (refused.status_code, refused.json["error"]["code"]) == (403, "wrong_role")
        assert "ann@example.com" not in refused.get_data(as_text=True)
    assert hub.client.get(f"/v1/members?card={world.card}").status_code == 401


def test_erasing_a_member_removes_its_search_hash(hub, world, database):
    assert email_hash(database, world.member_id) is not None
    assert hub.call("DELETE", f"/v1/members/{world.member_id}").status_code == 200
    assert email_hash(database, world.member_id) is None
    assert found(hub, email="ann@example.com") == []
    assert found(hub, card=world.card) == []  # the deleted member's (blocked) card finds no one either


def test_a_key_rotation_keeps_members_found_and_hashes_them_again(database, clock, tmp_path):
    old, new = Fernet.generate_key(), Fernet.generate_key()
    with database.sessions() as session:
        session.execute(Member.__table__.insert().values(id="zoe", created_at=clock.now))
        sealed = privacy.seal(session, MasterKey.of(old), "zoe", email="Zoe@example.com", name="Zoé", now=clock.now)
        session.execute(Member.__table__.update().where(Member.id == "zoe").values(**sealed))
        session.commit()
    both = MasterKey.of(new, old)  # mid-rotation: the new key first, the old one still there
    with database.sessions() as session:
        assert [m.id for m in search.by_email(session, both, "zoe@example.com", after=None, limit=5)] == ["zoe"]
        assert search.by_email(session, MasterKey.of(new), "zoe@example.com", after=None, limit=5) == []
    app = create_app({"TESTING": True, "DATABASE": database, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN, "CLOCK": clock,
                      "COALITION_SIGNING_KEYS_DIR": str(tmp_path / "keys"),
                      "COALITION_MASTER_KEY_FILE": str(tmp_path / "unused.key")})
    app.extensions["coalition.master_key"] = both
    assert HubRunner(app).invoke(["members", "rewrap-keys"], catch_exceptions=False).exit_code == 0
    assert email_hash(database, "zoe") == MasterKey.of(new).email_hash("zoe@example.com")
    with database.sessions() as session:  # the old key dropped: found under the new one alone
        [zoe] = search.by_email(session, MasterKey.of(new), "ZOE@example.com", after=None, limit=5)
        assert privacy.reveal(session, MasterKey.of(new), zoe) == {"email": "Zoe@example.com", "name": "Zoé"}


def test_the_migration_hashes_existing_members_or_refuses_without_a_key(tmp_path, monkeypatch):
    monkeypatch.delenv(privacy.ENV_VAR, raising=False)
    key_file = str(tmp_path / "master.key")
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0010")
    master = MasterKey(key_file, environ={})
    with Session(engine) as session:  # members as revision 0010 holds them: encrypted, with no search hash
        session.execute(text("INSERT INTO members (id, created_at) VALUES ('m1', '2025-01-01 00:00:00'), "
                             "('m2', '2025-01-01 00:00:00')"))
        sealed = privacy.seal(session, master, "m1", email="Old@Example.com", name="Olga",
                              now=datetime(2025, 1, 1, tzinfo=timezone.utc))
        session.execute(text("UPDATE members SET email = :email, name = :name WHERE id = 'm1'"),
                        {"email": sealed["email"], "name": sealed["name"]})
        session.commit()
    with pytest.raises(RuntimeError, match="COALITION_MASTER_KEY"):
        upgrade(engine, "head")
    with engine.connect() as connection:  # nothing changed: no column yet
        assert "email_hash" not in {row[1] for row in connection.execute(text("PRAGMA table_info(members)"))}
    upgrade(engine, "head", master_key_file=key_file)
    db = Database(engine)
    with db.session() as session:
        assert [m.id for m in search.by_email(session, master, "old@example.com", after=None, limit=5)] == ["m1"]
        assert session.get(Member, "m2").email_hash is None
        assert not violations(session)
    engine.dispose()
