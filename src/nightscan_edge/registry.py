"""A small generic name -> builder registry.

One registry per kind (models, export formats, runtimes, device classes). Registering a name twice is an
error because a silent override is how two plugins end up shadowing each other; an unknown name fails with
the list of known ones so the user can fix a typo without reading the source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from nightscan_edge.errors import UserError

T = TypeVar("T")


class UnknownNameError(UserError, KeyError):
    """Raised for a name that is not registered; the message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def _own_name(obj: object) -> str:
    """The ``__name__`` a decorated function or class is registered under."""
    name = getattr(obj, "__name__", None)
    if not isinstance(name, str):
        raise TypeError(f"{obj!r} has no __name__; register it with register(name=...)")
    return name


class Registry(Generic[T]):
    """Maps names to objects (builders, format descriptions, ...) of one kind."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str | None = None) -> Callable[[T], T]:
        """Decorator: ``@MODELS.register()`` uses the object's ``__name__``."""

        def decorator(obj: T) -> T:
            self.add(name or _own_name(obj), obj)
            return obj

        return decorator

    def add(self, name: str, obj: T) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered; pick another name")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise UnknownNameError(f"unknown {self.kind} '{name}'; known: {known}") from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
