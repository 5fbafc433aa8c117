"""What training will cost before it starts (a run, auto's measuring, a sweep): about how long, and how much
checkpoint space (a sweep).

Seconds: each run not yet trained, in timed steps of its network (`estimates.step_seconds`, on its
speed path): its training steps, then every epoch the judging (target accuracy and the validators,
one forward pass over the images they score) and the epoch's checkpoints; plus preparing the run.
On a CPU the back-end trains the runs side by side, one worker process per core taking the next run
as it frees up, each worker at ``SIDE_BY_SIDE / workers`` of this process's speed; the sweep lasts
as long as its busiest worker. Judging is counted apart from the steps because it does not shrink
with the source: on the embedded data (12 steps an epoch, 988 images judged) it is a third of a
run, on the homework's 5,000 photos (70 steps an epoch) a twentieth.

Bytes: each checkpoint holds the weights (``last.pt`` also Adam's two moments); a run keeps its
marked epochs, its last one and one best checkpoint per validator.
"""

from __future__ import annotations

import functools

import torch

from explorer.dann.config import TrainConfig
from explorer.dann.models import build
from explorer.dann.runfolder import marked
from explorer.dann.validators import NAMES, SAMPLE
from explorer.data.preprocess import Preprocess
from explorer.execution import estimates
from explorer.execution.processes import Processes
from explorer.execution.sweep import Sweep

# A run's parts in timed steps, measured on the embedded data at 32 px with the default network on
# one torch thread (a worker's), as CPU time against the timed step's CPU time, so that the other work
# on the shared 2-core AMD EPYC VM (load 4 to 10 while measuring) weighs on both alike; 20-epoch runs,
# four of them, rotation and none (bench/bench_sweep.py checks the sum against whole sweeps). With the
# fast step (channels-last) the batch and its augmentation, which did not get faster, weigh more: a
# training step took 1.2 timed steps in a worker (one thread) and 1.75 in the app's own process (two
# threads, its page drawing beside it; the first session on an idle VM, 2026-12-07).
TRAIN_STEP = 1.4  # a training step (the batch, its augmentation) over the timed one
JUDGED_PER_STEP = 140  # images judged in the time of one timed step: 988 images took 5.6 to 7.5 steps
RECORD_STEPS = 0.7  # writing an epoch's checkpoints (last.pt, the validators' best): 0.5 to 0.7 steps
RUN_START = 0.5  # seconds to prepare a run (auto's statistics, Canny on both domains): 0.2 to 0.5 s CPU
WORKER_START = 3.0  # seconds for a worker process to start (Python, torch: 2.3 s CPU; the dataset sent)


def seconds(sweep: Sweep) -> float:
    """About how long the sweep's runs not yet trained will take."""
    pending = sweep.pending()
    if not pending:
        return 0.0
    backend = sweep.choose(len(pending))
    workers = backend.workers if isinstance(backend, Processes) else 0
    return together([r.config for r in pending], sweep.dataset, sweep.device_type, workers)


def together(configs: list[TrainConfig], data, device_type: str, workers: int = 0) -> float:
    """About how long training `configs` takes: one after another in this process (`workers` 0), or
    handed out in order to `workers` processes, each run to the first worker free (a sweep's runs, a
    measurement's options); the time of the busiest worker."""
    alone = [run_seconds(c, data, device_type) for c in configs]
    if not workers:
        return sum(alone)  # one after another (stacking on a GPU is not measured yet: counted as no gain)
    workers = min(workers, len(alone))
    slower = workers / estimates.SIDE_BY_SIDE if workers > 1 else 1.0  # one worker has every core
    free = [WORKER_START] * workers  # when each worker is next free
    for s in alone:
        i = free.index(min(free))
        free[i] += s * slower
    return max(free)


def run_seconds(config: TrainConfig, data, device_type: str) -> float:
    """About how long one run of `config` on `data` takes in this process, judging and checkpoints
    included."""
    step = estimates.step_seconds(
        config, in_channels(config, data), len(data.classes), torch.device(device_type)
    )
    n_train, n_held = config.split(len(data.source))
    per_epoch = n_train // config.batch_size * TRAIN_STEP * step
    # a labelled target is scored whole (target accuracy); an unlabelled one by a sample
    judged = (len(data.target) if data.target.labelled else min(SAMPLE, len(data.target))) + n_held
    epochs = float(config.epochs)
    if config.time_budget:  # the budget counts training time, not judging
        epochs = min(epochs, config.time_budget / per_epoch)
    epochs += config.self_train_epochs
    return RUN_START + epochs * (per_epoch + (judged / JUDGED_PER_STEP + RECORD_STEPS) * step)


def in_channels(config: TrainConfig, data) -> int:
    """The channels the run's network takes: colour only where both domains are and no edges are
    drawn (with ``auto`` still to choose, colour: the slower of the two)."""
    colour = data.source.images.shape[1] == 3 and data.target.images.shape[1] == 3
    no_edges = config.canny in (None, "auto") or Preprocess.from_spec(config.canny).edges == "none"
    return 3 if colour and no_edges else 1


def checkpoint_bytes(sweep: Sweep) -> int:
    """About how much the sweep's runs not yet trained will write."""
    total = 0
    for r in sweep.pending():
        weights = 4 * _numbers(
            sweep.dataset.source.images.shape[1], len(sweep.dataset.classes), r.config.width
        )
        epochs = r.config.epochs + r.config.self_train_epochs
        kept = sum(marked(e) for e in range(epochs + 1)) + (not marked(epochs)) + len(NAMES)
        total += weights * (kept + 3)
    return total


@functools.lru_cache(maxsize=64)
def _numbers(in_channels: int, classes: int, width: float) -> int:
    """How many numbers the networks' state holds: built once per shape (the sweep form asks on
    every draw of the page)."""
    with torch.device("meta"):
        models = build(in_channels, classes, width)
    return sum(t.numel() for t in models.state_dict().values())
