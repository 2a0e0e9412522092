"""The contract between the hub and every partner plugin.

Each hook is prefixed `coalition_`; a plugin implements any subset of them
with `@partners.hookspecs.hookimpl`, and may leave out any argument it does
not need (pluggy passes only the ones an implementation names). Built-in
plugins (the `plugins` package) use this contract exactly as an outside
package does. docs/plugins.md is the reference, one section per hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy

from partners.adapters import Adapter
from partners.rules import EarningRule

hookspec = pluggy.HookspecMarker("coalition")
hookimpl = pluggy.HookimplMarker("coalition")


@hookspec
def coalition_register_adapters(settings: Mapping[str, Any]) -> list[Adapter]:
    """Called once per app, when the hub starts.

    `settings` is the hub's configuration (read-only). Return the adapters
    this plugin provides. Every plugin's list is collected (no first result
    wins); two adapters claiming one name stop the hub from starting, so a
    partner's `adapter` setting always means exactly one thing.
    """


@hookspec
def coalition_register_rules(settings: Mapping[str, Any]) -> list[EarningRule]:
    """Called once per app, when the hub starts.

    `settings` is the hub's configuration (read-only). Return the earning
    rules this plugin provides. Every plugin's list is collected (no first
    result wins); two rules claiming one name stop the hub from starting.
    """


@hookspec
def coalition_deliver_event(event: Mapping[str, Any], settings: Mapping[str, Any]) -> None:
    """Called by `coalition events deliver` for every event, once per plugin that implements it.

    `event` is `{"id", "type", "created_at", "data", "member_id", "partner"}`
    (`partner` is the slug of the event's audience, or None); it carries no
    e-mail or name: a plugin that mails the member looks the address up
    itself. Return (anything) when the event is handed on; raise to have the
    hub record the failure and offer the event again later, with the same
    backoff and attempt limit as a webhook. Delivery is at least once: a
    plugin may see an event again and should key on `event["id"]`.
    """
