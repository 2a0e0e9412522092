"""The tier ladder at the desk, `/desk/tiers`: every member of staff reads it, admins change it.

The form holds one row per tier and a few empty ones: a row filled in adds
a tier, a row emptied removes one, and what is left is the whole ladder, as
PUT /v1/network/tiers takes it, checked by its schema (`TiersSet`) and saved
by its function (`ladder_change`: audited before and after, the settings
version raised, so every worker prices the next sale on the new ladder).
The API numbers tiers from 0 in the ladder it is sent; the page says each
refusal next to the row it came from.
"""

from __future__ import annotations

import re

from flask import g, redirect, render_template, request, url_for
from marshmallow import ValidationError

from network.api.common import read
from network.api.network import ladder_change, ladder_view
from network.api.schemas import TiersSet
from network.errors import DomainError
from network.lifecycle import tiers as ladder
from network.pages import signed_in
from network.pages.desk import RUN, blp
from network.pages.settings_forms import Refused
from network.parties.roles import ADMIN, STAFF_ROLES
from partners.text import REASON, has_control

#: A row's fields, as TiersSet's tiers name them.
FIELDS = ("name", "threshold", "multiplier")
#: Empty rows the form offers for new tiers, up to the API's most.
SPARE = 3
#: A threshold as typed: a whole number (the schema then says what range it takes).
WHOLE = re.compile(r"-?[0-9]{1,18}")


@blp.route("/tiers", methods=["GET"])
@signed_in.needs(STAFF_ROLES)
def tiers():
    return _page(done=request.args.get("done") == "saved")


@blp.route("/tiers", methods=["POST"])
@signed_in.needs(RUN)
def set_tiers():
    rows = _rows_sent()
    kept = [index for index, row in enumerate(rows) if any(row.values())]
    controls = {f"{name}-{index}": REASON for index, row in enumerate(rows) for name, text in row.items() if has_control(text)}
    if controls:
        return _page(rows=rows, errors=controls, refused="Some fields contain a control character", status=422)
    given = [{name: _typed(name, rows[index][name]) for name in FIELDS} for index in kept]
    try:
        try:
            args = TiersSet().load({"tiers": given})
        except ValidationError as error:
            raise Refused.invalid(error, "The tiers are invalid") from None
        try:
            signed_in.write(ladder_change(args["tiers"]))
        except DomainError as refused:
            raise Refused.of(refused, "tiers") from None
    except Refused as refused:
        return _page(rows=rows, errors=_by_row(refused.errors, kept), refused=refused.message, status=refused.status)
    return redirect(url_for("desk.tiers", done="saved"))


def _rows_sent() -> list[dict[str, str]]:
    """The form's rows (`name-0`, `threshold-0`, ...), as many as it says it has (`rows`), each field trimmed."""
    count = request.form.get("rows") or ""
    count = min(int(count), ladder.MAX_TIERS + SPARE) if count.isdigit() and len(count) < 4 else 0
    return [{name: (request.form.get(f"{name}-{index}") or "").strip() for name in FIELDS} for index in range(count)]


def _typed(name: str, text: str):
    """A row's text as JSON would carry it: a threshold a whole number when it is one (the schema says the rest)."""
    return int(text) if name == "threshold" and WHOLE.fullmatch(text) else text


def _by_row(errors: dict[str, str], kept: list[int]) -> dict[str, str]:
    """The API's errors (`tiers.<i>.<field>`, i in the ladder sent) by the form's own rows (`<field>-<row>`)."""
    mine = {}
    for key, said in errors.items():
        parts = key.split(".")
        if len(parts) == 3 and parts[1].isdigit() and int(parts[1]) < len(kept):
            mine[f"{parts[2]}-{kept[int(parts[1])]}"] = said
        else:
            mine["tiers"] = f"{mine['tiers']}; {said}" if "tiers" in mine else said
    return mine


def _page(*, rows: list[dict] | None = None, errors: dict | None = None, refused: str | None = None,
          done: bool = False, status: int = 200):
    shown = read(lambda session: ladder_view(ladder.ladder(session)))
    if rows is None:
        rows = [{"name": t["name"], "threshold": str(t["threshold"]), "multiplier": t["multiplier"]} for t in shown["tiers"]]
        rows += [dict.fromkeys(FIELDS, "") for _ in range(min(SPARE, ladder.MAX_TIERS - len(rows)))]
    return render_template("desk/tiers.html", shown=shown, rows=rows, errors=errors or {}, refused=refused, done=done,
                           edits=g.principal.role == ADMIN, most=ladder.MAX_TIERS), status
