"""Loading frozen detectors: TorchScript files, or state dicts plus a registered architecture.

Two file kinds, told apart by content (a TorchScript file is a zip with a ``constants.pkl``):

TorchScript (``torch.jit.save``)
    The module is loaded with ``torch.jit.load``. rigkit's own exports carry their settings as
    the extra file ``rigkit.json``; for other TorchScript files the settings (joint names, input
    size, ...) are passed as keyword arguments.
rigkit checkpoint (``torch.save`` of a dict)
    Loaded with ``torch.load(..., weights_only=True)`` (no pickled code runs), holding
    ``{"architecture": str, "architecture_kwargs": dict, "state_dict": dict, "settings": dict}``.
    The module is built by the architecture registered under that name
    (:func:`register_architecture`) and gets the state dict.

The sha256 of the file is recorded (:attr:`LoadedModel.weights_sha256`) and travels with every
label made from it. Nothing is ever downloaded.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from rigkit_files import sha256_of_file as file_sha256
from rigkit_files import write_atomic_with

__all__ = ["register_architecture", "registered_architectures", "LoadedModel", "load_model",
           "save_checkpoint", "export_torchscript", "file_sha256"]

_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}
TORCHSCRIPT_SETTINGS_FILE = "rigkit.json"


def register_architecture(name: str) -> Callable:
    """Decorator registering a module factory (class or function) under ``name``.

    ``@register_architecture("my_net")`` on ``class MyNet(nn.Module)``; checkpoints naming
    ``"my_net"`` are then built by ``MyNet(**architecture_kwargs)``. Re-registering a name with a
    different factory raises ValueError.
    """
    if not name or not isinstance(name, str):
        raise ValueError(f"architecture name must be a non-empty string, got {name!r}")

    def decorate(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        existing = _ARCHITECTURES.get(name)
        if existing is not None and existing is not factory and (
                getattr(existing, "__qualname__", None) != getattr(factory, "__qualname__", None)):
            raise ValueError(f"architecture {name!r} is already registered to {existing!r}")
        _ARCHITECTURES[name] = factory
        return factory

    return decorate


def registered_architectures() -> tuple[str, ...]:
    """Names usable in a checkpoint's ``"architecture"`` field."""
    return tuple(sorted(_ARCHITECTURES))


@dataclass(frozen=True)
class LoadedModel:
    """A module read from disk, not yet frozen.

    module: the torch module (weights loaded, on the CPU).
    settings: the detector settings stored with it (joint names, input size, normalization...),
        merged with the caller's overrides.
    weights_sha256: hex sha256 of the file's bytes.
    path: the file.
    kind: ``"torchscript"`` or ``"checkpoint"``.
    """

    module: nn.Module
    settings: dict = field(default_factory=dict)
    weights_sha256: str = ""
    path: Path = Path()
    kind: str = "checkpoint"


def _is_torchscript(path: Path) -> bool:
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(name.endswith("constants.pkl") or "/code/" in name for name in archive.namelist())


def _one_line(error: BaseException) -> str:
    """torch's loading error in one line: its unpickler's reason when it gives one (its advice to
    pass ``weights_only=False``, i.e. to run the file's code, is left out), else its first line."""
    text = str(error)
    marker = "WeightsUnpickler error:"
    if marker in text:
        text = text.split(marker, 1)[1]
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def load_model(path: str | os.PathLike, **overrides) -> LoadedModel:
    """Read a TorchScript file or a rigkit checkpoint (see the module docstring).

    overrides: settings that replace or complete the stored ones (e.g. ``joint_names``,
        ``input_size``); ``architecture`` / ``architecture_kwargs`` let a bare state dict (a file
        holding only tensors) be loaded.
    Raises ValueError (one sentence naming the file) for a missing, unreadable or inconsistent file.
    """
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"detector weights {path} do not exist")
    sha256 = file_sha256(path)
    if _is_torchscript(path):
        extra = {TORCHSCRIPT_SETTINGS_FILE: ""}
        try:
            with warnings.catch_warnings():  # TorchScript is deprecated upstream, still what labs ship
                warnings.simplefilter("ignore", DeprecationWarning)
                module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
        except (RuntimeError, ValueError) as error:
            raise ValueError(f"{path} is not a loadable TorchScript file: {error}") from error
        settings = json.loads(extra[TORCHSCRIPT_SETTINGS_FILE] or "{}")
        settings.update(overrides)
        return LoadedModel(module, settings, sha256, path, "torchscript")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError, ...
        raise ValueError(f"{path} is neither TorchScript nor a weights-only torch checkpoint "
                         f"({_one_line(error)}); rigkit runs no code from a weights file") from error
    if isinstance(payload, dict) and "state_dict" in payload:
        state_dict = payload["state_dict"]
        architecture = overrides.pop("architecture", payload.get("architecture"))
        kwargs = overrides.pop("architecture_kwargs", payload.get("architecture_kwargs", {}))
        settings = dict(payload.get("settings", {}))
    elif isinstance(payload, dict) and all(isinstance(v, torch.Tensor) for v in payload.values()):
        state_dict = payload
        architecture = overrides.pop("architecture", None)
        kwargs = overrides.pop("architecture_kwargs", {})
        settings = {}
    else:
        raise ValueError(f"{path} holds a {type(payload).__name__}, expected a rigkit checkpoint "
                         "dict with 'architecture' and 'state_dict' or a bare state dict")
    if architecture not in _ARCHITECTURES:
        raise ValueError(f"{path} needs architecture {architecture!r}, which is not registered "
                         f"(registered: {', '.join(registered_architectures()) or 'none'})")
    module = _ARCHITECTURES[architecture](**kwargs)
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as error:
        raise ValueError(f"{path} does not fit architecture {architecture!r}: {error}") from error
    settings.update(overrides)
    settings.setdefault("architecture", architecture)
    return LoadedModel(module, settings, sha256, path, "checkpoint")


def save_checkpoint(path: str | os.PathLike, module: nn.Module, *, architecture: str,
                    architecture_kwargs: dict, settings: dict) -> str:
    """Write a weights-only checkpoint atomically; returns its sha256.

    settings: JSON-like values only (str, int, float, bool, lists, dicts), so that
    ``weights_only=True`` loading accepts them.
    """
    if architecture not in _ARCHITECTURES:
        raise ValueError(f"architecture {architecture!r} is not registered")
    payload = {"architecture": architecture, "architecture_kwargs": dict(architecture_kwargs),
               "state_dict": {k: v.detach().cpu().clone() for k, v in module.state_dict().items()},
               "settings": json.loads(json.dumps(settings))}
    path = Path(path)
    write_atomic_with(path, lambda temporary: torch.save(payload, temporary), make_parents=True)
    return file_sha256(path)


def export_torchscript(path: str | os.PathLike, module: nn.Module, *, settings: dict) -> str:
    """Script ``module`` (eval mode) and write it with its settings atomically; returns sha256."""
    extra = {TORCHSCRIPT_SETTINGS_FILE: json.dumps(settings)}
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(module.eval())
        write_atomic_with(path, lambda temporary: torch.jit.save(scripted, str(temporary), _extra_files=extra),
                          make_parents=True)
    return file_sha256(path)
