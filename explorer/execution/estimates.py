"""About how long training takes, before it starts: a few steps of the network timed on random images
(once per machine and network shape, on the run's speed path), times the steps ahead, times
`OVERHEAD` (judging every epoch, writing checkpoints), divided by what running side by side gains
(`SIDE_BY_SIDE`; stacking on a GPU is not measured yet, so it is counted as no gain): auto's question
"is there time to measure?" (`auto.py`). The queue's estimates and a sweep's cost (`costs.py`) count
a run's parts apart, from the same timed step.
"""

from __future__ import annotations

import torch

from explorer.dann.config import TrainConfig
from explorer.dann.speed import Shape, choose

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
    """Seconds of one DANN step of `config`'s network on its speed path: timed once per machine, thread
    count and network shape (`explorer.dann.speed`); every Start in a class would otherwise time it
    again, on the core the running run trains on (bench/bench_classroom.py)."""
    shape = Shape(in_channels, classes, config.width, config.batch_size, config.image_size)
    return choose(config.fast, device, shape)[1]
