"""A card as a code a till's scanner reads: a QR code drawn as SVG by segno, in the page itself.

SVG, so it is sharp on any screen and needs no image request; white around
it, so a phone in dark mode still shows a scanner the quiet zone it needs.
"""

from __future__ import annotations

import segno
from markupsafe import Markup, escape


def qr_svg(number: str, *, label: str) -> Markup:
    code = segno.make(number, micro=False, error="m")
    drawn = code.svg_inline(scale=6, border=4, dark="#000", light="#fff", title=f"{label}: {number}")
    return Markup(f'<div class="code" role="img" aria-label="{escape(label)}: {escape(number)}">{drawn}</div>')
