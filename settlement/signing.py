"""The hub's Ed25519 signing keys, and offline verification against a JWK set.

Why it is shaped this way:

- A key id is the key's RFC 7638 JWK thumbprint, so it is derived from the key
  and cannot be mislabelled: anybody holding the public key can recompute it,
  and `verify` does, so a JWK set with a wrong `kid` fails loudly.
- Private keys never enter the database. They live in a directory (the hub's
  instance folder `settlement-keys/` by default), one PEM file per key, mode
  0600; a file that group or others can read is refused rather than used,
  because a signing key anyone on the host could copy signs nothing.
- Rotation keeps old keys: statements signed years ago must still verify
  against the JWK set the hub publishes.
- For deployments whose file system is not private (containers, several hosts
  behind a load balancer) the active key may instead come from the environment
  (`COALITION_SIGNING_KEY`); the directory's keys keep verifying, and the
  environment key's public half is recorded in the directory (as
  `<kid>.pub.pem`) when it first signs, so it still verifies after the
  environment moves on to another key.
- `verify` needs nothing but the data, the signature object and a JWK set, so
  a partner's finance team can check a statement with no access to the hub.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
import re
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from settlement.canonical import canonical_bytes

__all__ = [
    "ALG",
    "ENV_VAR",
    "BadSignature",
    "InsecureKeyFile",
    "KeyRing",
    "KeyRingError",
    "b64url_decode",
    "b64url_encode",
    "public_jwk",
    "thumbprint",
    "verify",
]

log = logging.getLogger(__name__)

ALG = "Ed25519"
JWK_ALG = "EdDSA"  # RFC 8037's JOSE name for the algorithm; the signature object names the curve.
ENV_VAR = "COALITION_SIGNING_KEY"
DEFAULT_DIRNAME = "settlement-keys"
ACTIVE_FILE = "active"
PRIVATE_SUFFIX = ".pem"
PUBLIC_SUFFIX = ".pub.pem"

_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_KID = re.compile(r"[A-Za-z0-9_-]{43}")  # base64url of a 32-byte SHA-256, no padding


class BadSignature(Exception):
    """A signature did not verify; the message says which check failed."""


class KeyRingError(Exception):
    """The key directory or the environment key cannot be used as it is."""


class InsecureKeyFile(KeyRingError, PermissionError):
    """A private key file is accessible to group or others."""


# ------------------------------------------------------------------ encoding


def b64url_encode(data: bytes) -> str:
    """base64url without padding, as JOSE writes every binary value."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict inverse of `b64url_encode`.

    Only the one canonical spelling is accepted: Python's decoder would ignore
    stray characters and the unused low bits of the last character, so two
    different texts would decode to the same signature and a changed byte of a
    signed document could go unnoticed.
    """
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise ValueError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("not unpadded base64url") from None
    if b64url_encode(data) != text:
        raise ValueError("not the canonical base64url spelling")
    return data


# ------------------------------------------------------------------ JWK


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def thumbprint(key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint: base64url SHA-256 of the required members, canonically ordered.

    RFC 7638 fixes the members (crv, kty, x for OKP keys, RFC 8037 section 2)
    and their serialisation (sorted, no whitespace), which for these ASCII
    members is exactly RFC 8785's output.
    """
    required = {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(_raw_public(key))}
    return b64url_encode(hashlib.sha256(canonical_bytes(required)).digest())


