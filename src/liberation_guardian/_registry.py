"""Find plugin classes by scanning a package and the installed entry points.

Sources and channels are registered the same way: every public module of their
package is imported, every class in it that subclasses the base and sets `name` is
collected, and outside packages add more through an entry-point group. No class is
ever looked up by building its name from a string.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points
from types import ModuleType


def scan(package: ModuleType, base: type, entry_point_group: str) -> dict[str, type]:
    """Return {name: class} for every concrete `base` subclass in `package` and the entry points."""
    found: dict[str, type] = {}

    def add(cls: type, where: str) -> None:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or inspect.isabstract(cls):
            return
        if name in found and found[name] is not cls:
            raise RuntimeError(f"two {base.__name__} classes are named {name!r}: {found[name]} and {where}")
        found[name] = cls

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for _, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, base) and obj is not base and obj.__module__ == module.__name__:
                add(obj, module.__name__)
    for ep in entry_points(group=entry_point_group):
        obj = ep.load()
        if inspect.isclass(obj) and issubclass(obj, base):
            add(obj, f"entry point {ep.name}")
    return found
