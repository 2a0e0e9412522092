"""Members' personal data at rest: each member's e-mail and name under a key of its own.

Why two levels of keys:

- A member's e-mail and name are Fernet ciphertext under the member's own
  data key. Forgetting a member (GDPR erasure) is then deleting one small
  row, its key ("crypto-shredding"): the ciphertext left in backups and
  replicas becomes unreadable, while the ledger's rows stay as they are.
- Data keys are stored wrapped under the hub's master key, which never
  enters the database: it comes from `COALITION_MASTER_KEY` (Fernet keys,
  comma-separated; the first encrypts, all decrypt, so a new key can be put
  first and `coalition members rewrap-keys` moves every data key onto it
  before the old one is dropped).
- With no variable set (a laptop, `make demo`) the key is read from a file
  in the instance folder, made on first use with mode 0600, like the
  settlement signing keys; a file others can read is refused.

Why a keyed hash beside the e-mail (`members.email_hash`): finding a
member by e-mail must not decrypt the table. The hash is HMAC-SHA256 of the
normalised address (stripped, casefolded) under a search key derived by HKDF
from a master key with a label of its own, so it is useless without the
master key (a plain hash of an address is reversed by guessing) and no key
is used for two purposes. Each master key has its search key: a search tries
all of them, so a member hashed under the old key is still found while the
keys rotate; `rewrap-keys` hashes every address again under the first key
(it decrypts them to do so, as only a rotation may). Erasure deletes the hash
with the ciphertext.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from network.errors import DomainError
from network.models import Member, MemberKey

ENV_VAR = "COALITION_MASTER_KEY"
KEY_FILE = "master.key"
#: HKDF's `info` for the e-mail search key: a fixed label, so the key is the master key's and used for nothing else.
SEARCH_LABEL = b"coalition/members/email-search/v1"


class MasterKeyError(DomainError):
    """The master key is missing, malformed, or not the one the data was wrapped with: the hub's set-up, not the request."""

    status = 500
    code = "master_key_error"


