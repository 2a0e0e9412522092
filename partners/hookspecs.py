"""The contract between the hub and every partner plugin.

Each hook is prefixed `coalition_`; a plugin implements any subset of them
with `@partners.hookimpl`. Built-in plugins (the `plugins` package) use this
contract exactly as an outside package does.
"""

from __future__ import annotations

import pluggy

from partners.adapters import Adapter

hookspec = pluggy.HookspecMarker("coalition")
hookimpl = pluggy.HookimplMarker("coalition")


@hookspec
def coalition_register_adapters() -> list[Adapter]:
    """Called once when the plugin manager is built.

    Return the adapters this plugin provides. Every plugin's list is
    collected; two adapters claiming one name is an error at start-up, so a
    partner's `adapter` setting always means exactly one thing.
    """
