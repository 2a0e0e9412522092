"""Canonical bytes, signatures and Merkle proofs of settlement statements.

Pure tests: no app, no database. Where a standard publishes examples (RFC 8785,
RFC 7638, RFC 6962 / Certificate Transparency), the test checks against those,
or against an independent and deliberately naive implementation written here,
so the code is not merely checked against itself.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from settlement.canonical import MAX_SAFE_INTEGER, canonical_bytes, sha256_hex
from settlement.merkle import (
    EMPTY_ROOT,
    inclusion_proof,
    merkle_root,
    section_index,
    section_leaves,
    verify_inclusion,
)
from settlement.signing import (
    ENV_VAR,
    BadSignature,
    InsecureKeyFile,
    KeyRing,
    KeyRingError,
    b64url_decode,
    b64url_encode,
    public_jwk,
    thumbprint,
    verify,
)

STATEMENT = {
    "sequence": 3,
    "network": "demo",
    "period": {"start": "2024-01-01T00:00:00Z", "end": "2024-02-01T00:00:00Z"},
    "currency": "EUR",
    "partners": [
        {"partner": "bakery", "issued": 1200, "redeemed": 300, "fee": "1.20", "net": "-4.05"},
        {"partner": "fuel", "issued": 500, "redeemed": 900, "fee": "0.50", "net": "4.05"},
    ],
    "previous_hash": "ab" * 32,
}


# ================================================================== canonical


def test_rfc8785_sorts_keys_by_utf16_code_units():
    # RFC 8785 section 3.2.3: the emoji (UTF-16 D83D DE00) sorts before U+FB33,
    # although its code point is higher, because keys compare as UTF-16.
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    order = [key for key in json.loads(canonical_bytes(obj))]
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_rfc8785_string_escaping_and_literals():
    # RFC 8785 section 3.2.2 example, without its floats (refused here).
    obj = {"string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/", "literals": [None, True, False]}
    expected = '{"literals":[null,true,false],"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    assert canonical_bytes(obj) == expected.encode("utf-8")


def test_rfc8785_non_ascii_is_raw_utf8_and_controls_are_lowercase_escapes():
    assert canonical_bytes("caf\u00e9 \U0001f600") == '"caf\u00e9 \U0001f600"'.encode("utf-8")
    assert canonical_bytes("\x1f\x7f") == b'"\\u001f\x7f"'  # DEL is not a control in JSON
    assert canonical_bytes("\b\f\t") == b'"\\b\\f\\t"'


def test_rfc8785_integers_and_nesting_have_no_whitespace():
    assert canonical_bytes({"b": [1, -0, 0, -7, 10**15], "a": {"z": 1, "y": {}}, "c": []}) == (
        b'{"a":{"y":{},"z":1},"b":[1,0,0,-7,1000000000000000],"c":[]}'
    )
    assert canonical_bytes(MAX_SAFE_INTEGER) == b"9007199254740991"
    assert canonical_bytes(-MAX_SAFE_INTEGER) == b"-9007199254740991"
    assert canonical_bytes((1, 2)) == b"[1,2]"


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        (1.5, "$"),
        (1.0, "$"),
        ({"partners": [{"fee": "1.00"}, {"fee": 0.1}]}, "$.partners[1].fee"),
        ({"matrix": [[1, 2.0]]}, "$.matrix[0][1]"),
        ({"a b": float("nan")}, "$['a b']"),
    ],
)
def test_floats_are_refused_with_their_path(obj, path):
    with pytest.raises(TypeError, match="float") as info:
        canonical_bytes(obj)
    assert str(info.value).startswith(f"{path}:")


@pytest.mark.parametrize("n", [MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1, 2**64])
def test_integers_beyond_the_ijson_range_are_refused(n):
    with pytest.raises(ValueError, match=r"\$\.points\[0\]: integer .* I-JSON safe range"):
        canonical_bytes({"points": [n]})


def test_other_types_are_refused_with_a_clear_error():
    with pytest.raises(TypeError, match=r"\$\.fee: Decimal .*decimal string"):
        canonical_bytes({"fee": Decimal("1.10")})
    with pytest.raises(TypeError, match="JSON keys are strings"):
        canonical_bytes({1: "one"})
    with pytest.raises(TypeError, match=r"\$\[0\]: set"):
        canonical_bytes([{1}])
    with pytest.raises(ValueError, match="lone surrogate"):
        canonical_bytes({"s": "\ud800"})


def test_sha256_hex_is_the_hash_of_the_canonical_bytes():
    assert sha256_hex(STATEMENT) == hashlib.sha256(canonical_bytes(STATEMENT)).hexdigest()
    assert sha256_hex({}) == hashlib.sha256(b"{}").hexdigest()


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=5),
    max_leaves=25,
)


def _reordered(value, rng):
    if isinstance(value, dict):
        items = [(key, _reordered(item, rng)) for key, item in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [_reordered(item, rng) for item in value]
    return value


@settings(max_examples=200, deadline=None)
@given(value=json_values, rng=st.randoms(use_true_random=False))
def test_canonical_bytes_do_not_depend_on_dict_order(value, rng):
    once = canonical_bytes(value)
    assert canonical_bytes(_reordered(value, rng)) == once
    # and they are JSON that reads back as the same value
    assert json.loads(once) == value


# ================================================================== signing


def _keyring(tmp_path, environ=None):
    return KeyRing(tmp_path / "settlement-keys", environ={} if environ is None else environ)


def _flip_char(text, i):
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    replacement = alphabet[(alphabet.index(text[i]) + 1) % len(alphabet)]
    return text[:i] + replacement + text[i + 1 :]


def test_sign_and_verify_round_trip(tmp_path):
    ring = _keyring(tmp_path)
    kid = ring.rotate()
    data = canonical_bytes(STATEMENT)
    signature = ring.sign(data)
    assert signature["alg"] == "Ed25519" and signature["key_id"] == kid
    assert "=" not in signature["value"] and len(b64url_decode(signature["value"])) == 64
    # Offline: the JWK set survives a trip through JSON, as a partner would receive it.
    jwks = json.loads(json.dumps(ring.jwks()))
    assert verify(data, signature, jwks) is None
    # and bare `cryptography` agrees, with nothing of ours in between
    raw_x = base64.urlsafe_b64decode(jwks["keys"][0]["x"] + "=")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    Ed25519PublicKey.from_public_bytes(raw_x).verify(
        base64.urlsafe_b64decode(signature["value"] + "=="), data
    )


def test_flipping_any_byte_of_the_data_or_the_signature_fails(tmp_path):
    ring = _keyring(tmp_path)
    ring.rotate()
    jwks = ring.jwks()
    data = canonical_bytes({"sequence": 1, "partners": [{"partner": "a", "net": "1.00"}]})
    signature = ring.sign(data)
    verify(data, signature, jwks)

    for i in range(len(data)):
        for mask in (0x01, 0x80):
            tampered = bytearray(data)
            tampered[i] ^= mask
            with pytest.raises(BadSignature, match="signature mismatch"):
                verify(bytes(tampered), signature, jwks)

    raw = b64url_decode(signature["value"])
    for i in range(len(raw)):
        for mask in (0x01, 0x80):
            tampered = bytearray(raw)
            tampered[i] ^= mask
            with pytest.raises(BadSignature, match="signature mismatch"):
                verify(data, {**signature, "value": b64url_encode(bytes(tampered))}, jwks)

    # every character of the text as sent: either not canonical base64url or a wrong signature
    for i in range(len(signature["value"])):
        with pytest.raises(BadSignature, match="malformed signature value|signature mismatch"):
            verify(data, {**signature, "value": _flip_char(signature["value"], i)}, jwks)


def test_verify_names_what_failed(tmp_path):
    ring = _keyring(tmp_path)
    kid = ring.rotate()
    jwks = ring.jwks()
    data = b"statement"
    signature = ring.sign(data)

    with pytest.raises(BadSignature, match="unknown key id"):
        verify(data, {**signature, "key_id": "A" * 43}, jwks)
    with pytest.raises(BadSignature, match="wrong alg"):
        verify(data, {**signature, "alg": "ES256"}, jwks)
    with pytest.raises(BadSignature, match="malformed signature value"):
        verify(data, {**signature, "value": signature["value"] + "=="}, jwks)
    with pytest.raises(BadSignature, match="malformed signature value"):
        verify(data, {**signature, "value": signature["value"][:-4]}, jwks)
    with pytest.raises(BadSignature, match="malformed signature value"):
        verify(data, {**signature, "value": None}, jwks)
    with pytest.raises(BadSignature, match="no key_id"):
        verify(data, {"alg": "Ed25519", "value": signature["value"]}, jwks)
    with pytest.raises(BadSignature, match="unknown key id"):
        verify(data, signature, {"keys": []})
    with pytest.raises(BadSignature, match="no keys list"):
        verify(data, signature, {})
    # a JWK set that labels another key with this kid is caught by the thumbprint
    other = public_jwk(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(BadSignature, match="not the RFC 7638 thumbprint"):
        verify(data, signature, {"keys": [{**other, "kid": kid}]})
    with pytest.raises(BadSignature, match="not an Ed25519 key"):
        verify(data, signature, {"keys": [{**jwks["keys"][0], "crv": "X25519"}]})


def test_a_statement_signed_with_a_rotated_out_key_still_verifies(tmp_path):
    ring = _keyring(tmp_path)
    old = ring.rotate()
    data = canonical_bytes(STATEMENT)
    old_signature = ring.sign(data)
    new = ring.rotate()
    assert new != old and ring.active_kid == new
    assert ring.sign(data)["key_id"] == new

    # a fresh process reading the same directory publishes both keys
    jwks = _keyring(tmp_path).jwks()
    assert sorted(jwk["kid"] for jwk in jwks["keys"]) == sorted([old, new])
    verify(data, old_signature, jwks)
    verify(data, ring.sign(data), jwks)


def test_a_running_ring_sees_a_rotation_made_by_another_process(tmp_path):
    serving = _keyring(tmp_path)
    first = serving.ensure_key()
    assert serving.ensure_key() == first
    second = _keyring(tmp_path).rotate()  # `coalition keys rotate`, elsewhere
    assert serving.active_kid == second
    assert {jwk["kid"] for jwk in serving.jwks()["keys"]} == {first, second}


def test_jwk_thumbprint_follows_rfc7638(tmp_path):
    key = Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    x = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    # RFC 7638 section 3: required members only, lexicographic order, no whitespace.
    members = '{"crv":"Ed25519","kty":"OKP","x":"' + x + '"}'
    expected = base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).decode().rstrip("=")
    assert thumbprint(key) == expected
    assert public_jwk(key) == {
        "kty": "OKP", "crv": "Ed25519", "x": x, "kid": expected, "use": "sig", "alg": "EdDSA"
    }


def test_jwk_thumbprint_of_the_rfc8037_example_key():
    # RFC 8037 appendix A.1 key; A.3 gives its thumbprint.
    x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    key = Ed25519PrivateKey.from_private_bytes(b64url_decode("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"))
    assert public_jwk(key.public_key())["x"] == x
    assert thumbprint(key.public_key()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_key_files_are_private_and_named_by_their_key_id(tmp_path):
    ring = _keyring(tmp_path)
    kid = ring.rotate()
    path = ring.directory / f"{kid}.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(ring.directory.stat().st_mode) & 0o077 == 0
    assert (ring.directory / "active").read_text().strip() == kid
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert thumbprint(key.public_key()) == kid


def test_key_files_are_0600_even_under_a_permissive_umask(tmp_path):
    previous = os.umask(0)
    try:
        kid = _keyring(tmp_path).rotate()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "settlement-keys" / f"{kid}.pem").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_file_open_to_group_or_others_is_refused(tmp_path, mode):
    kid = _keyring(tmp_path).rotate()
    os.chmod(tmp_path / "settlement-keys" / f"{kid}.pem", mode)
    ring = _keyring(tmp_path)
    with pytest.raises(InsecureKeyFile, match=f"readable by group/others \\(mode {mode:04o}\\).*chmod 600"):
        ring.sign(b"x")
    with pytest.raises(InsecureKeyFile):
        ring.jwks()


def test_a_key_file_whose_name_lies_is_refused(tmp_path):
    kid = _keyring(tmp_path).rotate()
    directory = tmp_path / "settlement-keys"
    impostor = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (directory / f"{kid}.pem").write_bytes(impostor)
    with pytest.raises(KeyRingError, match="another key than its name says"):
        _keyring(tmp_path).jwks()


def test_no_key_yet_is_a_clear_error(tmp_path):
    ring = _keyring(tmp_path)
    assert ring.active_kid is None
    assert ring.jwks() == {"keys": []}
    with pytest.raises(KeyRingError, match="no signing key.*coalition keys rotate"):
        ring.sign(b"x")


def _env_key():
    key = Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    return key, b64url_encode(raw)


def test_a_key_from_the_environment_is_the_active_one(tmp_path):
    old = _keyring(tmp_path).rotate()
    data = canonical_bytes(STATEMENT)
    old_signature = _keyring(tmp_path).sign(data)

    key, encoded = _env_key()
    ring = _keyring(tmp_path, {ENV_VAR: encoded})
    env_kid = thumbprint(key.public_key())
    assert ring.active_kid == env_kid
    signature = ring.sign(data)
    assert signature["key_id"] == env_kid
    jwks = ring.jwks()
    assert {jwk["kid"] for jwk in jwks["keys"]} == {old, env_kid}
    verify(data, signature, jwks)
    verify(data, old_signature, jwks)  # the directory's keys still verify
    with pytest.raises(KeyRingError, match=f"comes from {ENV_VAR}"):
        ring.rotate()

    # Once the environment moves on, what that key signed still verifies: its public half was kept.
    assert not (tmp_path / "settlement-keys" / f"{env_kid}.pem").exists()
    later = _keyring(tmp_path)
    assert later.active_kid == old
    verify(data, signature, later.jwks())


def test_the_environment_key_works_without_a_key_directory(tmp_path):
    _, encoded = _env_key()
    ring = KeyRing(tmp_path / "absent", environ={ENV_VAR: encoded + "="})  # padding tolerated
    verify(b"x", ring.sign(b"x"), ring.jwks())


@pytest.mark.parametrize(("value", "message"), [("not base64!", "not base64url"), ("AAAA", "decodes to 3 bytes")])
def test_a_bad_environment_key_is_refused_without_echoing_it(tmp_path, value, message):
    ring = _keyring(tmp_path, {ENV_VAR: value})
    with pytest.raises(KeyRingError, match=message) as info:
        ring.sign(b"x")
    assert value not in str(info.value)


def test_b64url_decoding_accepts_only_the_canonical_spelling():
    for data in (b"", b"\x00", b"\xff\xfe", bytes(range(64))):
        assert b64url_decode(b64url_encode(data)) == data
    for bad in ("AB=", "A", "AB C", "AB+/", "AF"):  # "AF": nonzero unused bits, the same byte as "AA"
        with pytest.raises(ValueError):
            b64url_decode(bad)


# ================================================================== Merkle


def _naive_mth(leaves):
    """RFC 6962 section 2.1, transcribed as literally as possible."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + _naive_mth(leaves[:k]) + _naive_mth(leaves[k:])).digest()


