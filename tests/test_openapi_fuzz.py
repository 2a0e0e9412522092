"""schemathesis against `/v1/openapi.json`: the document tells the truth about every operation.

Every operation, as the operator and as a partner, with data drawn from the
document alone (derandomized: the same cases every run). A case fails on a
5xx, a status the operation does not declare, a body that does not match its
declared schema (an error code outside the operation's enum included), or a
valid request refused as malformed (tests/support/openapi_fuzz.py).

SQLite only: the fuzz asks what the document promises, which no backend
changes, and PostgreSQL would double its time; every other API test runs on
both. One database for the whole run, its ledger invariants checked at the end.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from network import create_app
from network.db import Database, make_engine
from network.ledger.invariants import violations
from network.schema import upgrade
from tests.support.hub import ADMIN_TOKEN, HubClient, World
from tests.support.openapi_fuzz import fuzz

EXAMPLES = 25


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    engine = make_engine(f"sqlite:///{folder}/coalition.db")
    upgrade(engine)
    db = Database(engine)
    app = create_app({"TESTING": True, "DATABASE": db, "COALITION_ADMIN_TOKEN": ADMIN_TOKEN,
                      "CLOCK": lambda: datetime(2026, 3, 14, 9, 30, tzinfo=timezone.utc),
                      "COALITION_SIGNING_KEYS_DIR": str(folder / "keys"), "COALITION_MASTER_KEY_FILE": str(folder / "master.key")})
    world = World.build(HubClient(app.test_client(), ADMIN_TOKEN))
    yield app, world
    with db.session() as session:
        broken = violations(session)
    engine.dispose()
    assert not broken, f"ledger invariants broken: {broken}"


@pytest.mark.parametrize("caller", ["operator", "partner"])
def test_every_operation_answers_as_its_document_says(scene, caller):
    app, world = scene
    report = fuzz(app, ADMIN_TOKEN if caller == "operator" else world.coffee, examples=EXAMPLES)
    assert report.operations >= 46
    assert report.cases >= report.operations * 10
    assert report.failures == [], "\n".join(report.failures)
