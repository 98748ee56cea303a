"""Named component registries, the only way recipes reach code.

A registry maps a name to a factory plus where it came from, so that
``ganforge plugins`` can say which distribution supplies what and an unknown
name fails with the closest matches instead of a bare ``KeyError``.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import fnmatch
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ganforge.core.errors import DuplicateComponentError, UnknownComponentError

T = TypeVar("T")


@dataclass(frozen=True)
class Origin:
    """Where a component was registered from."""

    distribution: str
    module: str

    def __str__(self) -> str:
        return f"{self.distribution} ({self.module})"


_current_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar("ganforge_current_origin", default=None)


@contextlib.contextmanager
def registering_from(origin: Origin) -> Iterator[None]:
    """Attribute every ``Registry.add`` inside the block to ``origin``."""
    token = _current_origin.set(origin)
    try:
        yield
    finally:
        _current_origin.reset(token)


def _first_doc_line(obj: object) -> str:
    doc = inspect.getdoc(obj) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component."""

    kind: str
    name: str
    factory: Callable[..., T]
    description: str
    origin: Origin


class Registry(Generic[T]):
    """A dictionary of factories with good manners (did-you-mean, origins, globbing)."""

    def __init__(self, kind: str, load_errors: list[str] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}
        self._load_errors = load_errors if load_errors is not None else []  # plugins that may have held a missing name

    def add(
        self,
        name: str,
        factory: Callable[..., T],
        *,
        description: str | None = None,
        origin: Origin | None = None,
    ) -> Callable[..., T]:
        """Register ``factory`` as ``name``; the description defaults to its docstring's first line."""
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"{self.kind} name {name!r} must be a Python identifier (letters, digits, _)")
        origin = origin or _current_origin.get() or Origin("(not installed)", getattr(factory, "__module__", "?"))
        if name in self._entries:
            first = self._entries[name].origin
            raise DuplicateComponentError(
                f"{self.kind} '{name}' is registered twice: by {first} and by {origin}; "
                "uninstall or block one of the two plugins"
            )
        entry = Entry(self.kind, name, factory, description or _first_doc_line(factory), origin)
        self._entries[name] = entry
        return factory

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownComponentError(self._unknown_message(name)) from None

    def create(self, name: str, /, **kwargs: Any) -> T:
        """Build the component called ``name`` with ``kwargs``."""
        return self.get(name).factory(**kwargs)

    def names(self, pattern: str = "*") -> list[str]:
        """Sorted names matching a shell-style ``pattern`` (timm's ``list_models`` manners)."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def entries(self) -> list[Entry[T]]:
        return [self._entries[n] for n in self.names()]

    def _unknown_message(self, name: str) -> str:
        available = self.names()
        broken = f"; it may come from a plugin that failed to load: {self._load_errors[0]}" if self._load_errors else ""
        if not available:
            return f"unknown {self.kind} '{name}': no {self.kind} is registered (is a plugin missing?){broken}"
        close = difflib.get_close_matches(str(name), available, n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(repr(c) for c in close)}? " if close else ""
        return f"unknown {self.kind} '{name}': {hint}available: {', '.join(available)}{broken}"

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"


@dataclass
class Registries:
    """Every registry a plugin can add to; handed to ``ganforge_register``."""

    load_errors: list[str] = field(default_factory=list)  # filled by the plugin manager, read by every registry
    color_spaces: Registry[Any] = field(init=False)
    generators: Registry[Any] = field(init=False)
    adversaries: Registry[Any] = field(init=False)
    losses: Registry[Any] = field(init=False)
    sources: Registry[Any] = field(init=False)
    metrics: Registry[Any] = field(init=False)

    def __post_init__(self) -> None:
        self.color_spaces = Registry("color space", self.load_errors)
        self.generators = Registry("generator", self.load_errors)
        self.adversaries = Registry("adversary", self.load_errors)
        self.losses = Registry("loss", self.load_errors)
        self.sources = Registry("data source", self.load_errors)
        self.metrics = Registry("metric", self.load_errors)

    def all(self) -> list[Registry[Any]]:
        return [self.color_spaces, self.generators, self.adversaries, self.losses, self.sources, self.metrics]