def _naive_path(m, leaves):
    """RFC 6962 section 2.1.1, PATH(m, D[n]), with the side of each sibling."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return _naive_path(m, leaves[:k]) + [{"side": "right", "hash": _naive_mth(leaves[k:]).hex()}]
    return _naive_path(m - k, leaves[k:]) + [{"side": "left", "hash": _naive_mth(leaves[:k]).hex()}]


# Certificate Transparency's reference inputs and tree heads for sizes 0..8.
CT_LEAVES = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f",
)]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_merkle_roots_match_the_certificate_transparency_vectors():
    for n, expected in enumerate(CT_ROOTS):
        assert merkle_root(CT_LEAVES[:n]) == expected
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").hexdigest()


def test_inclusion_proofs_match_the_certificate_transparency_vectors():
    assert [step["hash"] for step in inclusion_proof(CT_LEAVES, 0)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [step["hash"] for step in inclusion_proof(CT_LEAVES, 5)] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]


@pytest.mark.parametrize("n", range(1, 10))
def test_roots_and_proofs_agree_with_a_naive_rfc6962_for_1_to_9_leaves(n):
    leaves = [f"section-{i}".encode() for i in range(n)]
    root = merkle_root(leaves)
    assert root == _naive_mth(leaves).hex()
    for index, leaf in enumerate(leaves):
        proof = inclusion_proof(leaves, index)
        assert proof == _naive_path(index, leaves)  # the odd split's shape, step by step
        assert verify_inclusion(leaf, proof, root)


def test_odd_counts_split_at_a_power_of_two_and_do_not_duplicate_the_last_leaf():
    a, b, c = b"a", b"b", b"c"
    lh = lambda x: hashlib.sha256(b"\x00" + x).digest()  # noqa: E731
    nh = lambda l, r: hashlib.sha256(b"\x01" + l + r).digest()  # noqa: E731
    assert merkle_root([a, b, c]) == nh(nh(lh(a), lh(b)), lh(c)).hex()
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])
    # 5 leaves: the left subtree holds 4, the right one only the fifth leaf
    five = [b"1", b"2", b"3", b"4", b"5"]
    assert inclusion_proof(five, 4) == [{"side": "left", "hash": _naive_mth(five[:4]).hex()}]
    assert len(inclusion_proof(five, 0)) == 3


@pytest.mark.parametrize("n", range(1, 10))
def test_tampered_leaves_and_proofs_fail(n):
    leaves = [f"section-{i}".encode() for i in range(n)]
    root = merkle_root(leaves)
    for index, leaf in enumerate(leaves):
        proof = inclusion_proof(leaves, index)
        for i in range(len(leaf)):
            flipped = bytearray(leaf)
            flipped[i] ^= 0x01
            assert not verify_inclusion(bytes(flipped), proof, root)
        for s, step in enumerate(proof):
            raw = bytes.fromhex(step["hash"])
            for i in range(len(raw)):
                bad = bytearray(raw)
                bad[i] ^= 0x80
                tampered = [dict(p) for p in proof]
                tampered[s]["hash"] = bytes(bad).hex()
                assert not verify_inclusion(leaf, tampered, root)
            swapped = [dict(p) for p in proof]
            swapped[s]["side"] = "left" if step["side"] == "right" else "right"
            assert not verify_inclusion(leaf, swapped, root)
        if proof:
            assert not verify_inclusion(leaf, proof[:-1], root)
        assert not verify_inclusion(leaf, proof, ("0" if root[0] != "0" else "1") + root[1:])


def test_malformed_proofs_are_false_not_errors():
    leaves = [b"a", b"b", b"c"]
    root = merkle_root(leaves)
    proof = inclusion_proof(leaves, 0)
    assert verify_inclusion(b"a", proof, root)
    assert not verify_inclusion(b"a", proof, root.upper())
    assert not verify_inclusion(b"a", [{**proof[0], "hash": proof[0]["hash"].upper()}, *proof[1:]], root)
    for junk in (None, "x", [None], [{"side": "up", "hash": "00" * 32}], [{"side": "left"}], [{"side": "left", "hash": "zz"}]):
        assert not verify_inclusion(b"a", junk, root)
    assert not verify_inclusion("a", proof, root)
    with pytest.raises(IndexError):
        inclusion_proof(leaves, 3)
    with pytest.raises(IndexError):
        inclusion_proof([], 0)


def test_a_single_leaf_is_its_own_root():
    assert inclusion_proof([b"only"], 0) == []
    assert verify_inclusion(b"only", [], merkle_root([b"only"]))


def test_statement_sections_are_sorted_by_partner_before_hashing():
    sections = STATEMENT["partners"] + [{"partner": "apothecary", "issued": 0, "redeemed": 0, "fee": "0.00", "net": "0.00"}]
    leaves = section_leaves(sections)
    assert leaves == section_leaves(list(reversed(sections)))
    assert [json.loads(leaf)["partner"] for leaf in leaves] == ["apothecary", "bakery", "fuel"]
    root = merkle_root(leaves)
    # what a partner receives: its section, its proof, the signed root
    index = section_index(sections, "fuel")
    section = next(s for s in sections if s["partner"] == "fuel")
    assert verify_inclusion(canonical_bytes(section), inclusion_proof(leaves, index), root)
    changed = {**section, "net": "4.06"}
    assert not verify_inclusion(canonical_bytes(changed), inclusion_proof(leaves, index), root)
    with pytest.raises(KeyError):
        section_index(sections, "nobody")
    with pytest.raises(ValueError, match="repeat: fuel"):
        section_leaves(sections + [{"partner": "fuel"}])
    with pytest.raises(ValueError, match="no `partner`"):
        section_leaves([{"issued": 1}])


def test_a_directory_without_an_active_file(tmp_path):
    ring = _keyring(tmp_path)
    first = ring.rotate()
    (ring.directory / "active").unlink()
    assert _keyring(tmp_path).sign(b"x")["key_id"] == first  # one key copied by hand: it signs
    second = ring.rotate()
    (ring.directory / "active").unlink()
    with pytest.raises(KeyRingError, match="holds 2 keys and no `active` file"):
        _keyring(tmp_path).sign(b"x")
    (ring.directory / "active").write_text(first + "\n")
    assert _keyring(tmp_path).active_kid == first != second
    (ring.directory / "active").write_text("../../etc/passwd")
    with pytest.raises(KeyRingError, match="does not hold a key id"):
        _keyring(tmp_path).sign(b"x")
