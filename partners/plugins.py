"""Build the plugin manager: one per app, never a global made at import.

Plugins come from the `coalition` entry-point group, so the built-ins in
`plugins/` arrive the same way as a third party's package. The
`COALITION_BLOCK_PLUGINS` environment variable (comma-separated names) keeps
named plugins out, for example to replace a built-in adapter.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import pluggy

from partners import hookspecs
from partners.adapters import Adapter

ENTRY_POINT_GROUP = "coalition"


class PluginConflict(RuntimeError):
    """Two plugins claim the same adapter name."""


def make_plugin_manager(
    extra: Iterable[object] = (), blocked: Iterable[str] | None = None
) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
    pm.add_hookspecs(hookspecs)
    if blocked is None:
        blocked = [name for name in os.environ.get("COALITION_BLOCK_PLUGINS", "").split(",") if name]
    for name in blocked:
        pm.set_blocked(name.strip())
    pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    for plugin in extra:
        pm.register(plugin)
    pm.check_pending()
    return pm


def adapters(pm: pluggy.PluginManager) -> dict[str, Adapter]:
    found: dict[str, Adapter] = {}
    for provided in pm.hook.coalition_register_adapters():
        for adapter in provided:
            if adapter.name in found:
                raise PluginConflict(f"two plugins provide the adapter {adapter.name!r}")
            found[adapter.name] = adapter
    return found
