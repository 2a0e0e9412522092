"""schemathesis against the hub's own document, in-process (WSGI, no server).

Every operation of `/v1/openapi.json` is fuzzed with valid data drawn from
the document, as one caller (the operator or a partner), and each answer is
held to four checks: no 5xx, a status the operation declares, a body that
matches the declared schema, and no valid request refused. Hypothesis is
derandomized, so a run draws the same cases every time and CI is
deterministic.

A valid request may still be refused for what the document cannot say (a
card number nobody holds, points a member lacks, an order booked already):
those answers carry a business code, and only the codes that mean "this
request is malformed" count as a valid request refused.
"""

from __future__ import annotations

import time
import zoneinfo
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from partners.cards import luhn_check_digit

#: What a request the document calls valid must never be answered: the codes of a malformed request.
MALFORMED = {"bad_request", "unreadable_body", "body_too_deep", "validation_error", "invalid_transaction", "invalid_rules",
             "invalid_card", "unsupported_media_type", "payload_too_large", "http_error"}

#: What a document cannot say, by operation: a refusal naming only these fields is a refusal on the merits.
#: Plugins' own settings and rules (a schema per adapter and rule), the adapters installed, "exactly one of
#: points, sku or amount" (and hold_seconds only with capture false), a sale's card and a refund's original
#: order, a currency's decimals, the operator's `?partner=` on a reconciliation (a partner needs none), a
#: ladder's order (thresholds and multipliers rising), how far back a sale may be dated (the hub's clock), a
#: list's cursor (made by the hub) and a member search's one of card or email.
UNSAYABLE = {
    "POST /v1/partners": ("adapter", "rules", "earn_rate"),
    "PUT /v1/partners/{slug}/adapter": ("adapter", "adapter_config"),
    "PUT /v1/partners/{slug}/rules": ("",),
    "POST /v1/redemptions": ("points", "sku", "amount", "quantity", "hold_seconds"),
    "POST /v1/transactions": ("card_number", "original_order_id", "total", "items.", "occurred_at"),
    "PUT /v1/network/tiers": ("tiers.",),
    "POST /v1/settlement/statements/{sequence}/reconciliation": ("partner",),
    "POST /v1/partners/{slug}/api-keys": ("expires_at",),  # in the future: a schema cannot say "after now"
    "GET /v1/audit-events": ("cursor",),  # one this list handed out: any other string is refused
    # A list's cursor is the hub's own (network/api/paging.py): a pattern says its alphabet, not what it encodes.
    # A member search takes exactly one of card or email.
    "GET /v1/partners": ("cursor",),
    "GET /v1/members": ("card", "email", "cursor"),
    "GET /v1/settlement/statements": ("cursor",),
    "GET /v1/members/{member_id}/history": ("cursor",),
    # A report's `to` lies on or after its `from`, at most ten years on: a schema cannot compare two parameters; and
    # its days lie from 2000 to 9999 (the document's x-minimum and x-maximum: a date's bounds have no JSON Schema word).
    "GET /v1/analytics/programme": ("to", "from"),
    "GET /v1/analytics/programme.csv": ("to", "from"),
    "GET /v1/analytics/cohorts": ("to", "from"),
    "GET /v1/analytics/cohorts.csv": ("to", "from"),
    "GET /v1/analytics/returns": ("to", "from"),
    "GET /v1/analytics/liability": ("from", "as_of"),
    "GET /v1/analytics/lifetime": ("as_of",),
    "GET /v1/settlement/statements/{sequence}/transfers.xml": ("execution_date",),
    "PUT /v1/partners/{slug}/contract": ("credit_limit", "over_limit"),  # with funding credit (prepaid), and only then
    # An audience names someone, and its enrolment days are in order: a schema cannot compare two fields.
    "POST /v1/partners/{slug}/audience-preview": ("audience",),
    "POST /v1/settlement/disputes/{dispute_id}/resolution": ("amount",),  # with `adjusted`, and only then
    "POST /v1/settlement/statements/{sequence}/disputes": ("partner", "order_ids"),  # the operator names one; booked
    "GET /v1/partners/{slug}/webhook/deliveries": ("cursor",),
}

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]

#: The formats the document names that a pattern cannot say all of: drawn as the hub reads them.
FORMATS = {
    "card-number": st.text("0123456789", min_size=15, max_size=15).map(lambda body: body + luhn_check_digit(body)),
    "iana-time-zone": st.sampled_from(sorted(zoneinfo.available_timezones())),
}
for name, strategy in FORMATS.items():
    schemathesis.openapi.format(name, strategy)


@dataclass
class Report:
    operations: int = 0
    cases: int = 0
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def refused_as_malformed(label: str, response) -> str | None:
    """The error code when a valid request was refused as malformed; None when it was accepted or refused on the merits."""
    if response.status_code not in (400, 413, 415, 422):
        return None
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return "(no error code)"
    excused = UNSAYABLE.get(label, ())
    if error["details"] and all("valid card number" in " ".join(map(str, reasons)) for reasons in error["details"].values()):
        return None  # the check digit: `format: card-number` says it, but schemathesis may draw any 16 characters
    if error["details"] and all(name.startswith(excused) for name in error["details"]) and excused:
        return None
    return error["code"] if error["code"] in MALFORMED else None


def _described(label: str, failure: Failure, response) -> str:
    message = " ".join(failure.message.split())[:240]
    return f"{label}: {failure.title} [{response.status_code}]: {message}"


def fuzz(app, token: str, *, examples: int = 10, skip: set[str] = frozenset(), path_parameters=None) -> Report:
    """Fuzz every operation as the caller with `token`; a report of the cases run and every distinct failure."""
    schema = schemathesis.openapi.from_wsgi("/v1/openapi.json", app)
    report = Report()
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {token}"}
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in skip:
            continue
        report.operations += 1
        seen: set[str] = set()
        strategy = operation.as_strategy(path_parameters={name: value for name, value in (path_parameters or {}).items()
                                                          if any(p.name == name for p in operation.path_parameters)})

        @given(case=strategy)
        @settings(max_examples=examples, derandomize=True, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def run(case):
            report.cases += 1
            # A client percent-encodes a path's "%": schemathesis sends it bare, and "%02d" would reach the hub as \x02.
            case.path_parameters = {name: value.replace("%", "%25") if isinstance(value, str) else value
                                    for name, value in (case.path_parameters or {}).items()}
            response = case.call(headers=headers)
            try:
                case.validate_response(response, checks=CHECKS, headers=headers)
            except FailureGroup as group:
                seen.update(_described(label, failure, response) for failure in group.exceptions)
            except Failure as failure:
                seen.add(_described(label, failure, response))
            code = refused_as_malformed(label, response)
            if code is not None:
                seen.add(f"{label}: valid request refused ({response.status_code} {code}): {response.text[:200]}")

        run()
        report.failures.extend(sorted(seen))
    report.seconds = time.monotonic() - started
    return report
