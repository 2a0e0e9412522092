"""`/docs`: the API reference, Swagger UI over `/v1/openapi.json`, its files served by the hub itself.

The files come from the `swagger-ui-bundle` package, not a CDN: the page
works on a network with no way out, a third party learns nothing of who
reads it, and the UI's version is pinned with the hub's dependencies. Like
the document it renders, the page is public: it shows what the document
shows, and a call made from it still needs a token.

The bundle's version is in the files' URLs, so a browser may keep them for a
year: an upgrade changes the URLs. Only the files the page loads are served.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, abort, send_from_directory, url_for
from swagger_ui_bundle import swagger_ui_path

ASSETS = swagger_ui_path
VERSION = ASSETS.name  # "swagger-ui-4.15.5"
SERVED = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png"})
YEAR = 365 * 24 * 3600

blp = Blueprint("docs", __name__)

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Coalition loyalty network: API reference</title>
<link rel="stylesheet" href="{css}">
<link rel="icon" type="image/png" href="{icon}" sizes="32x32">
<style>body {{ margin: 0; background: #fafafa; }}</style>
</head>
<body>
<div id="swagger-ui"></div>
<script src="{bundle}"></script>
<script src="{init}"></script>
</body>
</html>
"""

# validatorUrl: null, or Swagger UI sends the document to validator.swagger.io for a badge.
INIT = """window.ui = SwaggerUIBundle({{
  url: {document},
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
  persistAuthorization: false,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout"
}});
"""


def _asset(name: str) -> str:
    return url_for("docs.asset", name=name)


@blp.get("/docs")
def page():
    html = PAGE.format(css=_asset("swagger-ui.css"), icon=_asset("favicon-32x32.png"), bundle=_asset("swagger-ui-bundle.js"),
                       init=url_for("docs.init"))
    return Response(html, mimetype="text/html")


@blp.get("/docs/init.js")
def init():
    """Not inline in the page, so the hub can one day send a Content-Security-Policy without 'unsafe-inline'."""
    document = url_for("api-docs.openapi_json")
    response = Response(INIT.format(document=json.dumps(document)), mimetype="text/javascript")
    response.cache_control.no_cache = True
    return response


@blp.get(f"/docs/{VERSION}/<name>")
def asset(name: str):
    if name not in SERVED:
        abort(404)
    response = send_from_directory(str(ASSETS), name, max_age=YEAR)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response
