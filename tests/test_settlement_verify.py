"""`coalition settlement verify`: offline checks of statements, sections and the chain, from files."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from settlement.verify import VerificationFailed, check


@pytest.fixture
def files(hub, clock, app, tmp_path):
    coffee, grocer = hub.create_partner("coffee"), hub.create_partner("grocer")
    hub.call("PUT", "/v1/partners/grocer/contract", json={"issue_fee": "0.001", "redeem_rate": "0.01",
                                                          "effective_from": (clock.now - timedelta(days=1)).isoformat()})
    _, card = hub.enrol(coffee)
    hub.sale(coffee, card, "100.00")
    hub.redeem(grocer, card, 40)
    clock.advance(hours=1)
    first = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()}).json
    app.extensions["coalition"].signing.rotate()
    hub.redeem(grocer, card, 20)
    clock.advance(hours=1)
    hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()})
    second = hub.call("GET", "/v1/settlement/statements/2").json
    section = hub.call("GET", "/v1/settlement/statements/2/partners/grocer", grocer).json
    keys = hub.client.get("/v1/settlement/keys").json
    paths = {}
    for name, document in (("first", first), ("second", second), ("section", section), ("keys", keys)):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(document))
    return paths


def verify(runner, *args):
    return runner.invoke(["settlement", "verify", *args])


def test_a_statement_its_chain_and_a_partners_section_verify_offline(runner, files):
    ok = verify(runner, files["second"], "--keys", files["keys"], "--previous", files["first"])
    assert ok.exit_code == 0, ok.output
    assert "chained to statement 1 by its hash" in ok.output
    section = verify(runner, files["section"], "--keys", files["keys"], "--previous", files["first"])
    assert section.exit_code == 0, section.output
    assert "section of 'grocer' included under the signed root" in section.output
    # statement 1 was signed with the key rotated out before statement 2: it still verifies
    assert verify(runner, files["first"], "--keys", files["keys"]).exit_code == 0


def test_the_wrong_predecessor_is_named(runner, files):
    wrong = verify(runner, files["second"], "--keys", files["keys"], "--previous", files["second"])
    assert wrong.exit_code == 1
    assert "does not follow statement 2" in wrong.output


@pytest.mark.parametrize("name", ["second", "section"])
def test_flipping_any_byte_fails_verification(files, name):
    keys = json.loads(files["keys"].read_text())
    data = files[name].read_bytes()
    for position in range(len(data)):
        flipped = bytearray(data)
        flipped[position] ^= 0x01
        try:
            document = json.loads(flipped)
        except ValueError:
            continue  # no longer JSON: the command says so and exits 1
        with pytest.raises(VerificationFailed):
            check(document, keys)


def test_a_file_that_is_not_a_statement_is_refused(runner, files, tmp_path):
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    refused = verify(runner, other, "--keys", files["keys"])
    assert refused.exit_code == 1 and "neither a signed statement" in refused.output


def test_keys_rotate_makes_a_new_active_key(app, runner):
    signing = app.extensions["coalition"].signing
    before = signing.ensure_key()
    result = runner.invoke(["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert signing.active_kid != before and signing.active_kid in result.output
