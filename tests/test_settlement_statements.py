"""Signed statements over HTTP: closing periods, the chain, the JWK set, partner sections with proofs, rotation."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from settlement.canonical import canonical_bytes, sha256_hex
from settlement.figures import Period, settle
from settlement.merkle import merkle_root, section_leaves, verify_inclusion
from settlement.signing import BadSignature, verify
from settlement.statement import build


def run(hub, end):
    return hub.call("POST", "/v1/settlement/runs", json={"end": end.isoformat()})


@pytest.fixture
def activity(hub, clock):
    coffee, grocer = hub.create_partner("coffee"), hub.create_partner("grocer")
    for slug, fee, rate in (("coffee", "0.002", "0.010"), ("grocer", "0.001", "0.008")):
        hub.call("PUT", f"/v1/partners/{slug}/contract",
                 json={"issue_fee": fee, "redeem_rate": rate, "effective_from": (clock.now - timedelta(days=1)).isoformat()})
    _, card = hub.enrol(coffee)
    hub.sale(coffee, card, "200.00")
    hub.redeem(grocer, card, 150)
    clock.advance(hours=1)
    return {"coffee": coffee, "grocer": grocer, "card": card}


def test_a_period_must_be_over_before_it_is_closed(hub, clock, activity):
    for end in (clock.now + timedelta(minutes=5), clock.now - timedelta(seconds=30)):
        refused = run(hub, end)
        assert refused.status_code == 422
        assert refused.json["error"]["code"] == "period_not_over"
    assert hub.call("POST", "/v1/settlement/runs", activity["coffee"], json={"end": clock.now.isoformat()}).status_code == 403
    assert hub.call("GET", "/v1/settlement/statements/1").status_code == 404


def test_statements_are_signed_chained_and_verify_offline_with_the_published_keys(hub, clock, activity, database):
    end1 = clock.now - timedelta(minutes=5)
    first = run(hub, end1)
    assert first.status_code == 201, first.json
    statement, signature = first.json["statement"], first.json["signature"]
    assert statement["sequence"] == 1 and statement["previous_hash"] is None
    assert statement["period"] == {"start": None, "end": "2026-03-14T10:25:00Z"}
    assert statement["merkle_root"] == merkle_root(section_leaves(statement["partners"]))
    assert statement["obligations"] == [{"from": "coffee", "to": "grocer", "amount": "1.20"}]
    keys = hub.client.get("/v1/settlement/keys").json  # no authentication
    assert keys["keys"][0]["kty"] == "OKP" and keys["keys"][0]["crv"] == "Ed25519"
    assert signature["alg"] == "Ed25519" and signature["key_id"] == keys["keys"][0]["kid"]
    verify(canonical_bytes(statement), signature, keys)
    tampered = json.loads(json.dumps(statement))
    tampered["partners"][0]["net"] = "0.00"
    with pytest.raises(BadSignature):
        verify(canonical_bytes(tampered), signature, keys)
    assert hub.call("GET", "/v1/settlement/statements/1").json == {**first.json, "acknowledgements": []}

    closed = run(hub, end1)
    assert closed.status_code == 422 and closed.json["error"]["code"] == "period_closed"

    # Activity after the first end belongs to the second period; the first re-reads byte for byte.
    hub.redeem(activity["coffee"], activity["card"], 10)
    clock.advance(hours=1)
    second = run(hub, clock.now - timedelta(minutes=5)).json["statement"]
    assert second["sequence"] == 2
    assert second["period"]["start"] == statement["period"]["end"]
    assert second["previous_hash"] == sha256_hex(statement)
    with database.session() as session:
        again = build(settle(session, Period(None, end1), "EUR"), sequence=1, network=statement["network"],
                      slugs={1: "coffee", 2: "grocer"}, previous_hash=None)
    again["merkle_root"] = merkle_root(section_leaves(again["partners"]))
    assert canonical_bytes(again) == canonical_bytes(statement)


def test_a_partner_gets_its_own_section_with_a_proof_against_the_signed_root(hub, clock, activity):
    signed = run(hub, clock.now - timedelta(minutes=5)).json
    own = hub.call("GET", "/v1/settlement/statements/1/partners/grocer", activity["grocer"])
    assert own.status_code == 200, own.json
    body = own.json
    assert body["section"]["partner"] == "grocer" and body["section"]["net"] == "1.20"
    assert body["merkle_root"] == signed["statement"]["merkle_root"] == body["signed_root"]["merkle_root"]
    assert body["signed_root"]["previous_hash"] is None and body["signed_root"]["sequence"] == 1
    keys = hub.client.get("/v1/settlement/keys").json
    verify(canonical_bytes(body["signed_root"]), body["signature"], keys)  # with the partner's data alone
    assert verify_inclusion(canonical_bytes(body["section"]), body["proof"], body["merkle_root"])
    forged = dict(body["section"], net="99.00")
    assert not verify_inclusion(canonical_bytes(forged), body["proof"], body["merkle_root"])
    assert "coffee" not in json.dumps(body["proof"])
    assert hub.call("GET", "/v1/settlement/statements/1/partners/coffee", activity["grocer"]).status_code == 403
    assert hub.call("GET", "/v1/settlement/statements/1/partners/nobody").status_code == 404
    assert hub.call("GET", "/v1/settlement/statements/1", activity["grocer"]).status_code == 403


def test_a_statement_signed_before_a_key_rotation_still_verifies(hub, clock, activity, app):
    first = run(hub, clock.now - timedelta(minutes=30)).json
    app.extensions["coalition"].signing.rotate()
    second = run(hub, clock.now - timedelta(minutes=5)).json
    assert second["signature"]["key_id"] != first["signature"]["key_id"]
    keys = hub.client.get("/v1/settlement/keys").json
    assert len(keys["keys"]) == 2
    for signed in (first, second):
        verify(canonical_bytes(signed["statement"]), signed["signature"], keys)


def test_partners_countersign_a_statements_hash_and_the_statement_lists_them(hub, clock, activity, database):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from settlement.signing import b64url_encode
    from tests.support.ledger import snapshot

    run(hub, clock.now - timedelta(minutes=5))
    grocer_key = Ed25519PrivateKey.generate()
    public = b64url_encode(grocer_key.public_key().public_bytes_raw())
    digest = hub.call("GET", "/v1/settlement/statements/1/partners/grocer", activity["grocer"]).json["statement_hash"]
    assert digest == sha256_hex(hub.call("GET", "/v1/settlement/statements/1").json["statement"])

    def ack(signature, statement_hash=digest, key=activity["grocer"]):
        return hub.call("POST", "/v1/settlement/statements/1/acknowledgements", key,
                        json={"statement_hash": statement_hash, "signature": signature})

    signature = b64url_encode(grocer_key.sign(digest.encode()))
    assert ack(signature).json["error"]["code"] == "no_public_key"
    assert hub.call("PUT", "/v1/partners/grocer/public-key", activity["grocer"], json={"public_key": "short"}).status_code == 422
    assert hub.call("PUT", "/v1/partners/coffee/public-key", activity["grocer"], json={"public_key": public}).status_code == 403
    assert hub.call("PUT", "/v1/partners/grocer/public-key", activity["grocer"], json={"public_key": public}).status_code == 200
    before = snapshot(database)
    assert ack(signature, statement_hash="0" * 64).json["error"]["code"] == "hash_mismatch"
    forged = b64url_encode(Ed25519PrivateKey.generate().sign(digest.encode()))
    assert ack(forged).json["error"]["code"] == "bad_countersignature"
    assert snapshot(database) == before
    assert ack(signature).status_code == 201
    assert ack(signature).json["error"]["code"] == "already_acknowledged"
    listed = hub.call("GET", "/v1/settlement/statements/1").json["acknowledgements"]
    assert [(a["partner"], a["statement_hash"], a["signature"]) for a in listed] == [("grocer", digest, signature)]


def test_acknowledgements_verify_offline_with_the_key_kept_beside_them(hub, clock, activity, runner, tmp_path):
    """`coalition settlement verify` checks each countersignature, still after the partner registers a new key."""
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from settlement.signing import b64url_encode

    run(hub, clock.now - timedelta(minutes=5))
    first, second = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()

    def register(key):
        public = b64url_encode(key.public_key().public_bytes_raw())
        assert hub.call("PUT", "/v1/partners/grocer/public-key", activity["grocer"], json={"public_key": public}).status_code == 200

    register(first)
    digest = sha256_hex(hub.call("GET", "/v1/settlement/statements/1").json["statement"])
    assert hub.call("POST", "/v1/settlement/statements/1/acknowledgements", activity["grocer"], json={
        "statement_hash": digest, "signature": b64url_encode(first.sign(digest.encode()))}).status_code == 201
    register(second)  # after acknowledging: the acknowledgement keeps the first
    signed = hub.call("GET", "/v1/settlement/statements/1").json
    assert signed["acknowledgements"][0]["public_key"] == b64url_encode(first.public_key().public_bytes_raw())
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps(hub.client.get("/v1/settlement/keys").json))

    def verify(document, *more):
        path = tmp_path / f"statement-{len(list(tmp_path.iterdir()))}.json"
        path.write_text(json.dumps(document))
        return runner.invoke(["settlement", "verify", str(path), "--keys", str(keys), *more])

    held = verify(signed)
    assert held.exit_code == 0, held.output
    assert "ok    acknowledged by 'grocer': its countersignature holds under the key kept with it" in held.output
    # The finance team's own copy of the grocer's key, now the second: the first's countersignature fails under it.
    copy = tmp_path / "partner-keys.json"
    copy.write_text(json.dumps({"grocer": b64url_encode(second.public_key().public_bytes_raw())}))
    failed = verify(signed, "--partner-keys", str(copy))
    assert failed.exit_code == 1 and "FAIL  'grocer''s acknowledgement: the countersignature does not hold" in failed.output
    tampered = {**signed, "acknowledgements": [{**signed["acknowledgements"][0], "statement_hash": "0" * 64}]}
    assert "acknowledged another statement" in verify(tampered).output
    forged = {**signed, "acknowledgements": [{**signed["acknowledgements"][0],
                                              "signature": b64url_encode(second.sign(digest.encode()))}]}
    assert verify(forged).exit_code == 1


def test_a_contract_version_inside_a_closed_period_is_refused(hub, clock, activity, database):
    from tests.support.ledger import snapshot

    end = clock.now - timedelta(minutes=5)
    assert run(hub, end).status_code == 201
    before = snapshot(database)
    inside = hub.call("PUT", "/v1/partners/coffee/contract", json={
        "issue_fee": "0.001", "redeem_rate": "0.002", "effective_from": (end - timedelta(seconds=1)).isoformat()})
    assert (inside.status_code, inside.json["error"]["code"]) == (422, "period_closed")
    assert "effective_from" in inside.json["error"]["details"]
    assert snapshot(database) == before
    # From where the statement ended on, it is the open period's.
    at_end = hub.call("PUT", "/v1/partners/coffee/contract", json={
        "issue_fee": "0.001", "redeem_rate": "0.002", "effective_from": end.isoformat()})
    assert at_end.status_code == 201, at_end.json
