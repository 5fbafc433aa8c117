"""About how long training takes, before it starts: a few steps of the network timed on random images
(once per process and network shape), times the steps ahead, times `OVERHEAD` (judging every epoch,
writing checkpoints), divided by what running side by side gains (`SIDE_BY_SIDE`; stacking on a GPU
is not measured yet, so it is counted as no gain). The queue's estimates, a sweep's cost
(`costs.py`) and auto's question "is there time to measure?" (`auto.py`) all ask here.
"""

from __future__ import annotations

import functools
import time

import torch
import torch.nn.functional as F

from explorer.dann.config import TrainConfig
from explorer.dann.models import build
from explorer.dann.objective import domain_loss

# Both measured by bench/bench_sweep.py on the embedded data (2 CPU cores, docs/BENCHMARKS.md):
OVERHEAD = 1.3  # a run's wall time over its timed training steps (judging every epoch, checkpoints)
SIDE_BY_SIDE = 1.13  # one process per core against one run after another in one process


def run_seconds(configs: list[TrainConfig], data, device_type: str, side_by_side: bool = False) -> float:
    """About how long training `configs` on `data` takes: one after another, or (`side_by_side`)
    one process per core."""
    per_step = step_seconds(
        configs[0], data.source.images.shape[1], len(data.classes), torch.device(device_type)
    )
    steps = sum(
        (c.epochs + c.self_train_epochs) * (c.split(len(data.source))[0] // c.batch_size) for c in configs
    )
    return steps * per_step * OVERHEAD / (SIDE_BY_SIDE if side_by_side else 1.0)


def epochs_within(
    configs: list[TrainConfig], data, device_type: str, budget: float, side_by_side: bool
) -> float:
    """About how many epochs each of `configs` reaches when they train together within `budget` seconds
    (their own epochs at most)."""
    seconds = run_seconds(configs, data, device_type, side_by_side)
    epochs = configs[0].epochs
    return epochs if seconds <= 0 else min(float(epochs), epochs * budget / seconds)


def step_seconds(config: TrainConfig, in_channels: int, classes: int, device: torch.device) -> float:
    """Seconds of one DANN step of `config`'s network on random images (the fastest of 5, after 3 to
    warm up), timed once per process for each network shape and batch: every Start in a class would
    otherwise time it again, on the core the running run trains on (bench/bench_classroom.py)."""
    return _timed(
        config.width, config.batch_size, config.image_size, config.lr, in_channels, classes, device.type
    )


@functools.lru_cache(maxsize=64)
def _timed(
    width: float, batch: int, size: int, lr: float, in_channels: int, classes: int, device_type: str
) -> float:
    """It draws from its own generator: a run starting meanwhile in another thread seeds and draws
    from torch's global one."""
    device = torch.device(device_type)
    g = torch.Generator(device=device).manual_seed(0)
    with torch.device("meta"):
        models = build(in_channels, classes, width)
    models = models.to_empty(device=device)
    for p in models.parameters():
        torch.nn.init.uniform_(p, -0.05, 0.05, generator=g)
    for m in models.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    opt = torch.optim.Adam(models.parameters(), lr=lr)
    n = batch
    x = torch.rand(2 * n, in_channels, size, size, device=device, generator=g)
    y = torch.randint(0, classes, (n,), device=device, generator=g)
    times = []
    for _ in range(8):
        t0 = time.perf_counter()
        f = models["feature"](x)
        loss = F.cross_entropy(models["label"](f[:n]), y) + domain_loss(models["domain"], f, n).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return min(times[3:])
