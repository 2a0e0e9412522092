"""/docs in a real browser (Chromium, driven by Playwright): it renders every operation, asking no other host.

The page's files being served (tests/test_docs_page.py) does not show that
Swagger UI runs on them, nor that it fetches nothing from elsewhere; a
browser does. Every request the page makes that is not to the hub is
aborted and recorded. Chromium is Debian's (`apt-get install chromium`);
without it the test skips, unless COALITION_REQUIRE_BROWSER=1 (CI), which
makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from network import create_app

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRE = os.environ.get("COALITION_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    if CHROMIUM is None or sync_playwright is None:
        message = "no Chromium or no Playwright: " + (CHROMIUM or "apt-get install chromium")
        if REQUIRE:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The hub on a free port; /docs and the document read no table, so an empty SQLite file is enough."""
    folder = tmp_path_factory.mktemp("docs-browser")
    app = create_app({"DATABASE_URL": f"sqlite:///{folder / 'hub.db'}", "COALITION_ADMIN_TOKEN": "t",
                      "COALITION_SIGNING_KEYS_DIR": str(folder / "keys"), "COALITION_MASTER_KEY_FILE": str(folder / "master.key")})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


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
