"""/docs: the API reference page, public like the document it renders, every file it loads served by the hub."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

TYPES = {".js": {"text/javascript", "application/javascript"}, ".css": {"text/css"}, ".png": {"image/png"}}


class References(HTMLParser):
    """The URLs a browser fetches to render the page: scripts, style sheets, icons, images."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("script", "img") and attrs.get("src"):
            self.found.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.found.append(attrs["href"])


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    return parser.found


def test_the_docs_page_is_html_anyone_may_read(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "swagger-ui" in response.text


def test_every_file_the_page_loads_is_the_hubs_own_with_its_type(client):
    found = references(client.get("/docs").text)
    assert {url.rsplit(".", 1)[-1] for url in found} == {"css", "png", "js"}
    for url in found:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url  # nothing from another host
        response = client.get(url)
        assert response.status_code == 200, url
        suffix = "." + url.rsplit(".", 1)[-1]
        assert response.mimetype in TYPES[suffix], (url, response.mimetype)
        assert len(response.data) > 0


def test_the_page_renders_the_public_document_and_asks_no_validator(client):
    init = next(url for url in references(client.get("/docs").text) if url.endswith("init.js"))
    script = client.get(init).text
    assert '"/v1/openapi.json"' in script
    assert "validatorUrl: null" in script  # or Swagger UI posts the document to validator.swagger.io
    assert client.get("/v1/openapi.json").status_code == 200  # with no token, as the page loads it


def test_the_bundles_files_are_cached_for_a_year_under_their_versioned_url(client):
    css = next(url for url in references(client.get("/docs").text) if url.endswith(".css"))
    assert "/swagger-ui-" in css
    cache = client.get(css).cache_control
    assert (cache.max_age, cache.immutable, cache.public) == (365 * 24 * 3600, True, True)


def test_only_the_files_the_page_needs_are_served(client):
    css = next(url for url in references(client.get("/docs").text) if url.endswith(".css"))
    folder = css.rsplit("/", 1)[0]
    for name in ("index.html", "swagger-ui.js.map", "oauth2-redirect.html", "../../v1/openapi.json"):
        assert client.get(f"{folder}/{name}").status_code == 404, name
