"""One party's section of a statement as a PDF, laid out from the very HTML the desk's statement page shows of it.

A finance team files and forwards a partner's section as a document, not
as JSON; the desk's page and the PDF are one Jinja partial
(`desk/_statement.html`, `party_section`) over one `Section` made here
from the signed statement, so what is filed cannot drift from what the
desk reads. The figures are the statement's own strings, never recomputed.

fpdf2 lays it out: pure Python over Pillow and fontTools wheels, no system
library (WeasyPrint needs pango and its fonts stack). Its `write_html`
takes headings, paragraphs and tables, which is all a section is; the
partial keeps to those tags. Text is set in DejaVu Sans where the system
has it (Debian's fonts-dejavu-core: Latin, Greek, Cyrillic; a glyph it
lacks, CJK, is left out with fpdf2's warning), else in the PDF's own
Helvetica, where a character outside Windows-1252 reads "?": the figures,
hashes and slugs are ASCII either way. Every page carries the statement's number, its hash and
"page n of m", so a printed page names the statement it belongs to.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from fpdf import FPDF
from fpdf.fonts import TextStyle
from fpdf.html import HTML2FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from network.errors import NotFound
from network.models import Partner
from settlement.canonical import sha256_hex
from settlement.runs import signed_statement
from settlement.statement import NETWORK_SLUG

#: Where Debian's fonts-dejavu-core puts its sans faces; elsewhere the PDF's core Helvetica.
FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = {"": "DejaVuSans.ttf", "B": "DejaVuSans-Bold.ttf"}


@dataclass(frozen=True)
class Section:
    """What the partial shows of one party: the statement's head, its section and transfer, and how it was signed."""

    #: The whole statement, for its head (sequence, network, period, currency, Merkle root): the partial reads no
    #: other party's figures from it.
    statement: dict
    section: dict
    #: The party's name as its record has it (the network's, for the network's own section).
    name: str
    #: The statement's own transfer line for the party, or None: it neither pays nor receives.
    transfer: dict | None
    #: SHA-256 of the statement's canonical bytes: what a partner countersigns.
    statement_hash: str
    #: The RFC 7638 thumbprint of the hub's key that signed it.
    key_id: str

    @property
    def slug(self) -> str:
        return self.section["partner"]


def sections(statement: dict, signature: dict, names: dict[str, str]) -> list[Section]:
    """Every party's section, in the statement's order, the network's last."""
    digest = sha256_hex(statement)
    return [_section(statement, signature, found, names, digest) for found in statement["partners"]]


def section(session: Session, sequence: int, slug: str) -> Section:
    """One party's section of statement `sequence`: 404 `unknown_statement`, or `unknown_partner` where it has none."""
    signed = signed_statement(session, sequence)
    statement = signed["statement"]
    found = next((s for s in statement["partners"] if s["partner"] == slug), None)
    if found is None:
        raise NotFound(f"Statement {sequence} has no section for {slug!r}", code="unknown_partner")
    return _section(statement, signed["signature"], found, names(session, [slug]), sha256_hex(statement))


def names(session: Session, slugs: list[str] | None = None) -> dict[str, str]:
    """Partners' names by slug (those of `slugs`, else all)."""
    query = select(Partner.slug, Partner.name)
    if slugs is not None:
        query = query.where(Partner.slug.in_(slugs))
    return dict(session.execute(query).all())


def _section(statement: dict, signature: dict, found: dict, known: dict[str, str], digest: str) -> Section:
    slug = found["partner"]
    name = statement["network"] if slug == NETWORK_SLUG else known.get(slug, slug)
    transfer = next((t for t in statement["transfers"] if t["partner"] == slug), None)
    return Section(statement, found, name, transfer, digest, signature["key_id"])


#: The heading as the desk sets it: dark and plain, not fpdf2's default red.
HEADING = TextStyle(font_style="B", font_size_pt=15, color=(17, 17, 17), t_margin=0, b_margin=3)


class _Html(HTML2FPDF):
    """fpdf2's HTML, with a row's header read left as the desk's stylesheet sets it (fpdf2 centres every <th>)."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "th" and ("scope", "row") in attrs and not any(name == "align" for name, _ in attrs):
            attrs = [*attrs, ("align", "left")]
        super().handle_starttag(tag, attrs)


class _Document(FPDF):
    HTML2FPDF_CLASS = _Html

    def __init__(self, footer: str, family: str):
        super().__init__(format="A4")
        self.footer_text, self.face = footer, family

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.face, "", 8)
        self.cell(0, 6, f"{self.footer_text} · page {self.page_no()} of {{nb}}", align="C")


def pdf(html: str, *, title: str, footer: str, created: datetime) -> bytes:
    """The PDF of the partial's HTML: A4, `footer` and the page numbers on every page.

    `created` is written as its creation date (the statement's end): the same statement gives the same bytes,
    whoever downloads it and when.
    """
    family = "dejavu" if all((FONTS / face).is_file() for face in FACES.values()) else "helvetica"
    if family == "helvetica":
        html, title, footer = (_windows_1252(text) for text in (html, title, footer))
    document = _Document(footer, family)
    if family == "dejavu":
        for style, face in FACES.items():
            document.add_font(family, style, str(FONTS / face))
    else:
        document.core_fonts_encoding = "windows-1252"
    document.set_creation_date(created)
    document.set_title(title)
    document.set_creator("coalition loyalty network")
    document.set_auto_page_break(True, margin=18)
    document.add_page()
    document.set_font(family, "", 10)
    document.write_html(html, font_family=family, table_line_separators=True, tag_styles={"h1": HEADING})
    return bytes(document.output())


def _windows_1252(text: str) -> str:
    return text.encode("cp1252", errors="replace").decode("cp1252")
