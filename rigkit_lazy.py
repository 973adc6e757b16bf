"""Lazy package faces: a package's public names, imported from their submodules on first use.

Below every package (imports nothing of ours). A package ``__init__`` maps each public name to the
submodule that defines it and installs the pair of module hooks (PEP 562)::

    __all__ = list(_SUBMODULES)
    __getattr__, __dir__ = lazy_attributes(__name__, _SUBMODULES)

so that ``import capture`` loads no ZeroMQ and ``from labeling import ShardDataset`` loads only what
the dataset needs. ``from package import *`` still imports every name.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from collections.abc import Callable, Mapping

__all__ = ["lazy_attributes"]


class _LazyPackage(types.ModuleType):
    """A package whose public name is also one of its submodules' names (``calibration.board_extrinsics``,
    the function in the module ``calibration/board_extrinsics.py``; ``capture.render_person``, a
    function of ``capture/render.py``): importing that submodule does not bind the package
    attribute to the module, so the name stays the function, as an eager ``__init__`` left it."""

    _shadowed: frozenset = frozenset()

    def __setattr__(self, name: str, value) -> None:
        if name in self._shadowed and isinstance(value, types.ModuleType):
            return  # the submodule stays in sys.modules; the name resolves through __getattr__
        super().__setattr__(name, value)


def lazy_attributes(package: str, submodules: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``name`` lives in ``submodules[name]``
    (a module name relative to the package)."""
    module = sys.modules[package]
    shadowed = frozenset(submodules) & {info.name for info in pkgutil.iter_modules(module.__path__)}
    if shadowed:
        module.__class__ = _LazyPackage
        module._shadowed = shadowed

    def __getattr__(name: str):
        if name not in submodules:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f".{submodules[name]}", package), name)
        setattr(sys.modules[package], name, value)  # later lookups skip this hook
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(submodules))

    return __getattr__, __dir__
