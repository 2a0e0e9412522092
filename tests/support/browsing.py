"""Pages in a real browser: a page that may fetch only from the hub, and what every page must pass.

axe-core is a vendored copy (tests/support/vendor), evaluated by the driver
(the page's own policy forbids inline scripts): no serious or critical
violation passes. Each page is saved as a screenshot at a desktop and a
phone width, and must not scroll sideways on the phone.
"""

from __future__ import annotations

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
WIDTHS = {"desktop": (1280, 900), "phone": (375, 740)}


def confined(context, base: str) -> tuple[object, list[str]]:
    """A new page of `context` whose requests anywhere but the hub are aborted and recorded (nothing from a CDN)."""
    elsewhere: list[str] = []
    page = context.new_page()
    page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base + "/")
               else (elsewhere.append(route.request.url), route.abort()))
    return page, elsewhere


def look(page, name: str, shots: Path, elsewhere: list[str]) -> list[dict]:
    """Screenshots at both widths, and axe-core's serious and critical findings on the page as it stands."""
    for width, (w, h) in WIDTHS.items():
        page.set_viewport_size({"width": w, "height": h})
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} scrolls sideways at {w} px"
    page.evaluate(AXE.read_text() + "\n;true")
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                          ".filter(v => ['serious', 'critical'].includes(v.impact)).map(v => ({id: v.id, help: v.help,"
                          " nodes: v.nodes.map(n => n.target.join(' '))}))")
    assert elsewhere == [], elsewhere
    return found


def follow(page, target) -> None:
    """Click a link or a form's button and wait for the page it leads to.

    A click returns once the event is dispatched, before the next page has
    loaded; a read that does not wait (a count, all texts) would then see the
    page before. CI once read an empty list that way.
    """
    with page.expect_navigation():
        target.click()


def sign_in(page, base: str, email: str, password: str) -> None:
    """Sign in through the page's form, as a person types it."""
    page.goto(base + "/sign-in")
    page.get_by_label("E-mail address").fill(email)
    page.get_by_label("Password").fill(password)
    follow(page, page.get_by_role("button", name="Sign in"))
