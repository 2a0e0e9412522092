"""/healthz, /readyz and /metrics: for load balancers and monitors, beside the API and outside its document.

- /healthz: the process answers. It reads nothing, so a database outage does
  not make an orchestrator restart every hub at once.
- /readyz: the database answers, within `probe.SECONDS`, and its Alembic
  revision is the code's head; else 503 `not_ready` naming what is wrong. A
  hub whose database a newer release migrated is not ready either: it would
  read tables it does not know.
- /metrics: the figures (`metrics`). Open by default (figures only, no
  personal data); with COALITION_METRICS_TOKEN set, only with that bearer token.

None of them is in /v1/openapi.json: they are not the partners' API, and the
paths are the ones monitoring tools ask for.
"""

from __future__ import annotations

import hmac
import logging

from flask import Blueprint, Flask, Response, current_app, request
from sqlalchemy.exc import SQLAlchemyError

from network import schema
from network.api.answers import answers
from network.errors import Unauthenticated, Unavailable
from network.ops import metrics
from network.ops.probe import SECONDS, Probe

blp = Blueprint("ops", __name__)
log = logging.getLogger(__name__)

PROBE = "coalition.probe"


def probe() -> Probe:
    return current_app.extensions[PROBE]


@blp.get("/healthz")
@answers()
def healthz():
    return {"status": "ok"}


@blp.get("/readyz")
@answers("not_ready")
def readyz():
    code = schema.heads()
    try:
        revisions = probe().revisions(code)
    except SQLAlchemyError as exc:
        log.warning("readiness: the database does not answer: %s", str(exc).splitlines()[0][:300])
        raise Unavailable("The database does not answer", {"database": [f"does not answer within {SECONDS} s"]},
                          code="not_ready") from None
    if not revisions.at_head:
        at, head = ", ".join(revisions.database) or "none", ", ".join(code)
        raise Unavailable(f"The database's migrations are at {at}, the code's at {head}",
                          {"migrations": [f"the database is at {at}, the code at {head}: run coalition db upgrade"],
                           "database_revision": at, "code_revision": head}, code="not_ready")
    return {"status": "ok", "revision": ", ".join(code)}


@blp.get("/metrics")
@answers("missing_token", "unauthenticated")
def scrape():
    token = current_app.config["COALITION_METRICS_TOKEN"]
    if token:
        given = _bearer()
        if given is None:
            raise Unauthenticated("/metrics needs the metrics token (COALITION_METRICS_TOKEN)", code="missing_token")
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise Unauthenticated("That is not the metrics token")
    return Response(metrics.render(metrics.Backlog(_backlog), metrics.Replica(probe().replica)), mimetype=None,
                    content_type=metrics.CONTENT_TYPE)


def _bearer() -> str | None:
    scheme, _, value = (request.headers.get("Authorization") or "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _backlog() -> tuple | None:
    try:
        return probe().backlog(current_app.config["CLOCK"]())
    except SQLAlchemyError as exc:
        log.warning("metrics: the outbox backlog is left out, the database does not answer: %s",
                    str(exc).splitlines()[0][:300])
        return None


def register(app: Flask, db) -> None:
    app.extensions[PROBE] = Probe(db)
    app.register_blueprint(blp)