class MasterKey:
    """The hub's master key(s): wraps and unwraps members' data keys. Read lazily, once."""

    def __init__(self, path: str | os.PathLike[str] | None = None, environ: Mapping[str, str] | None = None):
        self.path = None if path is None else Path(path)
        self._environ = os.environ if environ is None else environ
        self._fernet: MultiFernet | None = None
        self._search: list[bytes] = []

    @classmethod
    def of(cls, *keys: bytes | str) -> MasterKey:
        """A master key from key values (tests, the migration)."""
        master = cls(environ={ENV_VAR: ",".join(k.decode() if isinstance(k, bytes) else k for k in keys)})
        master.fernet()
        return master

    def fernet(self) -> MultiFernet:
        if self._fernet is None:
            value = self._environ.get(ENV_VAR, "").strip()
            if value:
                keys = _parse(value, ENV_VAR)
            elif self.path is not None:
                keys = _parse(_read_or_make(self.path), str(self.path))
            else:
                raise MasterKeyError(f"no master key: set {ENV_VAR} to a Fernet key (Fernet.generate_key())")
            self._search = [_search_key(key) for key in keys]
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        return self._fernet

    def email_hash(self, email: str) -> str:
        """The address's search hash under the first master key: the one stored."""
        return self.email_hashes(email)[0]

    def email_hashes(self, email: str) -> list[str]:
        """The address's search hash under each master key, the first first: what a search looks for."""
        self.fernet()
        normalised = normalise_email(email).encode("utf-8")
        return [hmac.new(key, normalised, hashlib.sha256).hexdigest() for key in self._search]

    def wrap(self, data_key: bytes) -> str:
        return self.fernet().encrypt(data_key).decode("ascii")

    def unwrap(self, wrapped: str) -> bytes:
        try:
            return self.fernet().decrypt(wrapped.encode("ascii"))
        except InvalidToken:
            raise MasterKeyError(
                f"a member's data key does not decrypt with this master key: {ENV_VAR} (or the key file) "
                "is not the key the data was written with"
            ) from None

    def rewrap(self, wrapped: str) -> str:
        """The same data key wrapped under the first master key (for rotation)."""
        try:
            return self.fernet().rotate(wrapped.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise MasterKeyError("a member's data key does not decrypt with any of the master keys given") from None


def normalise_email(email: str) -> str:
    """An address as it is hashed: `Ann@Example.com ` and `ann@example.com` are one address to find."""
    return email.strip().casefold()


def _parse(value: str, source: str) -> list[bytes]:
    try:
        keys = [part.strip().encode("ascii") for part in value.split(",") if part.strip()]
        for key in keys:
            Fernet(key)
    except ValueError:  # UnicodeEncodeError too
        keys = []
    if not keys:  # never echo the value: it is the key
        raise MasterKeyError(f"{source} does not hold Fernet keys (32 url-safe base64-encoded bytes each)")
    return keys


def _search_key(key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=SEARCH_LABEL).derive(base64.urlsafe_b64decode(key))


def _read_or_make(path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except FileNotFoundError:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Fernet.generate_key()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except FileExistsError:  # another worker made it first
            return _read_or_make(path)
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(key + b"\n")
        return key.decode("ascii")
    with os.fdopen(fd, "rb") as handle:
        mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
        if os.name == "posix" and mode & 0o077:
            raise MasterKeyError(f"master key file {path} is readable by group/others (mode {mode:04o}): chmod 600 {path}")
        return handle.read().decode("ascii").strip()


def seal(session: Session, master: MasterKey, member_id: str, *, email: str | None, name: str | None,
         now: datetime) -> dict[str, str | None]:
    """Make the member's data key and return its e-mail and name encrypted under it, and the e-mail's search hash
    (the columns to store)."""
    data_key = Fernet.generate_key()
    session.execute(insert(MemberKey).values(member_id=member_id, wrapped_key=master.wrap(data_key), created_at=now))
    fernet = Fernet(data_key)
    return {"email": _encrypt(fernet, email), "name": _encrypt(fernet, name),
            "email_hash": None if email is None else master.email_hash(email)}


def _encrypt(fernet: Fernet, value: str | None) -> str | None:
    return None if value is None else fernet.encrypt(value.encode("utf-8")).decode("ascii")


def reveal(session: Session, master: MasterKey, member: Member) -> dict[str, str | None]:
    """The member's e-mail and name in clear: only for the views that show them (operator, export)."""
    wrapped = session.scalar(select(MemberKey.wrapped_key).where(MemberKey.member_id == member.id))
    if wrapped is None:  # deleted (shredded), or nothing was ever given
        return {"email": None, "name": None}
    fernet = Fernet(master.unwrap(wrapped))
    try:
        return {field: None if (value := getattr(member, field)) is None else fernet.decrypt(value.encode("ascii")).decode("utf-8")
                for field in ("email", "name")}
    except InvalidToken:
        raise MasterKeyError(f"member {member.id}'s data does not decrypt with its own key") from None


def shred(session: Session, member_id: str) -> None:
    """Destroy the member's key, ciphertext and search hash: its e-mail and name are gone for good."""
    session.execute(delete(MemberKey).where(MemberKey.member_id == member_id))
    session.execute(update(Member).where(Member.id == member_id).values(email=None, name=None, email_hash=None))


def rewrap_page(session: Session, master: MasterKey, *, after: str = "", page: int = 500) -> tuple[str | None, int]:
    """Wrap a page of members' data keys (in member id order, from `after`) under the first master key, and hash
    their e-mails again under its search key.

    Returns the last member id done (None when none was left) and how many: the
    caller commits page by page, so a rotation over millions of members
    holds no lock for long and, stopped half way, is simply run again.
    """
    rows = session.execute(
        select(MemberKey.member_id, MemberKey.wrapped_key, Member.email).join(Member, Member.id == MemberKey.member_id)
        .where(MemberKey.member_id > after).order_by(MemberKey.member_id).limit(page)
    ).all()
    for member_id, wrapped, email in rows:
        session.execute(update(MemberKey).where(MemberKey.member_id == member_id).values(wrapped_key=master.rewrap(wrapped)))
        if email is not None:
            session.execute(update(Member).where(Member.id == member_id).values(
                email_hash=master.email_hash(decrypt(master, member_id, wrapped, email))))
    return (rows[-1].member_id if rows else None), len(rows)


def decrypt(master: MasterKey, member_id: str, wrapped: str, ciphertext: str) -> str:
    """One value of the member's, in clear, from its wrapped data key."""
    try:
        return Fernet(master.unwrap(wrapped)).decrypt(ciphertext.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise MasterKeyError(f"member {member_id}'s data does not decrypt with its own key") from None
