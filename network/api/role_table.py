"""The README's role table, printed from the views' own `requires(...)`: `python -m network.api.role_table`.

The table is what an operator reads to hand out roles, so it is made from
the code, never written beside it; a test holds the README to it, and the
role matrix test (tests/test_isolation_matrix.py) calls every cell.
"""

from __future__ import annotations

from flask import Flask

from network.parties.roles import ALL_ROLES

#: Methods every route answers without a view of its own.
AUTOMATIC = {"HEAD", "OPTIONS"}


def routes(app: Flask) -> list[tuple[str, str, tuple[str, ...] | None]]:
    """(method, rule, roles) for every route of the API; roles None for a public one."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1/") or rule.rule == "/v1/openapi.json":
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted(rule.methods - AUTOMATIC):
            found.append((method, rule.rule, _roles(view)))
    return sorted(found, key=lambda row: (row[1], row[0]))


def _roles(view) -> tuple[str, ...] | None:
    """The roles `requires` recorded, looking through the decorators flask-smorest and we wrap views in."""
    while view is not None:
        if hasattr(view, "roles"):
            return view.roles
        view = getattr(view, "__wrapped__", None)
    return None


def markdown(app: Flask) -> str:
    lines = ["| route | " + " | ".join(f"`{role}`" for role in ALL_ROLES) + " |", "|---|" + "---|" * len(ALL_ROLES)]
    for method, rule, roles in routes(app):
        cells = ["public"] * len(ALL_ROLES) if roles is None else ["yes" if role in roles else "" for role in ALL_ROLES]
        lines.append(f"| `{method} {rule}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    from network import create_app

    print(markdown(create_app({"TESTING": True, "DATABASE_URL": "sqlite://"})))
