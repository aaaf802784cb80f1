"""One idiom for every extension point: a named registry, filled where things are defined.

Architectures, datasets, attack families, measures, reductions and preset blocks each have a
``Registry``. The module that defines an entry registers it (``@REGISTRY.register("name")``
or ``REGISTRY.register("name", thing)``), and the package's ``__init__`` imports each such
module by name, so what a package offers is the list of imports one can read there. An
entry whose code needs a heavy library (torch) may instead be a reference
``"package.module:name"`` registered in the package's ``__init__`` and resolved on use
(:func:`resolve`), so listing and checking names imports none of it.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, overload

from mtsweep.errors import MtsweepError

T = TypeVar("T")


class UnknownNameError(MtsweepError):
    """A name that no module registered."""


class Registry(Generic[T]):
    """Name → entry, listed in registration order or by ``sort_key(entry)``.

    ``kind`` names the entries in messages ("architecture"); ``error`` is the class raised
    for an unknown name (a subclass of ``UnknownNameError`` or of ``MtsweepError``), so each
    package keeps its own error type. Registering a name twice is refused, except for the
    same entry again: an equal one, or one defined at the same place (``origin``, by default
    the module and qualified name of a class or function), as when a module is imported a
    second time.
    """

    def __init__(
        self,
        kind: str,
        error: type[MtsweepError] = UnknownNameError,
        origin: Callable[[T], str] | None = None,
        sort_key: Callable[[T], Any] | None = None,
    ) -> None:
        self.kind = kind
        self.error = error
        self._origin = origin or _origin
        self._sort_key = sort_key
        self._entries: dict[str, T] = {}

    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, entry: T) -> T: ...

    def register(self, name: str, entry: T | None = None) -> T | Callable[[T], T]:
        """Register ``entry`` under ``name`` and return it; without ``entry``, a decorator."""
        if entry is None:
            return lambda decorated: self.register(name, decorated)
        known = self._entries.get(name)
        if known is not None and known != entry and self._origin(known) != self._origin(entry):
            raise self.error(
                f"{self.kind} name {name!r} of {self._origin(entry)} "
                f"is taken by {self._origin(known)}"
            )
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        """The entry called ``name``; else ``error`` naming the closest known names."""
        try:
            return self._entries[name]
        except KeyError:
            raise self.error(self.unknown(name)) from None

    def __getitem__(self, name: str) -> T:
        """``registry[name]`` is ``registry.get(name)``."""
        return self.get(name)

    def unknown(self, name: str) -> str:
        """The one-line message for an unknown ``name``: a guess, then the known names."""
        close = difflib.get_close_matches(str(name), self._entries, n=1)
        guess = f"did you mean {close[0]!r}? " if close else ""
        return f"unknown {self.kind} {name!r}; {guess}known: {', '.join(self.names())}"

    def names(self) -> tuple[str, ...]:
        """The registered names, in registration order or by ``sort_key``."""
        if self._sort_key is None:
            return tuple(self._entries)
        key = self._sort_key
        return tuple(sorted(self._entries, key=lambda name: key(self._entries[name])))

    def entries(self) -> tuple[T, ...]:
        """The registered entries, in the order of ``names()``."""
        return tuple(self._entries[name] for name in self.names())

    def items(self) -> tuple[tuple[str, T], ...]:
        """(name, entry) pairs, in the order of ``names()``."""
        return tuple((name, self._entries[name]) for name in self.names())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind}: {', '.join(self.names())})"


def resolve(reference: str) -> Any:
    """The object a ``"package.module:name"`` reference names, importing its module now."""
    module, _, name = reference.partition(":")
    return getattr(importlib.import_module(module), name)


def _origin(entry: object) -> str:
    """Where an entry was defined: the module and qualified name of a class or function;
    an object (an equal one is the same entry) is told by its value."""
    if hasattr(entry, "__qualname__"):
        return f"{getattr(entry, '__module__', '?')}.{entry.__qualname__}"
    return repr(entry)
