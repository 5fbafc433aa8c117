"""Which torch device runs the work: CUDA when present, else the CPU."""
from __future__ import annotations

import os

import torch

from explorer.errors import ExplorerError


def pick(name: str = "auto") -> torch.device:
    """``auto`` -> cuda if available else cpu; ``cuda`` when there is none is an error, not a silent fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ExplorerError("CUDA was asked for, but this machine has no usable CUDA device; use cpu or auto.")
    if name not in ("cpu", "cuda"):
        raise ExplorerError(f"Unknown device {name!r}; choose auto, cpu or cuda.")
    return torch.device(name)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA · {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return f"CPU · {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
