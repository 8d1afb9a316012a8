"""Public names that load the first time they are used (PEP 562), for a package's ``__init__``.

The package and its testing kit list each public name under the module that defines it; a
name is imported from there when first read, then kept in the package's namespace. So
``kernel-async --help`` starts without aiohttp and the client, and the pytest plugin, which
pytest loads wherever the package is installed, without the emulator.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["load_on_first_use"]


def load_on_first_use(
    namespace: dict[str, Any], homes: Mapping[str, tuple[str, ...]]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose ``globals()`` is ``namespace``.

    Args:
        namespace: The package's ``globals()``, with its ``__name__`` and ``__all__``.
        homes: For each submodule (``"_client"``), the public names it defines.
    """
    package = namespace["__name__"]

    def load(name: str) -> object:
        home = next((module for module, names in homes.items() if name in names), None)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # __import__ with a fromlist returns the submodule itself; unlike
        # importlib.import_module it goes through the import statement's path, so
        # ``python -X importtime`` shows it.
        value = getattr(__import__(f"{package}.{home}", fromlist=[name]), name)
        namespace[name] = value
        return value

    def names() -> list[str]:
        return sorted({*namespace, *namespace["__all__"]})

    return load, names
