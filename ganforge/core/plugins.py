"""The plugin manager: find plugins through entry points, register their components, call hooks.

Built-in components arrive exactly like third-party ones, through the
``ganforge`` entry-point group, so there is one path to test and to document.
"""

from __future__ import annotations

import importlib.metadata
import logging
import threading
import traceback
from types import ModuleType
from typing import Any

import pluggy

from ganforge.core import hookspecs
from ganforge.core.errors import GanforgeError, PluginLoadError
from ganforge.core.registry import Origin, Registries, registering_from

ENTRY_POINT_GROUP = "ganforge"
COMMANDS_ENTRY_POINT_GROUP = "ganforge.commands"  # subcommands only: light modules the CLI loads before parsing

log = logging.getLogger(__name__)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the registries the plugins filled in."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.registries = Registries()
        self._distributions: dict[str, str] = {}

    @property
    def load_errors(self) -> list[str]:
        """One line per plugin that failed to load (the registries quote them for missing names)."""
        return self.registries.load_errors

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> None:
        """Import and register every plugin of ``group``.

        A plugin that fails is left out with a one-line warning naming it and its
        distribution, and its message is kept in :attr:`load_errors`: one broken
        third-party package must not stop commands that never use it, and a
        component it would have provided says why it is missing when asked for.
        """
        for ep in importlib.metadata.entry_points(group=group):
            if self.get_plugin(ep.name) is not None or self.is_blocked(ep.name):
                continue  # the same distribution seen twice on sys.path
            dist = f"{ep.dist.name} {ep.dist.version}" if ep.dist else "(unknown distribution)"
            try:
                self.add_plugin(_import(ep, dist), name=ep.name, distribution=dist)
            except GanforgeError as exc:
                self.load_errors.append(str(exc))
                log.warning("ganforge: warning: %s", exc)

    def add_plugin(self, plugin: ModuleType | object, name: str | None = None, distribution: str = "(local)") -> None:
        """Register a plugin object and let it add its components."""
        try:
            registered_name = self.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            raise PluginLoadError(f"plugin '{name or plugin}' from {distribution} is invalid: {exc}") from exc
        assert registered_name is not None
        self._distributions[registered_name] = distribution
        try:
            for impl in self.hook.ganforge_register.get_hookimpls():
                if impl.plugin is plugin:
                    self._call_register(impl, registered_name, distribution)
        except GanforgeError:
            self.unregister(plugin)  # its hooks must not run later
            raise

    def _call_register(self, impl: Any, name: str, distribution: str) -> None:
        origin = Origin(distribution, getattr(impl.plugin, "__name__", name))
        with registering_from(origin):
            try:
                impl.function(**{arg: self.registries for arg in impl.argnames})
            except GanforgeError:
                raise
            except Exception as exc:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                raise PluginLoadError(
                    f"plugin '{name}' from {distribution} failed while registering components: "
                    f"{type(exc).__name__}: {exc} ({where.filename}:{where.lineno})"
                ) from exc

    def distribution_of(self, plugin_name: str) -> str:
        return self._distributions.get(plugin_name, "(local)")


def _import(ep: importlib.metadata.EntryPoint, dist: str) -> Any:
    try:
        return ep.load()
    except Exception as exc:  # any import-time failure of foreign code
        raise PluginLoadError(
            f"plugin '{ep.name}' ({ep.value}) from distribution {dist} failed to import: "
            f"{type(exc).__name__}: {exc}; fix or uninstall that distribution"
        ) from exc


_manager: PluginManager | None = None
_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, loading entry points on first use."""
    global _manager
    with _lock:
        if _manager is None:
            manager = PluginManager()
            manager.load_entry_points()
            _manager = manager
        return _manager


def command_plugin_manager() -> PluginManager:
    """A manager holding only the ``ganforge.commands`` plugins: what the command line needs to parse."""
    manager = PluginManager()
    manager.load_entry_points(COMMANDS_ENTRY_POINT_GROUP)
    return manager


def get_registries() -> Registries:
    """The registries filled by every installed plugin."""
    return get_plugin_manager().registries


def reset_plugin_manager() -> None:
    """Forget the loaded plugins so the next call rediscovers them (for tests and notebooks)."""
    global _manager
    with _lock:
        _manager = None
