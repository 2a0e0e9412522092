"""Every error code the hub answers, with its HTTP status and what it means: the one list a till's developer reads.

A code is what an integration branches on, so it is part of the API: a
test holds every code raised in the source to this registry, and the
README's error table is printed from it (`python -m network.error_codes`).
"""

from __future__ import annotations

from typing import NamedTuple


class Code(NamedTuple):
    code: str
    status: int
    meaning: str


#: A row of a batch is refused inside a 200 answer (its `rejected` list), not by an HTTP status.
IN_A_BATCH = 200

REGISTRY: tuple[Code, ...] = (
    Code("invalid_row", IN_A_BATCH, "a row of a batch the adapter could not read; `errors` names its fields (`row 12.total`)"),
    Code("bad_request", 400, "the request is malformed: a parameter, or JSON that does not parse"),
    Code("unreadable_body", 400, "not the adapter's format at all: not JSON, not XML, a CSV without its header, an XML bomb"),
    Code("body_too_deep", 400, "a JSON body nested deeper than 64 levels, refused before it is read"),
    Code("bad_header", 400, "a CSV upload whose header line lacks the columns asked for"),
    Code("malformed_request_line", 400, "the web server could not read the request line as HTTP/1.x (`details.request_line`)"),
    Code("malformed_header", 400, "the web server could not read a header (`details.headers`)"),
    Code("malformed_body", 400, "the web server could not read a chunked body (`details.body`)"),
    Code("unauthenticated", 401, "no valid credentials"),
    Code("missing_token", 401, "no `Authorization: Bearer` header"),
    Code("invalid_token", 401, "the token is unknown, revoked or expired, or its person's account is disabled"),
    Code("invalid_credentials", 401, "the e-mail address or the password is wrong (the same answer for an unknown address)"),
    Code("bad_signature", 401, "a Shopify, Square or WooCommerce payload whose signature is missing or wrong"),
    Code("forbidden", 403, "the caller may not do this"),
    Code("wrong_role", 403, "the caller's role may not make this call (the README's role table)"),
    Code("account_locked", 403, "too many failed sign-ins: the account is locked until `details.locked_until`"),
    Code("password_change_required", 403, "a one-time password: choose your own (`POST /v1/auth/password`) first"),
    Code("over_role_limit", 403, "more than the caller's role may do at once (a support adjustment above its limit)"),
    Code("wrong_partner", 403, "a partner acting for another partner"),
    Code("not_found", 404, "no such path"),
    Code("unknown_card", 404, "no such card number"),
    Code("unknown_alias", 404, "no such alias among this partner's loyalty numbers"),
    Code("unknown_member", 404, "no such member"),
    Code("unknown_partner", 404, "no such partner slug"),
    Code("unknown_redemption", 404, "no such redemption or hold at this partner"),
    Code("unknown_reward", 404, "no such reward in the partner's catalogue"),
    Code("unknown_user", 404, "no such user (of this partner)"),
    Code("unknown_api_key", 404, "no such API key of this partner"),
    Code("unknown_statement", 404, "no settlement statement with that sequence number"),
    Code("no_webhook", 404, "the partner has registered no webhook"),
    Code("no_inbound_endpoint", 404, "the partner's adapter takes no signed webhooks"),
    Code("http_error", 400, "any other HTTP error the web server answers (its status says which)"),
    Code("method_not_allowed", 405, "the path exists, the method does not"),
    Code("conflict", 409, "the request conflicts with the state of the ledger"),
    Code("duplicate_order", 409, "this partner already booked that order id for that type"),
    Code("partner_exists", 409, "a partner with that slug exists"),
    Code("user_exists", 409, "a user with that e-mail address exists"),
    Code("already_reversed", 409, "the redemption was already taken back"),
    Code("hold_captured", 409, "the hold was captured already"),
    Code("hold_voided", 409, "the hold was voided already"),
    Code("hold_expired", 409, "the hold is past its expiry; its points are back"),
    Code("out_of_stock", 409, "the reward has fewer units left than asked for; the member keeps their points"),
    Code("reward_exists", 409, "the partner's catalogue has a reward with that sku"),
    Code("member_has_holds", 409, "the member has held points: capture or void them first"),
    Code("contract_version_exists", 409, "a contract version already starts at that instant"),
    Code("already_acknowledged", 409, "the partner acknowledged this statement already"),
    Code("idempotency_key_in_flight", 409, "a request with this key is still being processed: retry"),
    Code("gone", 410, "the resource existed and is gone"),
    Code("member_merged", 410, "the member was merged into another (`details.merged_into`)"),
    Code("member_deleted", 410, "the member was erased at their request"),
    Code("payload_too_large", 413, "over 1 MiB (`COALITION_MAX_BODY_BYTES`); batches over `COALITION_MAX_BATCH_BYTES`"),
    Code("unsupported_media_type", 415, "not a content type the partner's adapter (or the endpoint) reads"),
    Code("request_line_too_long", 414, "a request line (method, path and query) over the web server's 4094 bytes"),
    Code("expectation_failed", 417, "an `Expect` header the web server does not meet"),
    Code("rate_limited", 429, "over the caller's budget (its token's, or without one its address's): retry after "
                              "`Retry-After` seconds; `details.budget` says which, nothing was booked"),
    Code("headers_too_large", 431, "more than 100 headers, or one over 8190 bytes"),
    Code("batch_not_supported", 415, "the partner's adapter reads no batch files"),
    Code("invalid_request", 422, "the request is refused (the generic code behind the others)"),
    Code("validation_error", 422, "some fields are invalid; `details` names each (`items.0.unit_price`)"),
    Code("invalid_transaction", 422, "the adapter read the payload and found bad values (`Transaction 2.LoyaltyAccountID`)"),
    Code("invalid_rules", 422, "earning rules refused by their own schema (`rules.1.rate`)"),
    Code("invalid_webhook", 422, "a webhook URL or secret that cannot be used (`url`, `secret`)"),
    Code("insufficient_points", 422, "the card has fewer points available than asked for"),
    Code("refund_exceeds_sale", 422, "the refunds of an order would exceed its sale"),
    Code("unknown_order", 422, "a refund of an order this partner never booked"),
    Code("unmeasurable_refund", 422, "a refund of money naming no line, of a sale booked without what it charged"),
    Code("currency_mismatch", 422, "a refund in another currency than its sale"),
    Code("card_mismatch", 422, "a refund naming another card than its sale, or a card of another member"),
    Code("invalid_card", 422, "not a card number (wrong length or check digit), nor an alias of this partner's"),
    Code("invalid_alias", 422, "an alias that is empty, longer than 128 characters, or not printable"),
    Code("card_blocked", 422, "the card is blocked; the points stay the member's"),
    Code("same_member", 422, "a member cannot be merged into itself"),
    Code("unknown_action", 422, "the partner rewards no such action"),
    Code("action_limit_reached", 422, "the member reached the action's limit for the day"),
    Code("capture_exceeds_hold", 422, "a capture of more points than the hold holds"),
    Code("partial_reward_capture", 422, "a held reward is captured whole or voided"),
    Code("reward_limit_reached", 422, "the member took as many units of the reward as it allows"),
    Code("reward_retired", 422, "the reward is no longer offered"),
    Code("no_points_rate", 422, "the partner has no points rate, so it takes points, not amounts"),
    Code("not_a_charity", 422, "donations go to partners of kind charity"),
    Code("idempotency_key_reused", 422, "the key was used before with another request"),
    Code("period_closed", 422, "the settlement period would overlap one already closed"),
    Code("period_not_over", 422, "a settlement period must end in the past, by the grace time"),
    Code("no_public_key", 422, "the partner registered no key to countersign with"),
    Code("invalid_public_key", 422, "not an Ed25519 public key"),
    Code("credit_limit_reached", 402, "the partner's credit limit (or prepaid funds) would not cover the points this sale issues"),
    Code("not_in_statement", 422, "a disputed order id the partner did not book in the statement's period"),
    Code("unknown_dispute", 404, "no such dispute"),
    Code("dispute_closed", 409, "the dispute was adjusted or rejected already"),
    Code("prepayment_exists", 409, "funds with that reference are recorded already"),
    Code("not_funded", 422, "the partner's issuing draws on no funds: set its contract's funding first"),
    Code("invalid_bank_account", 422, "an account holder, IBAN (checksum, length) or BIC (form) that is not valid"),
    Code("no_bank_account", 422, "a transfer file needs the network's and each receiving partner's bank account"),
    Code("unreadable_bank_statement", 422, "not a camt.053 bank-to-customer statement"),
    Code("hash_mismatch", 422, "the acknowledged hash is not the statement's"),
    Code("bad_countersignature", 422, "the countersignature does not verify under the partner's key"),
    Code("internal_error", 500, "a fault of the hub's: it is logged, and nothing was booked"),
    Code("master_key_error", 500, "the master key is missing or is not the one the data was written with (the hub's set-up)"),
    Code("unsupported_transfer_coding", 501, "a `Transfer-Encoding` the web server does not read (it reads `chunked`)"),
    Code("unavailable", 503, "the ledger stayed busy through every retry; safe to retry with the same key"),
    Code("adapter_unavailable", 503, "a plugin the partner's adapter needs is not installed on this hub"),
    Code("not_ready", 503, "`/readyz`: the database does not answer, or its migrations are not the code's head (`details` "
                           "names which, with both revisions)"),
    Code("rules_unavailable", 503, "a plugin the partner's earning rules need is not installed on this hub"),
)

CODES: dict[str, Code] = {entry.code: entry for entry in REGISTRY}


def markdown_table() -> str:
    """The README's error table, a row a code."""
    rows = ["| status | code | meaning |", "| --- | --- | --- |"]
    for entry in sorted(REGISTRY, key=lambda entry: entry.status):
        status = "200 (a batch row)" if entry.status == IN_A_BATCH else str(entry.status)
        rows.append(f"| {status} | `{entry.code}` | {entry.meaning} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(markdown_table(), end="")
