"""Which torch device runs the work (CUDA when present, else the CPU), how many CPUs this process may
use, and the two things every loop on a device shares: bfloat16 autocast on CUDA, and evaluation in
batches."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from pathlib import Path

import torch

from explorer.errors import ExplorerError


def pick(name: str = "auto") -> torch.device:
    """``auto``: cuda if available, else cpu. ``cuda`` without one is an error, never a fallback."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ExplorerError(
            "CUDA was asked for, but this machine has no usable CUDA device; use cpu or auto."
        )
    if name not in ("cpu", "cuda"):
        raise ExplorerError(f"Unknown device {name!r}; choose auto, cpu or cuda.")
    return torch.device(name)


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return f"CUDA · {props.name} ({props.total_memory / 2**30:.0f} GiB)"
    return f"CPU · {usable_cpus()} cores, {torch.get_num_threads()} torch threads"


def usable_cpus(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """The CPUs this process may run on: its affinity mask (``taskset``, a container's cpuset), capped
    by its cgroup's CPU quota (``docker --cpus 4``: v2 ``cpu.max``, or v1's quota over period), rounded
    up. ``os.cpu_count()`` counts the host's: 64 in a 4-CPU container on a 64-core host."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = _quota(cgroup)
    return max(1, min(n, math.ceil(quota))) if quota else max(1, n)


def _quota(cgroup: Path) -> float | None:
    """CPUs allowed by the cgroup's quota; None where there is none (or it cannot be read)."""
    try:
        if (cgroup / "cpu.max").exists():  # v2: "max 100000" or "400000 100000"
            quota, period = (cgroup / "cpu.max").read_text().split()[:2]
        else:  # v1: -1 when unlimited
            quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
        if quota in ("max", "-1"):
            return None
        return int(quota) / int(period) if int(quota) > 0 and int(period) > 0 else None
    except (OSError, ValueError):
        return None


def use_usable_cpus() -> None:
    """Torch's threads capped at the CPUs this process may use (torch counts the affinity mask but
    not a cgroup quota: more threads than CPUs would take turns)."""
    torch.set_num_threads(min(torch.get_num_threads(), usable_cpus()))


def autocast(device: torch.device):
    """bfloat16 mixed precision on CUDA; a no-op on the CPU."""
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda")


@torch.no_grad()
def map_batches(fn: Callable, items: torch.Tensor, batch: int, stop: threading.Event | None = None):
    """``fn`` over ``items[i : i + batch]``, without gradients, its outputs concatenated (each part of
    a tuple output on its own). None when ``stop`` is set on the way."""
    outs = []
    for i in range(0, len(items), batch):
        if stop is not None and stop.is_set():
            return None
        outs.append(fn(items[i : i + batch]))
    if isinstance(outs[0], tuple):
        return tuple(torch.cat(parts) for parts in zip(*outs))
    return torch.cat(outs)


class Sums:
    """Named per-step numbers summed on the device (no GPU sync per step), read together once."""

    def __init__(self):
        self.sums: dict[str, torch.Tensor] = {}
        self.steps = 0

    def add(self, **values: torch.Tensor) -> None:
        for name, v in values.items():
            self.sums[name] = self.sums[name] + v.float() if name in self.sums else v.float()
        self.steps += 1

    def totals(self) -> dict[str, float]:
        return dict(zip(self.sums, torch.stack(list(self.sums.values())).tolist()))
