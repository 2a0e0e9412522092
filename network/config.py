"""Settings, read from the environment once when the app is made."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: Settings no plugin sees: the operator's token, the Redis and SMTP URLs (they may hold passwords), the session key's file.
SECRET = ("TOKEN", "REDIS_URL", "SECRET_KEY", "SMTP_URL")


def plugin_settings(config: Mapping) -> dict:
    """The hub's COALITION_ settings as plugins see them: never a secret, the operator's secrets are not theirs."""
    return {key: value for key, value in config.items()
            if key.startswith("COALITION_") and not any(marker in key for marker in SECRET)}


def from_environment(instance_path: str) -> dict:
    default_db = "sqlite:///" + str(Path(instance_path) / "coalition.db")
    return {
        "DATABASE_URL": os.environ.get("DATABASE_URL", default_db),
        # A PostgreSQL read replica for the reads that may lag (histories, statement lists, reports, the audit
        # trail: docs/architecture.md lists them); unset, they read DATABASE_URL as every other read does.
        "DATABASE_REPLICA_URL": os.environ.get("DATABASE_REPLICA_URL") or None,
        # DATABASE_URL is a PgBouncer in transaction pooling: no statement is prepared (network/db.py make_engine).
        "DATABASE_TRANSACTION_POOLER": os.environ.get("DATABASE_TRANSACTION_POOLER", "") == "1",
        "COALITION_ADMIN_TOKEN": os.environ.get("COALITION_ADMIN_TOKEN"),
        "COALITION_POINTS_LIFETIME_DAYS": int(os.environ.get("COALITION_POINTS_LIFETIME_DAYS", "730")),
        # A sale or refund dated further back than this many days is refused (unset: the points' lifetime).
        "COALITION_MAX_BACKDATE_DAYS": (int(os.environ["COALITION_MAX_BACKDATE_DAYS"])
                                        if os.environ.get("COALITION_MAX_BACKDATE_DAYS") else None),
        # activity_extends: any earn or redemption keeps all of a member's points alive; fixed: each lot its lifetime.
        "COALITION_EXPIRY": os.environ.get("COALITION_EXPIRY", "activity_extends"),
        # What a refund may take back: only_pending, within_balance or unlimited (network.earning.clawback).
        "COALITION_CLAWBACK": os.environ.get("COALITION_CLAWBACK", "within_balance"),
        # A sale that brings a member this many points or fewer from a catalogue reward sends reward_within_reach.
        "COALITION_NUDGE_GAP_POINTS": int(os.environ.get("COALITION_NUDGE_GAP_POINTS", "50")),
        # Webhooks may point into private, loopback or link-local networks only if this is set (a test rig, an intranet).
        "COALITION_WEBHOOK_PRIVATE_NETWORKS": os.environ.get("COALITION_WEBHOOK_PRIVATE_NETWORKS", "") == "1",
        # Sign-in: this many wrong passwords in a row lock an account for COALITION_SIGN_IN_LOCK_SECONDS.
        "COALITION_SIGN_IN_MAX_FAILURES": int(os.environ.get("COALITION_SIGN_IN_MAX_FAILURES", "5")),
        "COALITION_SIGN_IN_LOCK_SECONDS": int(os.environ.get("COALITION_SIGN_IN_LOCK_SECONDS", "900")),
        # Sign-in and password-change attempts, good or bad, per account (its e-mail) and per client address
        # (network/api/limits.py): each checks an argon2 hash, so a flood would cost the hub's CPU; "off": none.
        "COALITION_SIGN_IN_LIMIT": os.environ.get("COALITION_SIGN_IN_LIMIT", "10/minute;50/hour"),
        "COALITION_SIGN_IN_LIMIT_PER_ADDRESS": os.environ.get("COALITION_SIGN_IN_LIMIT_PER_ADDRESS", "30/minute;300/hour"),
        # How long the token a sign-in hands out lasts.
        "COALITION_SESSION_HOURS": int(os.environ.get("COALITION_SESSION_HOURS", "12")),
        # argon2-cffi's parameter profile for passwords: RFC_9106_LOW_MEMORY (CHEAPEST only for tests).
        "COALITION_PASSWORD_HASH": os.environ.get("COALITION_PASSWORD_HASH", "RFC_9106_LOW_MEMORY"),
        # The most points one adjustment by the support role may move, either way (admins have no limit).
        "COALITION_SUPPORT_ADJUSTMENT_LIMIT": int(os.environ.get("COALITION_SUPPORT_ADJUSTMENT_LIMIT", "1000")),
        # The one currency the network settles in: contracts' rates and statements' money.
        "COALITION_SETTLEMENT_CURRENCY": os.environ.get("COALITION_SETTLEMENT_CURRENCY", "EUR"),
        # The share of points expected never to be redeemed, 0 to 1, for every issuer's liability; unset: estimated
        # from the points whose life ended (settlement/liability.py).
        "COALITION_EXPECTED_BREAKAGE": os.environ.get("COALITION_EXPECTED_BREAKAGE") or None,
        # The network's own bank account, which a statement's transfer file pays partners from (all three, or none).
        "COALITION_NETWORK_ACCOUNT_HOLDER": os.environ.get("COALITION_NETWORK_ACCOUNT_HOLDER") or None,
        "COALITION_NETWORK_IBAN": os.environ.get("COALITION_NETWORK_IBAN") or None,
        "COALITION_NETWORK_BIC": os.environ.get("COALITION_NETWORK_BIC") or None,
        # Where the hub's Ed25519 statement-signing keys live (one 0600 file each); or COALITION_SIGNING_KEY.
        "COALITION_SIGNING_KEYS_DIR": os.environ.get(
            "COALITION_SIGNING_KEYS_DIR", str(Path(instance_path) / "settlement-keys")
        ),
        # Where the master key of members' personal data is kept (made on first use, mode 0600) when
        # COALITION_MASTER_KEY is not set; the variable itself is read from the environment only, never config.
        "COALITION_MASTER_KEY_FILE": os.environ.get("COALITION_MASTER_KEY_FILE", str(Path(instance_path) / "master.key")),
        # How far in the past a settlement period must end: a booking still committing belongs to it.
        "COALITION_SETTLEMENT_GRACE_SECONDS": int(os.environ.get("COALITION_SETTLEMENT_GRACE_SECONDS", "60")),
        # How long a hold (POST /v1/redemptions with "capture": false) lasts unless the till asks otherwise ...
        "COALITION_HOLD_SECONDS": int(os.environ.get("COALITION_HOLD_SECONDS", "3600")),
        # ... and the longest it may ask for (a hotel or car-hire pre-authorisation: a week).
        "COALITION_HOLD_MAX_SECONDS": int(os.environ.get("COALITION_HOLD_MAX_SECONDS", str(7 * 24 * 3600))),
        # Which sales count towards a member's tier: rolling_365 (the last 365 days) or loyalty_year (since the
        # loyalty year began).
        "COALITION_TIER_WINDOW": os.environ.get("COALITION_TIER_WINDOW", "rolling_365"),
        # The day the loyalty year starts (MM-DD, UTC): the loyalty_year window and the yearly tier review follow it.
        "COALITION_LOYALTY_YEAR_START": os.environ.get("COALITION_LOYALTY_YEAR_START", "01-01"),
        "COALITION_NETWORK_NAME": os.environ.get("COALITION_NETWORK_NAME", "coalition"),
        # Where partners' platforms reach the hub (https://hub.example.com): the origin of the addresses the hub
        # hands out (a partner's inbound_url). Unset, those are paths: the request's Host header is the caller's word.
        "COALITION_PUBLIC_URL": (os.environ.get("COALITION_PUBLIC_URL") or "").rstrip("/") or None,
        # Where the key that signs the pages' session cookies is kept (made on first use, mode 0600) when
        # COALITION_SECRET_KEY is not set; every worker and host of one hub must share it.
        "COALITION_SECRET_KEY_FILE": os.environ.get("COALITION_SECRET_KEY_FILE", str(Path(instance_path) / "session.key")),
        # A page session ends after this many minutes without a request, and COALITION_SESSION_HOURS after it began.
        "COALITION_SESSION_IDLE_MINUTES": int(os.environ.get("COALITION_SESSION_IDLE_MINUTES", "30")),
        # Where the hub sends its own mail (a member's sign-in link): smtp://host:port, smtps://user:pass@host:port or
        # smtp+starttls://...; unset, no mail is sent (and the log says so).
        "COALITION_SMTP_URL": os.environ.get("COALITION_SMTP_URL") or None,
        "COALITION_MAIL_FROM": os.environ.get("COALITION_MAIL_FROM", "loyalty@localhost"),
        # points_expiring: warn a member this many days before its next points expire.
        "COALITION_EXPIRY_WARNING_DAYS": int(os.environ.get("COALITION_EXPIRY_WARNING_DAYS", "30")),
        # dormant_member: points unspent and no earn or redemption for this many days.
        "COALITION_DORMANT_DAYS": int(os.environ.get("COALITION_DORMANT_DAYS", "180")),
        # Webhook delivery: one attempt's whole deadline (resolve, connect, send, the answer), enforced ...
        "COALITION_WEBHOOK_TIMEOUT_SECONDS": float(os.environ.get("COALITION_WEBHOOK_TIMEOUT_SECONDS", "5")),
        # ... a failed one is tried again after this, doubling each time up to the cap, less up to half at random ...
        "COALITION_WEBHOOK_BACKOFF_SECONDS": int(os.environ.get("COALITION_WEBHOOK_BACKOFF_SECONDS", "30")),
        "COALITION_WEBHOOK_BACKOFF_MAX_SECONDS": int(os.environ.get("COALITION_WEBHOOK_BACKOFF_MAX_SECONDS", "21600")),
        # ... and after this many attempts the delivery is failed for good.
        "COALITION_WEBHOOK_MAX_ATTEMPTS": int(os.environ.get("COALITION_WEBHOOK_MAX_ATTEMPTS", "10")),
        "COALITION_WEBHOOK_BACKOFF_JITTER": float(os.environ.get("COALITION_WEBHOOK_BACKOFF_JITTER", "0.5")),
        # Attempts one webhook may have in flight at once, over every deliverer.
        "COALITION_WEBHOOK_CONCURRENCY": int(os.environ.get("COALITION_WEBHOOK_CONCURRENCY", "4")),
        # The circuit breaker: after this many failed attempts in a row a webhook is paused, probed after
        # the pause, which doubles with each failed probe up to its cap (network/events/breaker.py).
        "COALITION_WEBHOOK_BREAKER_FAILURES": int(os.environ.get("COALITION_WEBHOOK_BREAKER_FAILURES", "10")),
        "COALITION_WEBHOOK_BREAKER_PAUSE_SECONDS": int(os.environ.get("COALITION_WEBHOOK_BREAKER_PAUSE_SECONDS", "10")),
        "COALITION_WEBHOOK_BREAKER_PAUSE_MAX_SECONDS": int(
            os.environ.get("COALITION_WEBHOOK_BREAKER_PAUSE_MAX_SECONDS", "600")),
        # Delivered events (and their deliveries and attempts) older than this many days are removed by
        # `coalition events prune` (network/events/retention.py); what is not delivered is kept.
        "COALITION_EVENT_RETENTION_DAYS": int(os.environ.get("COALITION_EVENT_RETENTION_DAYS", "30")),
        # /metrics is open (figures only, no personal data) unless this is set: then it needs `Authorization: Bearer <it>`.
        "COALITION_METRICS_TOKEN": os.environ.get("COALITION_METRICS_TOKEN") or None,
        # 1: one JSON line per request on standard error. Off by default, as gunicorn's access log was: a load
        # balancer logs requests already, and the line costs every request (bench/RESULTS.md, issue 12).
        "COALITION_ACCESS_LOG": os.environ.get("COALITION_ACCESS_LOG", "0") == "1",
        # Requests per credential in a moving window, each partner key and staff token its own budget (network/api/limits.py),
        # in the `limits` notation ("3000/minute": a busy partner's 50 a second; "50/second;3000/minute"); "off": none.
        "COALITION_RATE_LIMIT": os.environ.get("COALITION_RATE_LIMIT", "3000/minute"),
        # Requests per client address without a bearer token, or with one that was refused; "off": none.
        "COALITION_RATE_LIMIT_ANONYMOUS": os.environ.get("COALITION_RATE_LIMIT_ANONYMOUS", "600/minute"),
        # Where the counters live, shared by every worker and host (redis://127.0.0.1:6379/0); unset: each worker's
        # memory, so each worker allows the whole limit. Redis unreachable: each worker counts in memory meanwhile.
        "COALITION_REDIS_URL": os.environ.get("COALITION_REDIS_URL") or None,
        # The start of every counter's key: hubs sharing one Redis each give their own.
        "COALITION_RATE_LIMIT_PREFIX": os.environ.get("COALITION_RATE_LIMIT_PREFIX", "coalition"),
        # How many proxies in front of the hub append to X-Forwarded-For: the client's address is read that many
        # hops back (0: the connection's own address, as it must be when nothing trusted sets the header).
        "COALITION_PROXY_HOPS": int(os.environ.get("COALITION_PROXY_HOPS", "0")),
        # A till posts one transaction; anything past 1 MiB is a mistake or an attack.
        "MAX_CONTENT_LENGTH": int(os.environ.get("COALITION_MAX_BODY_BYTES", str(1024 * 1024))),
        # A batch file streams through in chunks; this only bounds a runaway upload.
        "COALITION_MAX_BATCH_BYTES": int(os.environ.get("COALITION_MAX_BATCH_BYTES", str(4 * 1024**3))),
    }
