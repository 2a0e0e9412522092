"""A party's section as a PDF: the desk's own partial laid out, its figures the signed statement's, to the character.

The period is tests/support/desk.trade's (worked by hand in tests/test_finance_pack.py): Brew Bar issues 200 points
and pays 1.60; the grocer issues 100 and receives 1.10; the network keeps the fees, 0.50. Each PDF is read back
with pypdf: its pages, and its text line by line.
"""

from __future__ import annotations

import io
from datetime import datetime, timedelta, timezone

import pytest
from pypdf import PdfReader

from settlement import section_pdf
from tests.support.desk import marked, trade
from tests.support.pages import signed_in


@pytest.fixture
def closed(hub, world, clock):
    """Statement 1 over the partners' trade, as the API signed it."""
    trade(hub, world, clock)
    done = hub.call("POST", "/v1/settlement/runs", json={"end": (clock.now - timedelta(minutes=5)).isoformat()})
    assert done.status_code == 201, done.json
    return done.json


def url(sequence: int, slug: str) -> str:
    return f"/v1/settlement/statements/{sequence}/partners/{slug}/section.pdf"


def read(data: bytes) -> tuple[int, list[str], str]:
    """The PDF's page count, its lines, and its text without any whitespace (a hash a line break may cut)."""
    assert data.startswith(b"%PDF-")
    pages = PdfReader(io.BytesIO(data)).pages
    text = "\n".join(page.extract_text() for page in pages)
    return len(pages), text.splitlines(), "".join(text.split())


def expected_lines(statement: dict, section: dict, name: str) -> list[str]:
    """The lines the section's table has, each with the statement's own string for the figure."""
    currency = statement["currency"]
    transfer = next((t for t in statement["transfers"] if t["partner"] == section["partner"]), None)
    lines = [f"{name} ({section['partner']}): statement {statement['sequence']}",
             f"Points issued {section['issued']}", f"Points expired (breakage) {section['expired']}",
             f"Points outstanding at the end {section['outstanding']}",
             f"Net ({currency}; positive: is owed, negative: owes) {section['net']}"]
    if "redeemed" in section:
        lines.append(f"Points redeemed at its tills {section['redeemed']}")
    if "fee" in section:
        lines += [f"Fee ({currency}) {section['fee']}",
                  f"Contract in force from {section['contract']['effective_from']}",
                  f"Issue fee per point ({currency}) {section['contract']['issue_fee']}",
                  f"Redeem rate per point ({currency}) {section['contract']['redeem_rate']}"]
    else:
        lines.append(f"Fees the network earned ({currency}) {section['fees']}")
    if transfer:
        towards = "to" if transfer["direction"] == "pays" else "from"
        lines.append(f"Transfer {transfer['direction']} {transfer['amount']} {currency} {towards} the network")
    return lines


def test_each_partys_pdf_shows_its_figures_as_the_statement_has_them_and_no_one_elses(hub, closed, app):
    statement, signature = closed["statement"], closed["signature"]
    sequence = statement["sequence"]
    names = {"brew-bar": "Brew Bar", "green-grocer": "Green Grocer", "network": statement["network"]}
    assert [s["partner"] for s in statement["partners"]] == list(names)
    for section in statement["partners"]:
        slug = section["partner"]
        answer = hub.call("GET", url(sequence, slug))
        assert answer.status_code == 200 and answer.mimetype == "application/pdf", answer.get_data()[:200]
        assert answer.headers["Content-Disposition"] == f'attachment; filename="statement-{sequence}-{slug}.pdf"'
        pages, lines, squeezed = read(answer.get_data())
        assert pages == 1
        missing = [line for line in expected_lines(statement, section, names[slug]) if line not in lines]
        assert missing == [], (missing, lines)
        # The statement's period, its hash (what the partner countersigns), its key and root; page numbers.
        digest = hub.call("GET", f"/v1/settlement/statements/{sequence}/partners/{slug}").json["statement_hash"]
        for value in (statement["period"]["end"], digest, signature["key_id"], statement["merkle_root"]):
            assert value in squeezed, value
        assert lines[-1] == f"{statement['network']} · statement {sequence} · {slug} · hash {digest[:16]} · page 1 of 1"
        others = set(names) - {slug, "network"}
        assert not [other for other in others if other in squeezed or names[other].replace(" ", "") in squeezed]
    kept = "Transfer none: the network keeps its fees out of the partners' transfers"
    assert "".join(kept.split()) in read(hub.call("GET", url(sequence, "network")).get_data())[2]
    # The same statement, the same bytes: the creation date is the statement's end, not the download's.
    assert hub.call("GET", url(sequence, "brew-bar")).get_data() == hub.call("GET", url(sequence, "brew-bar")).get_data()


