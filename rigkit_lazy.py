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
import sys
import types
from collections.abc import Callable, Mapping

__all__ = ["lazy_attributes"]


class _LazyPackage(types.ModuleType):
    """A package whose public name may equal one of its submodules' (``calibration.board_extrinsics``,
    the function of the module ``calibration/board_extrinsics.py``): importing the submodule binds the
    package attribute to the function, not to the module, as an eager ``from .x import x`` would."""

    _shadowed: frozenset = frozenset()

    def __setattr__(self, name: str, value) -> None:
        if name in self._shadowed and isinstance(value, types.ModuleType) and hasattr(value, name):
            value = getattr(value, name)
        super().__setattr__(name, value)


def lazy_attributes(package: str, submodules: Mapping[str, str]) -> tuple[Callable, Callable]:
    """``(__getattr__, __dir__)`` for ``package`` whose public ``name`` lives in ``submodules[name]``
    (a module name relative to the package)."""
    module = sys.modules[package]
    shadowed = frozenset(name for name, submodule in submodules.items() if name == submodule)
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
