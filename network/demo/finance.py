"""Scene four, finance: contracts signed before any activity, then a period closed, saved and verified offline.

A finance team's month end, in minutes: the operator closes the period
(POST /v1/settlement/runs), saves the signed statement, a partner fetches its
own section, and both are checked with the public keys alone by the real
`coalition settlement verify`, the command a user runs. The figures printed are
the statement's (settlement.figures), never the demo's own arithmetic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from network.demo.catalogue import CONTRACTS, SECTION_OF
from network.demo.client import expect
from network.demo.stage import Stage
from settlement.verify import verdict


@dataclass(frozen=True)
class Verification:
    """One run of `coalition settlement verify`: the command line as a user would type it, and what it answered."""

    command: str
    status: int
    lines: list[str]


@dataclass(frozen=True)
class Closed:
    statement: dict  # the signed statement as GET /v1/settlement/statements/<n> returns it
    files: dict[str, Path]  # "statement", "section", "keys"
    verifications: list[Verification]


def sign_contracts(stage: Stage) -> None:
    """Each partner's contract, in force from the network's first day (PUT /v1/partners/<slug>/contract)."""
    for slug, terms in CONTRACTS.items():
        body = {"issue_fee": terms.issue_fee, "redeem_rate": terms.redeem_rate}
        expect(stage.client.call("PUT", f"/v1/partners/{slug}/contract", stage.admin, body), 201, f"{slug}'s contract")


def close_period(stage: Stage, folder: Path) -> Closed:
    """Close everything booked so far into statement 1, save what each party keeps, and verify it offline.

    The period ends at the next whole second, and the clock is moved there:
    the demo's hub has no settlement grace, so the run may close right up to now.
    """
    end = (stage.clock() + timedelta(seconds=1)).replace(microsecond=0)
    stage.clock.set(end)
    run = expect(stage.client.call("POST", "/v1/settlement/runs", stage.admin, {"end": end.isoformat()}), 201,
                 "closing the period")
    sequence = run["statement"]["sequence"]
    statement = expect(stage.client.call("GET", f"/v1/settlement/statements/{sequence}", stage.admin), 200,
                       f"statement {sequence}")
    section = expect(stage.client.call("GET", f"/v1/settlement/statements/{sequence}/partners/{SECTION_OF}",
                                       stage.keys[SECTION_OF]), 200, f"{SECTION_OF}'s section")
    keys = expect(stage.client.call("GET", "/v1/settlement/keys", stage.admin), 200, "the hub's public keys")
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "statement": _save(folder / f"statement-{sequence}.json", statement),
        "section": _save(folder / f"statement-{sequence}-{SECTION_OF}.json", section),
        "keys": _save(folder / "settlement-keys.json", keys),
    }
    checks = verify([files["statement"], files["section"]], files["keys"])
    return Closed(statement, files, checks)


def _save(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path


def verify(files: list[Path], keys: Path) -> list[Verification]:
    """`coalition settlement verify FILE --keys KEYS` for each file: the very check the command runs, on the files alone.

    In this process (a second Python would cost more than the demo's whole
    settlement); with `--keys` the command reads nothing but the files either.
    """
    jwks = json.loads(keys.read_text())
    done = []
    for path in files:
        held, lines = verdict(json.loads(path.read_text()), jwks)
        command = " ".join(["coalition", "settlement", "verify", str(path), "--keys", str(keys)])
        done.append(Verification(command, 0 if held else 1, lines))
    return done
