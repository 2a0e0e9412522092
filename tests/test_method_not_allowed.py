"""A 405 says which methods the path takes (RFC 9110: Allow is a must), for every path of the URL map."""

from __future__ import annotations

import re
from collections import defaultdict

TRIED = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "TRACE")
SAMPLE = {"int": "1", "path": "a/b"}


def concrete(rule: str) -> str:
    """A path the rule matches: each variable given a value its converter takes."""
    return re.sub(r"<(?:(\w+):)?\w+>", lambda m: SAMPLE.get(m.group(1) or "", "x"), rule)


def allowed_by_path(app) -> dict[str, set[str]]:
    """Routes that share a path (GET and PUT of /v1/network/tiers) answer its 405 together."""
    allowed = defaultdict(set)
    for rule in app.url_map.iter_rules():
        allowed[rule.rule] |= rule.methods
    return allowed


def test_every_method_a_path_does_not_take_is_405_with_allow_listing_those_it_does(app, client):
    paths = allowed_by_path(app)
    assert len(paths) > 30  # the whole API: a map that lost its blueprints would pass anything
    for rule, methods in paths.items():
        assert app.url_map.bind("hub").match(concrete(rule), "OPTIONS")  # the sample path is the rule's own
        for method in sorted(set(TRIED) - methods):
            response = client.open(concrete(rule), method=method)
            assert response.status_code == 405, (method, rule)
            assert set(response.headers["Allow"].split(", ")) == methods, (method, rule)
            if method != "HEAD":
                assert response.json["error"]["code"] == "method_not_allowed", (method, rule)


def test_a_405_is_answered_before_the_caller_is_asked_for(client):
    """Which methods a path takes is in the public document already: no token is needed to learn it."""
    response = client.delete("/v1/partners", headers={"Authorization": "Bearer nobody"})
    assert (response.status_code, response.headers["Allow"]) == (405, "GET, HEAD, OPTIONS, POST")
