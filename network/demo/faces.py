"""The demo's people at the pages: a finance user, a partner's manager, and a member's wallet link.

Each is made as it would be in production: the finance user by
`coalition staff add` (the operator's shell), the partner's manager by the
operator through `POST /v1/partners/<slug>/users`, the wallet link by the
partner's own app through `POST /v1/members/<id>/wallet-links`. Their
one-time passwords are printed once, as those commands print them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from network.demo.client import DemoError
from network.demo.stage import Stage


@dataclass(frozen=True)
class Faces:
    staff: tuple[str, str]  # e-mail, one-time password
    partner: tuple[str, str, str]  # partner slug, e-mail, one-time password
    wallet: str  # the path of a single-use wallet link


FINANCE_EMAIL = "finance@demo.example"


def _shell(*args: str, database: Path) -> str:
    """`coalition ARGS` on the demo's database, in a process of its own, as an operator types it."""
    done = subprocess.run([sys.executable, "-c", "from network.cli import main; main()", *args], capture_output=True,
                          text=True, env={**os.environ, "DATABASE_URL": f"sqlite:///{database}"}, timeout=120)
    if done.returncode != 0:
        raise DemoError(f"coalition {' '.join(args)}: {(done.stderr or done.stdout).strip()}")
    return done.stdout


def make(stage: Stage, database: Path, partner_slug: str, member: tuple[str, str]) -> Faces:
    """`member`: a member's id and the key of the partner that enrolled them (who may open their wallet)."""
    found = re.search(r"^password: (\S+)$", _shell("staff", "add", FINANCE_EMAIL, "--role", "finance", database=database), re.M)
    if found is None:
        raise DemoError("coalition staff add printed no password")
    email = f"manager@{partner_slug}.example"
    made = stage.client.call("POST", f"/v1/partners/{partner_slug}/users", stage.admin,
                             {"email": email, "role": "partner_admin"})
    if made.status != 201:
        raise DemoError(f"a partner's user was refused: {made.status} {made.text}")
    link = stage.client.call("POST", f"/v1/members/{member[0]}/wallet-links", member[1])
    if link.status != 201:
        raise DemoError(f"a wallet link was refused: {link.status} {link.text}")
    return Faces((FINANCE_EMAIL, found.group(1)), (partner_slug, email, made.body["password"]), link.body["url"])
