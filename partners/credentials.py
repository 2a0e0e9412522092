"""Partner API keys: shown once, stored only as a hash.

Keys are 256 random bits, so a plain SHA-256 is enough to make a stolen
table useless (a slow password hash defends low-entropy secrets and would
cost every request tens of milliseconds). The hash is also the lookup key.
"""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "ck_"


def new_api_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
