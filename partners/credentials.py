"""Bearer secrets (partners' API keys, people's tokens): shown once, stored only as a hash.

Secrets are 256 random bits, so a plain SHA-256 is enough to make a stolen
table useless (a slow password hash defends low-entropy secrets and would
cost every request tens of milliseconds). The hash is also the lookup key.
Each kind has its own prefix, so that a secret scanner (GitHub's, a
pre-commit hook) recognises one pasted where it should not be. Keys issued
before the prefixes (`ck_...`) keep working: only the hash is looked up.
"""

from __future__ import annotations

import hashlib
import secrets

PARTNER_KEY_PREFIX = "coal_pk_"
PERSONAL_TOKEN_PREFIX = "coal_pt_"
#: How many characters of a secret its hint keeps: the prefix and four random ones.
HINT_LENGTH = 12


def new_api_key() -> str:
    """A partner's API key, for its tills and its shop's platform."""
    return PARTNER_KEY_PREFIX + secrets.token_urlsafe(32)


def new_personal_token() -> str:
    """A person's token: a script's, or a sign-in's."""
    return PERSONAL_TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def hint(key: str) -> str:
    """What a list of keys shows of each: enough to tell them apart, far too little to use."""
    return key[:HINT_LENGTH]
