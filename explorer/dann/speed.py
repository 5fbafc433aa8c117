"""The speed path: how this machine runs a DANN step fastest, chosen by timing, never assumed.

A path is a memory layout (NCHW, or channels-last: the layout oneDNN's and cuDNN's convolutions prefer),
a precision (fp32, or bfloat16 autocast: convolutions and matrix products in bf16, the losses and the
optimiser in fp32) and the optimiser's kernel (torch's plain per-parameter loop, or its fused one: the
same update in one pass over all weights). On CUDA the path is channels-last + bf16, as before (not
measured here: no GPU was lent). On a CPU the candidates are fp32 only, NCHW or channels-last: bf16
autocast, even where the CPU multiplies bf16 natively (AVX512-BF16, AMX) and the step is 1.2x faster
still, shipped 4.9 points less target accuracy on the rotated pair (all three seeds, beyond its 0.6
spread) and 0.8 less over the eight benchmark pairs (bench/time_to_accuracy.py, docs/BENCHMARKS.md);
`native_bf16` says where bench/bench_step.py times it. The candidates are timed on the run's own network
shape and batch, a few steps each on random images, once per machine, thread count and shape; the
fastest is kept in the app's home (``speed.json``), so every later run of that shape starts at once. Its
step time is also what the queue's estimates use (`explorer.execution.estimates`).

``fast="off"`` (CLI ``--fast off``, a page option) trains the plain eager fp32 NCHW step, for
teaching and debugging. Evaluation (target accuracy, the validators) is always fp32; only its
layout follows the path. `torch.compile` is not a candidate: bench/bench_step.py measures it slower
than eager on the CPUs here (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import contextlib
import platform
import threading
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from explorer.dann.models import build
from explorer.dann.objective import domain_loss
from explorer.store.home import home, read_json, write_json

FAST = ("auto", "off")
_lock = threading.Lock()


@dataclass(frozen=True)
class SpeedPath:
    device_type: str = "cpu"
    channels_last: bool = False
    bf16: bool = False
    fused: bool = False  # the optimiser's fused kernel

    def words(self) -> str:
        """What a run's config records, e.g. ``eager, channels_last, bf16, fused optimiser``."""
        layout = "channels_last" if self.channels_last else "NCHW"
        optimiser = "fused" if self.fused else "for-loop"
        return f"eager, {layout}, {'bf16' if self.bf16 else 'fp32'}, {optimiser} optimiser"

    def autocast(self):
        """The training step's precision: bf16 autocast on this path, else nothing."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=torch.bfloat16)

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        """Images (N, C, H, W) in this path's memory layout."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def place(self, models: torch.nn.Module) -> torch.nn.Module:
        """Models in this path's memory layout (the convolutions' weights; the rest is unaffected)."""
        return models.to(memory_format=torch.channels_last) if self.channels_last else models


def native_bf16(device_type: str) -> bool:
    """Whether bf16 matrix products run in hardware: on CUDA, yes; on a CPU, with AVX512-BF16 or AMX."""
    if device_type == "cuda":
        return True
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def candidates(device_type: str) -> list[SpeedPath]:
    """The paths worth timing here, each with the fused optimiser: on a CPU, fp32 in either layout."""
    if device_type == "cuda":
        return [SpeedPath("cuda", channels_last=True, bf16=True, fused=True)]
    return [SpeedPath("cpu", channels_last, fused=True) for channels_last in (False, True)]


@dataclass(frozen=True)
class Shape:
    """What a step's speed depends on besides the machine."""

    in_channels: int
    classes: int
    width: float
    batch: int
    size: int

    def key(self, device_type: str) -> str:
        threads = torch.get_num_threads() if device_type == "cpu" else 0
        return (
            f"{machine(device_type)}|torch {torch.__version__}|{threads} threads|"
            f"{self.in_channels}ch {self.classes}cls w{self.width} b{self.batch} {self.size}px"
        )


def choose(fast: str, device: torch.device, shape: Shape) -> tuple[SpeedPath, float]:
    """The path a run of `shape` trains on, and its seconds per step (timed here, or read from
    ``speed.json`` where this machine timed that shape before)."""
    paths = candidates(device.type) if fast == "auto" else [SpeedPath(device.type)]
    key = f"{shape.key(device.type)}|{fast}"
    with _lock:
        known = read_json(_file()).get(key)
        if known and known.get("path") in [p.words() for p in paths]:
            path = next(p for p in paths if p.words() == known["path"])
            return path, float(known["seconds"])
        times = timed(paths, device, shape)
        path = min(times, key=times.get)
        store = read_json(_file())
        store[key] = {
            "path": path.words(),
            "seconds": times[path],
            "all": {p.words(): times[p] for p in times},
        }
        write_json(_file(), store)
        return path, times[path]


def timed(paths: list[SpeedPath], device: torch.device, shape: Shape, rounds: int = 5) -> dict:
    """Seconds of one DANN step on each path: the fastest of `rounds`, after one to warm up. Each round
    times every path once, so a burst of other work on the machine slows them all alike. Random images
    and freshly built networks, from their own generator: no run's random stream moves."""
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(2 * shape.batch, shape.in_channels, shape.size, shape.size, device=device, generator=g)
    y = torch.randint(0, shape.classes, (shape.batch,), device=device, generator=g)
    steps = {path: _one_step(path, _fresh(shape, device, g), x, y, shape.batch) for path in paths}
    seconds = {path: [] for path in paths}
    for _ in range(rounds + 1):
        for path, step in steps.items():
            t0 = time.perf_counter()
            step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds[path].append(time.perf_counter() - t0)
    return {path: min(s[1:]) for path, s in seconds.items()}


def _one_step(path: SpeedPath, models: torch.nn.ModuleDict, x: torch.Tensor, y: torch.Tensor, n: int):
    """A step of `models` on `path`: the source rows' cross-entropy plus the discriminator's loss."""
    models, xs = path.place(models), path.layout(x)
    opt = torch.optim.Adam(models.parameters(), lr=1e-3, fused=path.fused)

    def step():
        with path.autocast():
            f = models["feature"](xs)
            logits = models["label"](f[:n]).float()
            loss = F.cross_entropy(logits, y) + domain_loss(models["domain"], f, n).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _fresh(shape: Shape, device: torch.device, g: torch.Generator) -> torch.nn.ModuleDict:
    with torch.device("meta"):
        models = build(shape.in_channels, shape.classes, shape.width)
    models = models.to_empty(device=device)
    for p in models.parameters():
        torch.nn.init.uniform_(p, -0.05, 0.05, generator=g)
    for m in models.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    return models


def machine(device_type: str) -> str:
    """The processor a path was timed on: the CUDA device's name, or the CPU's model name."""
    if device_type == "cuda":
        return torch.cuda.get_device_name()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _file():
    return home() / "speed.json"
