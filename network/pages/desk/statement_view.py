"""A statement as the desk shows it: the figures of the signed JSON, arranged for reading, never recomputed.

The statement page and a closing's preview both show a statement's own
object (the stored one, or the draft the closing would store), so what the
desk shows is what the API serves, figure for figure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from network.pages.desk import charts
from settlement.statement import NETWORK_SLUG


@dataclass(frozen=True)
class Shown:
    statement: dict
    #: The partners' sections; the network's apart (it has fees, not a fee or a contract).
    partners: list[dict]
    network: dict
    heat: charts.HeatMap
    #: What moves through the network in all: the sum the paying partners pay (and the receiving ones receive).
    transfers_total: str


def transfers_total(statement: dict) -> str:
    return str(sum((Decimal(t["amount"]) for t in statement["transfers"] if t["direction"] == "pays"), Decimal(0)))


def shown(statement: dict) -> Shown:
    sections = statement["partners"]
    partners = [section for section in sections if section["partner"] != NETWORK_SLUG]
    network = next(section for section in sections if section["partner"] == NETWORK_SLUG)
    heat = charts.heat_map(statement["matrix"], [section["partner"] for section in partners])
    return Shown(statement, partners, network, heat, transfers_total(statement))