def public_jwk(key: Ed25519PublicKey) -> dict[str, str]:
    """The RFC 8037 JWK of a public key, as published in the hub's JWK set."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": b64url_encode(_raw_public(key)),
        "kid": thumbprint(key),
        "use": "sig",
        "alg": JWK_ALG,
    }


def _jwk_public_key(jwk: Any) -> Ed25519PublicKey:
    if not isinstance(jwk, Mapping):
        raise BadSignature("the key for this key id is not a JWK object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise BadSignature(
            f"the key for this key id is not an Ed25519 key (kty {jwk.get('kty')!r}, crv {jwk.get('crv')!r})"
        )
    if jwk.get("alg") not in (None, JWK_ALG):
        raise BadSignature(f"the key for this key id is for alg {jwk.get('alg')!r}, not {JWK_ALG}")
    if jwk.get("use") not in (None, "sig"):
        raise BadSignature(f"the key for this key id is for use {jwk.get('use')!r}, not sig")
    try:
        raw = b64url_decode(jwk.get("x"))
        if len(raw) != 32:
            raise ValueError
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise BadSignature("the key for this key id has a malformed x (want 32 bytes, base64url)") from None


# ------------------------------------------------------------------ verification


def verify(data: bytes, signature: Mapping[str, Any], jwks: Mapping[str, Any]) -> None:
    """Check `signature` over `data` with a key from `jwks`; return None or raise BadSignature.

    Needs no hub and no key directory: a statement's reader has only the signed
    bytes, the signature object and the published JWK set.
    """
    if not isinstance(signature, Mapping):
        raise BadSignature("the signature is not an object with alg, key_id and value")
    alg = signature.get("alg")
    if alg != ALG:
        raise BadSignature(f"wrong alg: {alg!r}, expected {ALG!r}")
    kid = signature.get("key_id")
    if not isinstance(kid, str) or not kid:
        raise BadSignature("the signature has no key_id")
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    if not isinstance(keys, list):
        raise BadSignature("the JWK set has no keys list")
    matches = [jwk for jwk in keys if isinstance(jwk, Mapping) and jwk.get("kid") == kid]
    if not matches:
        raise BadSignature(f"unknown key id {kid!r}: not in the JWK set")
    if len(matches) > 1:
        raise BadSignature(f"key id {kid!r} appears more than once in the JWK set")
    public = _jwk_public_key(matches[0])
    if thumbprint(public) != kid:
        raise BadSignature(f"key id {kid!r} is not the RFC 7638 thumbprint of its key in the JWK set")
    try:
        raw = b64url_decode(signature.get("value"))
    except ValueError as exc:
        raise BadSignature(f"malformed signature value: {exc}") from None
    if len(raw) != 64:
        raise BadSignature(f"malformed signature value: {len(raw)} bytes, an Ed25519 signature has 64")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError("verify() signs bytes: pass the canonical bytes of the statement")
    try:
        public.verify(raw, bytes(data))
    except InvalidSignature:
        raise BadSignature(f"signature mismatch: the data was not signed by key {kid!r}") from None


# ------------------------------------------------------------------ the key ring


class KeyRing:
    """The hub's signing keys: a directory of PEM files, plus possibly one key from the environment.

    The directory is re-read whenever it (or its `active` file) changes, so a
    `coalition keys rotate` in another process is seen by running workers
    without a restart and their JWK sets stay complete.
    """

    def __init__(self, directory: str | os.PathLike[str], environ: Mapping[str, str] | None = None):
        self.directory = Path(directory)
        self._environ = os.environ if environ is None else environ
        self._stamp: tuple | None = None
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._public: dict[str, Ed25519PublicKey] = {}
        self._dir_active: str | None = None
        self._env_key: tuple[str, Ed25519PrivateKey] | None = None
        self._env_loaded = False

    # -- reading

    @property
    def active_kid(self) -> str | None:
        """The key id new statements are signed with, or None when there is no key yet."""
        env = self._environment_key()
        if env is not None:
            return env[0]
        self._refresh()
        return self._dir_active

    def kids(self) -> list[str]:
        """Every key id that verifies, sorted (so the JWK set is stable from call to call)."""
        self._refresh()
        known = set(self._public)
        env = self._environment_key()
        if env is not None:
            known.add(env[0])
        return sorted(known)

    def public_key(self, kid: str) -> Ed25519PublicKey:
        env = self._environment_key()
        if env is not None and env[0] == kid:
            return env[1].public_key()
        self._refresh()
        try:
            return self._public[kid]
        except KeyError:
            raise KeyRingError(f"unknown key id {kid!r}") from None

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The RFC 8037 JWK set of every key that verifies (what `GET /v1/settlement/keys` serves)."""
        return {"keys": [public_jwk(self.public_key(kid)) for kid in self.kids()]}

    # -- signing

    def sign(self, data: bytes) -> dict[str, str]:
        """Sign `data` (the canonical bytes of a statement) with the active key."""
        kid, key = self._active_private()
        return {"alg": ALG, "key_id": kid, "value": b64url_encode(key.sign(bytes(data)))}

    # -- writing

    def rotate(self) -> str:
        """Make a new key in the directory and make it the active one; older keys keep verifying."""
        if self._environment_key() is not None:
            raise KeyRingError(
                f"the active key comes from {ENV_VAR}; rotate it there (a key made in "
                f"{self.directory} would not be used while {ENV_VAR} is set)"
            )
        key = Ed25519PrivateKey.generate()
        kid = thumbprint(key.public_key())
        self._ensure_directory()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_new(self.directory / f"{kid}{PRIVATE_SUFFIX}", pem, 0o600)
        _write_replace(self.directory / ACTIVE_FILE, (kid + "\n").encode("ascii"))
        self._stamp = None
        return kid

    def ensure_key(self) -> str:
        """The active key id, making a first key if there is none (zero set-up for a new hub)."""
        kid = self.active_kid
        return kid if kid is not None else self.rotate()

    # -- internals

    def _active_private(self) -> tuple[str, Ed25519PrivateKey]:
        env = self._environment_key()
        if env is not None:
            self._record_public(*env)
            return env
        self._refresh()
        kid = self._dir_active
        if kid is None and self._private:
            raise KeyRingError(
                f"{self.directory} holds {len(self._private)} keys and no `{ACTIVE_FILE}` file naming "
                "the one to sign with: write its key id there, or run `coalition keys rotate`"
            )
        if kid is None:
            raise KeyRingError(
                f"no signing key: run `coalition keys rotate` (makes one in {self.directory}) or set {ENV_VAR}"
            )
        if kid not in self._private:
            raise KeyRingError(
                f"the active key {kid!r} has only a public key in {self.directory}; it cannot sign"
            )
        return kid, self._private[kid]

    def _environment_key(self) -> tuple[str, Ed25519PrivateKey] | None:
        if not self._env_loaded:
            value = self._environ.get(ENV_VAR)
            if value:
                # Never echo the value: it is the private key.
                try:
                    raw = b64url_decode(value.strip().rstrip("="))
                except ValueError:
                    raise KeyRingError(f"{ENV_VAR} is not base64url") from None
                if len(raw) != 32:
                    raise KeyRingError(
                        f"{ENV_VAR} decodes to {len(raw)} bytes; an Ed25519 private key has 32"
                    )
                key = Ed25519PrivateKey.from_private_bytes(raw)
                self._env_key = (thumbprint(key.public_key()), key)
            self._env_loaded = True
        return self._env_key

    def _record_public(self, kid: str, key: Ed25519PrivateKey) -> None:
        """Keep the environment key's public half in the directory, so it verifies after it is replaced."""
        self._refresh()
        if kid in self._public:
            return
        try:
            self._ensure_directory()
            pem = key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            _write_new(self.directory / f"{kid}{PUBLIC_SUFFIX}", pem, 0o644)
        except FileExistsError:
            pass
        except OSError as exc:
            # Signing must not fail on a read-only file system; the key still verifies
            # for as long as the environment holds it.
            log.warning("could not record the public key %s in %s: %s", kid, self.directory, exc)
        self._stamp = None

    def _ensure_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _refresh(self) -> None:
        stamp = (_mtime(self.directory), _mtime(self.directory / ACTIVE_FILE))
        if stamp == self._stamp and stamp[0] is not None:
            return
        private: dict[str, Ed25519PrivateKey] = {}
        public: dict[str, Ed25519PublicKey] = {}
        active = None
        if self.directory.is_dir():
            for path in sorted(self.directory.iterdir()):
                name = path.name
                if name.endswith(PUBLIC_SUFFIX):
                    kid = name[: -len(PUBLIC_SUFFIX)]
                    if _KID.fullmatch(kid):
                        public[kid] = self._load_public(path, kid)
                elif name.endswith(PRIVATE_SUFFIX):
                    kid = name[: -len(PRIVATE_SUFFIX)]
                    if _KID.fullmatch(kid):
                        private[kid] = self._load_private(path, kid)
                        public[kid] = private[kid].public_key()
            active = self._read_active(private, public)
        self._private, self._public, self._dir_active = private, public, active
        self._stamp = stamp

    def _read_active(self, private, public) -> str | None:
        path = self.directory / ACTIVE_FILE
        try:
            kid = path.read_text(encoding="ascii").strip()
        except FileNotFoundError:
            # A directory with a single key and no `active` file (copied by hand) signs with it.
            return next(iter(private)) if len(private) == 1 else None
        except (OSError, UnicodeDecodeError) as exc:
            raise KeyRingError(f"cannot read {path}: {exc}") from None
        if not _KID.fullmatch(kid):
            raise KeyRingError(f"{path} does not hold a key id")
        if kid not in public:
            raise KeyRingError(f"{path} names key {kid!r}, but {self.directory} has no {kid}{PRIVATE_SUFFIX}")
        return kid

    @staticmethod
    def _load_private(path: Path, kid: str) -> Ed25519PrivateKey:
        # Check the mode on the open descriptor, so the file checked is the file read.
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise KeyRingError(f"cannot open key file {path}: {exc}") from None
        with os.fdopen(fd, "rb") as handle:
            mode = stat.S_IMODE(os.fstat(fd).st_mode)
            if os.name == "posix" and mode & 0o077:
                raise InsecureKeyFile(
                    f"key file {path} is readable by group/others (mode {mode:04o}); "
                    f"it must be readable by its owner only: chmod 600 {path}"
                )
            pem = handle.read()
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise KeyRingError(f"key file {path} is not an unencrypted PEM private key: {exc}") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyRingError(f"key file {path} is not an Ed25519 key")
        if thumbprint(key.public_key()) != kid:
            raise KeyRingError(f"key file {path} holds another key than its name says (its key id is not {kid})")
        return key

    @staticmethod
    def _load_public(path: Path, kid: str) -> Ed25519PublicKey:
        try:
            key = serialization.load_pem_public_key(path.read_bytes())
        except (OSError, ValueError) as exc:
            raise KeyRingError(f"public key file {path} cannot be read: {exc}") from None
        if not isinstance(key, Ed25519PublicKey):
            raise KeyRingError(f"public key file {path} is not an Ed25519 key")
        if thumbprint(key) != kid:
            raise KeyRingError(f"public key file {path} holds another key than its name says")
        return key


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `mode` from the first byte on: never a moment where a key is world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    try:
        os.fchmod(fd, mode)  # the umask may only have narrowed it; make it exact
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_replace(path: Path, data: bytes) -> None:
    """Replace a small file atomically, so a reader never sees a half-written `active`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
