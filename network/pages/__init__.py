"""The faces of the hub for people: pages rendered on the server, readable without JavaScript, on a phone.

`register` wires them into the app: the shared assets and the front page,
the member's wallet, people's sign-in, the finance desk
and the partner's portal, and the security every page answer carries
(`security.py`). Each face is a blueprint of its own module.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template

from network.pages import desk, portal, security, sign_in, wallet

#: The shared templates (base.html, message.html) and the assets every page loads, from the package (no CDN).
blp = security.guard(Blueprint("pages", __name__, template_folder="templates", static_folder="assets",
                               static_url_path="/assets"))


@blp.route("/", methods=["GET"])
def front():
    return render_template("front.html")


def register(app: Flask) -> None:
    security.install(app)
    app.register_blueprint(blp)
    app.register_blueprint(wallet.blp)
    app.register_blueprint(sign_in.blp)
    app.register_blueprint(desk.blp)
    app.register_blueprint(portal.blp)
