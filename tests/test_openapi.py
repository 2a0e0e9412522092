"""The OpenAPI document is generated from the same schemas that validate requests."""

import json
import os
import re
from pathlib import Path


def test_openapi_document_describes_every_endpoint(client):
    response = client.get("/v1/openapi.json")
    assert response.status_code == 200
    spec = response.json
    assert spec["openapi"].startswith("3.")
    assert set(spec["paths"]) >= {
        "/v1/partners", "/v1/partners/{slug}", "/v1/members", "/v1/members/{member_id}/history",
        "/v1/cards/{card_number}/balance", "/v1/transactions", "/v1/redemptions",
        "/v1/transactions/batch", "/v1/actions", "/v1/partners/{slug}/inbound", "/v1/partners/{slug}/rules",
        "/v1/partners/{slug}/adapter", "/v1/redemptions/{redemption_id}/capture", "/v1/redemptions/{redemption_id}/void",
        "/v1/partners/{slug}/rewards", "/v1/partners/{slug}/rewards/{sku}", "/v1/partners/{slug}/points-rate", "/v1/donations",
    }
    inbound = spec["paths"]["/v1/partners/{slug}/inbound"]["post"]
    assert inbound["security"] == []  # authenticated by the payload's signature, not a bearer token
    assert "401" in inbound["responses"]
    batch = spec["paths"]["/v1/transactions/batch"]["post"]
    assert "text/csv" in batch["requestBody"]["content"]
    redemption = spec["paths"]["/v1/redemptions"]["post"]
    body = redemption["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    # points, sku or amount: exactly one, checked by the schema as a whole
    assert set(spec["components"]["schemas"][body]["required"]) == {"card_number", "order_id"}
    assert {"points", "sku", "amount", "capture", "hold_seconds"} <= set(spec["components"]["schemas"][body]["properties"])
    assert "422" in redemption["responses"]
    sale = spec["paths"]["/v1/transactions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "CanonicalTransaction" in sale["$ref"]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


RECORDED = Path(__file__).parent / "fixtures" / "openapi.json"


def test_the_openapi_document_is_the_one_recorded(client):
    """A refactoring changes no endpoint, field or code; a change of the API updates the record on purpose.

    Regenerate with `COALITION_RECORD_OPENAPI=1 make test` and read the diff.
    """
    document = client.get("/v1/openapi.json").json
    if os.environ.get("COALITION_RECORD_OPENAPI") == "1":
        RECORDED.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
    assert document == json.loads(RECORDED.read_text())


def test_every_error_answer_is_the_error_shape_with_its_registered_codes(client):
    """No generic default error: each status an operation declares lists its codes, each registered with that status."""
    from network.error_codes import CODES

    spec = client.get("/v1/openapi.json").json
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            assert "default" not in operation["responses"], (method, path)
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                schema = response["content"]["application/json"]["schema"]
                error = schema["properties"]["error"]
                assert error["required"] == ["code", "message", "details"]
                for code in error["properties"]["code"]["enum"]:
                    assert CODES[code].status == int(status), (method, path, code)
                    assert f"`{code}`" in response["description"]


def test_every_write_declares_the_idempotency_key_it_honours(app):
    """Each view that runs `idempotent_write` shows the header and its codes; no other view does."""
    import inspect

    spec = app.test_client().get("/v1/openapi.json").json
    writes = {(path, method) for path, operations in spec["paths"].items() for method, operation in operations.items()
              if method != "parameters" and any(p.get("name") == "Idempotency-Key" for p in operation.get("parameters", []))}
    honoured = set()
    for rule in app.url_map.iter_rules():
        source = inspect.getsource(inspect.unwrap(app.view_functions[rule.endpoint]))
        if "idempotent_write(" in source or "_changed(" in source:
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            honoured |= {(path, method.lower()) for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert writes == honoured
    for path, method in writes:
        codes = spec["paths"][path][method]["responses"]["422"]["content"]["application/json"]["schema"]
        assert "idempotency_key_reused" in codes["properties"]["error"]["properties"]["code"]["enum"]
    assert ("/v1/transactions/batch", "post") not in writes  # a batch is idempotent by its order ids, not a key
    enrol = spec["paths"]["/v1/members"]["post"]
    assert enrol["requestBody"]["required"] is False  # a partner may enrol a member with no body
    member = spec["components"]["schemas"]["MemberOut"]["properties"]
    assert member["email"]["nullable"] and member["name"]["nullable"]


def test_a_body_the_document_calls_optional_may_be_left_out(hub, world):
    """Enrolling, blocking a card and issuing another need no body at all, as the document says."""
    enrolled = hub.client.post("/v1/members", headers=hub.bearer(world.coffee))
    assert enrolled.status_code == 201, enrolled.json
    issued = hub.client.post(f"/v1/members/{enrolled.json['member_id']}/cards", headers=hub.bearer(world.coffee))
    assert issued.status_code == 201, issued.json
    blocked = hub.client.post(f"/v1/cards/{issued.json['card_number']}/block", headers=hub.bearer(world.coffee))
    assert blocked.status_code == 200, blocked.json
    assert blocked.json["status"] == "blocked" and blocked.json["block_reason"] is None