def test_a_partner_reads_its_own_pdf_and_no_one_elses(hub, world, closed):
    sequence = closed["statement"]["sequence"]
    own = hub.call("GET", url(sequence, "brew-bar"), world.coffee)
    assert own.status_code == 200 and own.get_data() == hub.call("GET", url(sequence, "brew-bar")).get_data()
    for slug in ("green-grocer", "network", "no-such-partner"):
        refused = hub.call("GET", url(sequence, slug), world.coffee)
        assert (refused.status_code, refused.json["error"]["code"]) == (403, "wrong_partner"), slug
    assert hub.call("GET", url(sequence, "brew-bar"), "absent").status_code == 401


def test_an_unknown_statement_or_party_is_its_404(hub, closed):
    sequence = closed["statement"]["sequence"]
    hub.create_partner("late-comer")  # joined after the closing: statement 1 has no section for it
    for path, code in ((url(sequence + 1, "brew-bar"), "unknown_statement"), (url(0, "brew-bar"), "unknown_statement"),
                       (url(sequence, "no-such-partner"), "unknown_partner"), (url(sequence, "late-comer"), "unknown_partner")):
        refused = hub.call("GET", path)
        assert (refused.status_code, refused.json["error"]["code"]) == (404, code), path


def test_the_desks_statement_page_shows_each_section_and_links_the_apis_pdf(app, hub, closed):
    statement = closed["statement"]
    sequence = statement["sequence"]
    client = signed_in(app, "fin@example.net", "finance")
    page = client.get(f"/desk/statements/{sequence}").get_data(as_text=True)
    figures = {}
    for cell in marked(page, "data-figure"):
        figures.setdefault(cell["attrs"]["data-figure"], []).append(cell["text"])
    for name in ("issued", "expired", "outstanding", "net"):
        for section in statement["partners"]:
            assert str(section[name]) in figures[name], (name, section["partner"])
    assert [t["attrs"]["data-party-section"] for t in marked(page, "data-party-section")] == ["brew-bar", "green-grocer",
                                                                                             "network"]
    links = {a["attrs"]["data-section-pdf"]: a["attrs"]["href"] for a in marked(page, "data-section-pdf")}
    assert links == {slug: f"/desk/statements/{sequence}/partners/{slug}/section.pdf"
                     for slug in ("brew-bar", "green-grocer", "network")}
    for slug, link in links.items():
        mine, theirs = client.get(link), hub.call("GET", url(sequence, slug))
        assert mine.status_code == 200 and mine.get_data() == theirs.get_data() and mine.mimetype == "application/pdf"
    assert client.get(f"/desk/statements/{sequence}/partners/no-such-partner/section.pdf").status_code == 404
    assert client.get(f"/desk/statements/{sequence + 1}/partners/brew-bar/section.pdf").status_code == 404
    support = signed_in(app, "sue@example.net", "support")
    assert support.get(links["brew-bar"]).status_code == 403


def test_the_portal_links_the_partners_own_pdf(app, hub, closed):
    sequence = closed["statement"]["sequence"]
    client = signed_in(app, "boss@brew.example", "partner_admin", "brew-bar")
    page = client.get("/portal/brew-bar/settlement").get_data(as_text=True)
    link = f"/portal/brew-bar/settlement/{sequence}/section.pdf"
    assert f'href="{link}"' in page
    mine = client.get(link)
    assert mine.status_code == 200 and mine.get_data() == hub.call("GET", url(sequence, "brew-bar")).get_data()
    assert client.get(f"/portal/green-grocer/settlement/{sequence}/section.pdf").status_code == 404


def test_pages_are_numbered_of_their_count_when_a_section_runs_long():
    rows = "".join(f"<tr><th scope='row'>Line {n}</th><td>{n}</td></tr>" for n in range(150))
    data = section_pdf.pdf(f"<h1>Long</h1><table><thead><tr><th>Line</th><th>Figure</th></tr></thead><tbody>{rows}</tbody>"
                           "</table>", title="Long", footer="Statement 9", created=datetime(2026, 3, 1, tzinfo=timezone.utc))
    pages = PdfReader(io.BytesIO(data)).pages
    assert len(pages) >= 3
    for number, page in enumerate(pages, start=1):
        assert page.extract_text().splitlines()[-1] == f"Statement 9 · page {number} of {len(pages)}"
    assert "Line 149 149" in pages[-1].extract_text().splitlines()


def test_without_the_dejavu_fonts_the_pdf_is_set_in_helvetica_and_keeps_its_figures(hub, closed, monkeypatch, tmp_path):
    monkeypatch.setattr(section_pdf, "FONTS", tmp_path)
    hub.call("PATCH", "/v1/partners/brew-bar", json={"name": "Brew Bar Αθήνα"})
    statement = closed["statement"]
    section = statement["partners"][0]
    pages, lines, _ = read(hub.call("GET", url(statement["sequence"], "brew-bar")).get_data())
    assert pages == 1
    missing = [line for line in expected_lines(statement, section, "Brew Bar ?????") if line not in lines]
    assert missing == [], (missing, lines)
