"""A period's figures as the statement every party is given: JSON with no float, money as decimal strings.

The statement is built only from the figures and the slugs, so building it
again from the same closed period gives the same object, and so the same
canonical bytes and hashes.
"""

from __future__ import annotations

from datetime import datetime, timezone

from settlement.figures import NETWORK, Figures, money

NETWORK_SLUG = "network"


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def build(figures: Figures, *, sequence: int, network: str, slugs: dict[int, str], previous_hash: str | None) -> dict:
    """Everything but the Merkle root, which the caller adds over `sections` (settlement.merkle)."""
    currency = figures.currency

    def name(party: int | None) -> str:
        return NETWORK_SLUG if party is NETWORK else slugs[party]

    sections, transfers = [], []
    for party in sorted(figures.contracts, key=name):
        version, net = figures.contracts[party], figures.net(party)
        if net:  # multilateral netting: each partner pays or receives only its net, through the network
            transfers.append({"partner": name(party), "direction": "receives" if net > 0 else "pays",
                              "amount": money(abs(net), currency)})
        section = {
            "partner": name(party),
            "issued": figures.issued.get(party, 0),
            "redeemed": figures.redeemed.get(party, 0),
            "expired": figures.expired.get(party, 0),
            "outstanding": figures.outstanding.get(party, 0),
            "fee": money(figures.fees.get(party, 0), currency),
            "net": money(net, currency),
            "contract": None if version is None else {
                "effective_from": _when(version.effective_from),
                "issue_fee": str(version.issue_fee),
                "redeem_rate": str(version.redeem_rate),
            },
        }
        if figures.adjustments.get(party):  # only where a dispute was upheld: earlier statements' shape stays
            section["adjustment"] = money(figures.adjustments[party], currency)
        sections.append(section)
    sections.append({
        "partner": NETWORK_SLUG,
        "issued": figures.issued.get(NETWORK, 0),
        "expired": figures.expired.get(NETWORK, 0),
        "outstanding": figures.outstanding.get(NETWORK, 0),
        "fees": money(sum(figures.fees.values()), currency),
        "net": money(figures.net(NETWORK), currency),
    })
    matrix = sorted(
        ({"issuer": name(i), "redeemer": name(j), "points": points,
          "amount": money(figures.obligations.get((i, j), 0), currency)}
         for (i, j), points in figures.matrix.items() if points),
        key=lambda cell: (cell["issuer"], cell["redeemer"]),
    )
    obligations = sorted(
        ({"from": name(i), "to": name(j), "amount": money(minor, currency)}
         for (i, j), minor in figures.obligations.items() if minor and i != j),
        key=lambda o: (o["from"], o["to"]),
    )
    gross = sum(minor for (i, j), minor in figures.obligations.items() if i != j)
    return {
        "sequence": sequence,
        "network": network,
        "period": {"start": _when(figures.period.start), "end": _when(figures.period.end)},
        "currency": currency,
        "partners": sections,
        "matrix": matrix,
        "obligations": obligations,
        "transfers": transfers,
        "gross_bilateral": {"count": len(obligations), "total": money(gross, currency)},
        "previous_hash": previous_hash,
    }
