"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``, checked before use.

A checkpoint is a plain dict (tensors, numbers, strings, lists), so the restricted unpickler can
read it and a hostile pickle is refused instead of executed::

    {"format": FORMAT, "epoch": int, "config": {...}, "arch": {"in_channels", "classes", "width"},
     "data": {"source": fingerprint, "target": fingerprint}, "models": state_dict,
     "teacher": state_dict | None, "optim": {...} | None, "metrics": [event, ...], "elapsed": seconds}
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import torch

from explorer.errors import ExplorerError

FORMAT = "transfer-explorer/dann-v1"


def save(path: str | os.PathLike, payload: dict) -> Path:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a checkpoint."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        # through a file object the archive's root is "archive", not the file's name,
        # so the same payload gives the same bytes under any name
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT, **payload}, f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise ExplorerError(f"Checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # an untrusted file can fail in any way the unpickler finds: all mean "not ours"
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise ExplorerError(
            f"{path.name} is not a checkpoint this app wrote; refused to load it ({first})."
        ) from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise ExplorerError(f"{path.name} is a PyTorch file but not a Transfer Explorer DANN checkpoint.")
    arch = obj.get("arch")
    well_formed = (
        isinstance(arch, dict)
        and isinstance(arch.get("in_channels"), int)
        and isinstance(arch.get("classes"), list)
        and isinstance(arch.get("width"), (int, float))
        and isinstance(obj.get("models"), dict)
        and isinstance(obj.get("config"), dict)
        and isinstance(obj.get("epoch"), int)
    )
    if not well_formed:
        raise ExplorerError(
            f"{path.name} claims to be a Transfer Explorer checkpoint but its contents are damaged."
        )
    return obj


def restore(module: torch.nn.Module, state: dict, what: str = "checkpoint") -> None:
    try:
        module.load_state_dict(state)
    except RuntimeError as e:
        detail = str(e).splitlines()[0][:200]
        raise ExplorerError(f"The {what} was saved from another architecture ({detail}).") from None
