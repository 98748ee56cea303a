"""ganforge: train and use GANs that colorize grayscale photographs.

Public API: :func:`load` a checkpoint into a :class:`Colorizer`; the component
registries (:func:`get_registries`); :data:`hookimpl` for plugin authors.
``Colorizer``, ``load`` and ``get_registries`` are imported on first use, so the
command line and plugin modules that only need :data:`hookimpl` start without torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ganforge.core.hookspecs import hookimpl

__version__ = "0.1.0"
__all__ = ["Colorizer", "__version__", "get_registries", "hookimpl", "load"]

_LAZY = {"Colorizer": "inference.colorizer", "load": "inference.colorizer", "get_registries": "core.plugins"}

if TYPE_CHECKING:  # pragma: no cover - names for type checkers and editors
    from ganforge.core.plugins import get_registries
    from ganforge.inference.colorizer import Colorizer, load


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'ganforge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
