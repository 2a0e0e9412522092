"""An end-of-day file uploaded from the portal, booked exactly as the API's batch books it.

A shop whose till exports a CSV at closing sends it here from a browser
instead of a script: the same function reads it with the partner's adapter
and books it a chunk at a time, audited as this person (`import_batch`). A
file sent again books nothing twice: its rows are duplicates. The form is a
plain multipart POST; `upload.js` only adds a progress bar.
"""

from __future__ import annotations

from flask import current_app, render_template, request

from network.api.common import hub
from network.api.transactions import batch_adapter, import_batch
from network.errors import DomainError
from network.pages import signed_in
from network.pages.portal import UPLOADERS, blp, over_the_limit, partner, takes_a_file, too_large
from partners.adapters import BatchAdapter

#: How a partner sends when its adapter reads single transactions, not files.
SENDS_INSTEAD = "Its tills send each sale as it happens, to POST /v1/transactions, with one of its API keys."


@blp.route("/<slug>/upload", methods=["GET"])
@signed_in.needs(UPLOADERS)
def upload(slug: str):
    return _form(partner(slug))


@blp.route("/<slug>/upload", methods=["POST"])
@takes_a_file
@signed_in.needs(UPLOADERS)
def upload_file(slug: str):
    """Book the file: a report of what was accepted, what was a duplicate and which rows were refused, and why."""
    shown = partner(slug)
    if not _reads_files(shown):
        return _form(shown), 415
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        return _form(shown, error="Choose the file to upload."), 422
    if over_the_limit(sent):
        return _form(shown, error=too_large()), 413
    adapter, config = batch_adapter(shown)
    try:
        outcome = import_batch(shown, adapter, config, sent.stream)
    except DomainError as refused:  # a file that is not the format at all (no header), or a plugin gone
        return _form(shown, error=refused.message), refused.status
    return render_template("portal/upload_report.html", partner=shown, name=sent.filename, outcome=outcome)


def _reads_files(shown) -> bool:
    adapter = hub().adapters.get(shown.adapter)
    return isinstance(adapter, BatchAdapter)


def _form(shown, *, error: str | None = None) -> str:
    return render_template("portal/upload.html", partner=shown, reads_files=_reads_files(shown), sends_instead=SENDS_INSTEAD,
                           limit=current_app.config["COALITION_MAX_BATCH_BYTES"], error=error)
