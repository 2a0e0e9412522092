"""Settings, read from the environment once when the app is made."""

from __future__ import annotations

import os
from pathlib import Path


def from_environment(instance_path: str) -> dict:
    default_db = "sqlite:///" + str(Path(instance_path) / "coalition.db")
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", default_db),
        "COALITION_ADMIN_TOKEN": os.environ.get("COALITION_ADMIN_TOKEN"),
        "COALITION_POINTS_LIFETIME_DAYS": int(os.environ.get("COALITION_POINTS_LIFETIME_DAYS", "730")),
        # activity_extends: any earn or redemption keeps all of a member's points alive; fixed: each lot its lifetime.
        "COALITION_EXPIRY": os.environ.get("COALITION_EXPIRY", "activity_extends"),
        # How long a worker remembers an authenticated partner key (0: never).
        "COALITION_AUTH_CACHE_SECONDS": float(os.environ.get("COALITION_AUTH_CACHE_SECONDS", "5")),
        # The one currency the network settles in: contracts' rates and statements' money.
        "COALITION_SETTLEMENT_CURRENCY": os.environ.get("COALITION_SETTLEMENT_CURRENCY", "EUR"),
        # Where the hub's Ed25519 statement-signing keys live (one 0600 file each); or COALITION_SIGNING_KEY.
        "COALITION_SIGNING_KEYS_DIR": os.environ.get(
            "COALITION_SIGNING_KEYS_DIR", str(Path(instance_path) / "settlement-keys")
        ),
        # How far in the past a settlement period must end: a booking still committing belongs to it.
        "COALITION_SETTLEMENT_GRACE_SECONDS": int(os.environ.get("COALITION_SETTLEMENT_GRACE_SECONDS", "60")),
        "COALITION_NETWORK_NAME": os.environ.get("COALITION_NETWORK_NAME", "coalition"),
        # points_expiring: warn a member this many days before its next points expire.
        "COALITION_EXPIRY_WARNING_DAYS": int(os.environ.get("COALITION_EXPIRY_WARNING_DAYS", "30")),
        # dormant_member: points unspent and no earn or redemption for this many days.
        "COALITION_DORMANT_DAYS": int(os.environ.get("COALITION_DORMANT_DAYS", "180")),
        # Webhook delivery: one POST may take this long (connect and answer) before it counts as failed ...
        "COALITION_WEBHOOK_TIMEOUT_SECONDS": float(os.environ.get("COALITION_WEBHOOK_TIMEOUT_SECONDS", "5")),
        # ... a failed one is tried again after this, doubling each time up to the cap ...
        "COALITION_WEBHOOK_BACKOFF_SECONDS": int(os.environ.get("COALITION_WEBHOOK_BACKOFF_SECONDS", "30")),
        "COALITION_WEBHOOK_BACKOFF_MAX_SECONDS": int(os.environ.get("COALITION_WEBHOOK_BACKOFF_MAX_SECONDS", "21600")),
        # ... and after this many attempts the delivery is failed for good.
        "COALITION_WEBHOOK_MAX_ATTEMPTS": int(os.environ.get("COALITION_WEBHOOK_MAX_ATTEMPTS", "10")),
        # A till posts one transaction; anything past 1 MiB is a mistake or an attack.
        "MAX_CONTENT_LENGTH": int(os.environ.get("COALITION_MAX_BODY_BYTES", str(1024 * 1024))),
        # A batch file streams through in chunks; this only bounds a runaway upload.
        "COALITION_MAX_BATCH_BYTES": int(os.environ.get("COALITION_MAX_BATCH_BYTES", str(4 * 1024**3))),
    }
