"""Checking the webhook signatures platforms send, the one constant-time way, for every signed adapter."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from partners.errors import BadSignature


def require_base64_hmac(headers: Mapping[str, str], header: str, secret: str, signed: bytes) -> None:
    """Raise BadSignature unless `header` holds the base64 HMAC-SHA256 of `signed` under `secret`.

    Shopify and Square sign this way; the digest is compared in constant
    time so that a forger learns nothing from how long a refusal takes.
    """
    provided = headers.get(header)
    if not provided:
        raise BadSignature(f"the {header} header is missing")
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).digest()
    if not hmac.compare_digest(base64.b64encode(digest), provided.strip().encode("utf-8", "replace")):
        raise BadSignature(f"the {header} header does not match the body")
