"""Every error an operation answers in a test is one it declares in the OpenAPI document.

The `app` fixture watches each answer: a 4xx or 5xx whose `error.code` is
not among the codes its view declares (`network/api/answers.py`) fails the
test that saw it, so the whole suite, and not only the fuzz, keeps the
document honest. Paths no route matches (404, 405) belong to no operation.
"""

from __future__ import annotations

import json

from flask import Flask, request

from network.api.answers import declared


def watch(app: Flask) -> list[str]:
    """The undeclared answers `app` gives, appended as they happen."""
    undeclared: list[str] = []

    @app.after_request
    def check(response):
        if response.status_code < 400 or request.url_rule is None or response.mimetype != "application/json":
            return response
        codes = declared(app.view_functions.get(request.endpoint))
        if not codes:  # flask-smorest's own views (the document itself)
            return response
        try:
            code = json.loads(response.get_data())["error"]["code"]
        except (ValueError, KeyError, TypeError):
            code = None
        if code not in codes:
            undeclared.append(f"{request.method} {request.url_rule.rule}: {response.status_code} {code}")
        return response

    return undeclared
