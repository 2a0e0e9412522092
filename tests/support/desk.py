"""The finance desk under test: a period's activity across partners to close, and figures read off its pages.

Pages mark their figures with data- attributes (`data-cell`, `data-section`,
`data-figure`...); `marked` reads each marked element's attributes and text,
so a test compares the page with the API's JSON figure for figure.
"""

from __future__ import annotations

from datetime import timedelta
from html.parser import HTMLParser

from tests.support.pages import csrf

VOID = {"input", "br", "img", "meta", "link", "hr", "col", "source", "wbr", "area", "base", "embed", "track"}


class _Marked(HTMLParser):
    def __init__(self, attribute: str):
        super().__init__()
        self.attribute, self.found, self.open = attribute, [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in VOID:
            if self.attribute in attrs:
                self.found.append({"attrs": attrs, "text": ""})
            return
        entry = {"attrs": attrs, "text": ""} if self.attribute in attrs else None
        if entry is not None:
            self.found.append(entry)
        self.open.append(entry)

    def handle_endtag(self, tag):
        if tag not in VOID and self.open:
            self.open.pop()

    def handle_data(self, data):
        for entry in self.open:
            if entry is not None:
                entry["text"] += data


def marked(html: str, attribute: str) -> list[dict]:
    """Every element carrying `attribute`: {"attrs": its attributes, "text": its text, whitespace collapsed}."""
    parser = _Marked(attribute)
    parser.feed(html)
    for entry in parser.found:
        entry["text"] = " ".join(entry["text"].split())
    return parser.found


def sections(html: str) -> dict[str, dict[str, str]]:
    """Each party's row of the statement's figures: {party: {figure: text}}."""
    rows: dict[str, dict[str, str]] = {}
    parser = _Rows()
    parser.feed(html)
    for party, figure, text in parser.cells:
        rows.setdefault(party, {})[figure] = " ".join(text.split())
    return rows


class _Rows(HTMLParser):
    """The data-figure cells inside each data-section row."""

    def __init__(self):
        super().__init__()
        self.party, self.figure, self.cells = None, None, []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "tr":
            self.party = attrs.get("data-section")
        elif self.party is not None and "data-figure" in attrs:
            self.figure = attrs["data-figure"]
            self.cells.append([self.party, self.figure, ""])

    def handle_endtag(self, tag):
        if tag == "tr":
            self.party = None
        if tag == "td":
            self.figure = None

    def handle_data(self, data):
        if self.figure is not None:
            self.cells[-1][2] += data


def trade(hub, world, clock) -> None:
    """Both partners under contract; points issued at each and spent at the other (and at home), an hour ago."""
    for slug, fee, rate in (("brew-bar", "0.002", "0.010"), ("green-grocer", "0.001", "0.008")):
        answer = hub.call("PUT", f"/v1/partners/{slug}/contract", json={
            "issue_fee": fee, "redeem_rate": rate, "effective_from": (clock.now - timedelta(days=1)).isoformat()})
        assert answer.status_code in (200, 201), answer.json
    assert hub.sale(world.coffee, world.card, "200.00").status_code == 201
    assert hub.sale(world.grocer, world.card, "50.00").status_code == 201
    assert hub.redeem(world.grocer, world.card, 150).status_code == 201
    assert hub.redeem(world.coffee, world.card, 40).status_code == 201
    clock.advance(hours=1)


def close(client, end: str):
    """Preview then confirm a closing, as a person does: the preview's answer and the confirmation's."""
    form = client.get("/desk/close").get_data(as_text=True)
    preview = client.post("/desk/close", data={"end": end, "csrf_token": csrf(form)})
    page = preview.get_data(as_text=True)
    hidden = marked(page, "name")
    fields = {entry["attrs"]["name"]: entry["attrs"].get("value") for entry in hidden if entry["attrs"].get("type") == "hidden"}
    return preview, client.post("/desk/close", data=fields)
