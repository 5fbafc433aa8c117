"""Fine-tuned models kept in a folder, each with the label it was trained under.

`save(model, folder, label)` writes two files named by a fresh random id:

* ``<id>.pt``: the model's ``state_dict`` and nothing else, so ``torch.load(path, weights_only=True)``
  reads it anywhere, and `explorer.transfer.backbones.load_backbone(name, str(path))` rebuilds the
  network (a head sized for other classes is left out);
* ``<id>.json``, beside it: ``{"label": ..., "saved": unix time}``.

Each is written to a temporary name and renamed, the weights first, so a reader never sees half a
file, and a model is listed only once its label is there. `saved(folder)` lists the models newest
first as ``(label, path)``; one whose sidecar is missing or unreadable is left out, since its label
(which names the backbone) is unknown, and never stops the others from being listed.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import torch


def save(model: torch.nn.Module, folder: str | os.PathLike, label: str) -> Path:
    """Write `model`'s state_dict into `folder` (made if missing) with `label` beside it; the .pt's path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.pt"
    _write(path, lambda f: torch.save(model.state_dict(), f))
    meta = json.dumps({"label": label, "saved": time.time()}).encode()
    _write(path.with_suffix(".json"), lambda f: f.write(meta))
    return path


def saved(folder: str | os.PathLike) -> list[tuple[str, Path]]:
    """The models in `folder` as (label, path to the .pt), newest first; [] when there is no folder."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.pt"):
        meta = _sidecar(path)
        if meta is not None:
            found.append((meta[1], meta[0], path))
    found.sort(key=lambda t: (t[0], t[2].name), reverse=True)
    return [(label, path) for _, label, path in found]


def _sidecar(path: Path) -> tuple[str, float] | None:
    """The model's label and when it was saved (its file's time when the sidecar does not say), or None."""
    try:
        meta = json.loads(path.with_suffix(".json").read_text())
        if not isinstance(meta, dict) or not isinstance(meta.get("label"), str) or not meta["label"]:
            return None
        when = meta.get("saved")
        if isinstance(when, bool) or not isinstance(when, (int, float)) or not math.isfinite(when):
            when = path.stat().st_mtime
    except (OSError, ValueError):  # missing, unreadable, not JSON, or the model removed meanwhile
        return None
    return meta["label"], float(when)


def _write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """`write` into a temporary file beside `path`, then rename it to `path`."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
