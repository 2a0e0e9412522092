"""Partners' contracts, and the settlement figures they price."""

from __future__ import annotations

from settlement.figures import Period, settle


def contract(hub, slug, issue_fee, redeem_rate, effective_from):
    """Put a contract version through the API, as the operator does."""
    answer = hub.call("PUT", f"/v1/partners/{slug}/contract",
                      json={"issue_fee": issue_fee, "redeem_rate": redeem_rate, "effective_from": effective_from.isoformat()})
    assert answer.status_code == 201, answer.json
    return answer.json


def figures_of(database, start, end):
    """The EUR settlement figures of the period [start, end)."""
    with database.session() as session:
        return settle(session, Period(start, end), "EUR")
