"""ganforge: train and use GANs that colorize grayscale photographs.

Public API: :func:`load` a checkpoint into a :class:`Colorizer`; the component
registries (:func:`get_registries`); :data:`hookimpl` for plugin authors.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .colorize import Colorizer, load  # noqa: E402  (needs __version__ defined first)
from .hookspecs import hookimpl  # noqa: E402
from .plugins import get_registries  # noqa: E402

__all__ = ["Colorizer", "__version__", "get_registries", "hookimpl", "load"]
