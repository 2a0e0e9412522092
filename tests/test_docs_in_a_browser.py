"""/docs in a real browser (Chromium, driven by Playwright): it renders every operation, asking no other host.

The page's files being served (tests/test_docs_page.py) does not show that
Swagger UI runs on them, nor that it fetches nothing from elsewhere; a
browser does. Every request the page makes that is not to the hub is
aborted and recorded. The browser is conftest's `browser` (Debian's
Chromium; without it the test skips, unless COALITION_REQUIRE_BROWSER=1).
"""

from __future__ import annotations

import pytest

from network import create_app
from tests.support.server import in_a_thread


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The hub on a free port; /docs and the document read no table, so an empty SQLite file is enough."""
    folder = tmp_path_factory.mktemp("docs-browser")
    app = create_app({"DATABASE_URL": f"sqlite:///{folder / 'hub.db'}", "COALITION_ADMIN_TOKEN": "t",
                      "COALITION_SIGNING_KEYS_DIR": str(folder / "keys"), "COALITION_MASTER_KEY_FILE": str(folder / "master.key"),
                      "COALITION_SECRET_KEY_FILE": str(folder / "session.key")})
    with in_a_thread(app) as base:
        yield app, base


def test_the_docs_page_renders_every_operation_with_nothing_from_another_host(browser, served):
    app, base = served
    document = app.test_client().get("/v1/openapi.json").json
    operations = sum(1 for methods in document["paths"].values() for method in methods
                     if method in ("get", "put", "post", "patch", "delete"))
    elsewhere = []

    def only_the_hub(route):
        if route.request.url.startswith(base + "/"):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page = browser.new_page()
    page.route("**/*", only_the_hub)
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() == operations > 40
    assert page.locator(".information-container .title").inner_text().startswith(document["info"]["title"])
    assert elsewhere == []
    page.close()
