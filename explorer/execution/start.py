"""Starting a DANN run the way auto plans it, in one place: the CLI's `train` and every page that
trains (Train DANN's Start button, the source-only twin) start here.

`auto.plan` says what a run of a config trains: the config itself (nothing left to auto, a choice
measured before on this data, or the statistics' choice on a tiny target), or every shortlisted
option side by side (`measure.Measurement`). `prepare` turns the plan into a `Launch`: the back-end
`choose` picks, the run's folder, and the function that trains it under `keep`'s rules, yielding
the typed events of `events.py`. The CLI follows those events itself; the app's `start_run` puts
them in the server's job queue (`jobs.py`) and returns a `RunHandle`: the job, and what the pages
say of it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from explorer.dann.config import TrainConfig
from explorer.data.domains import Dataset
from explorer.execution import auto, costs
from explorer.execution.backends import Backend, Request
from explorer.execution.choose import choose
from explorer.execution.events import MeasureEnded
from explorer.execution.jobs import CLUSTER, Job, JobQueue
from explorer.execution.keep import Keep
from explorer.execution.measure import Measurement
from explorer.execution.processes import Processes
from explorer.store import runs
from explorer.store.home import subdir


@dataclass(frozen=True)
class Launch:
    """A run as auto plans it, ready to train."""

    plan: auto.Plan
    backend: Backend  # where it trains (a measurement's: where its options train side by side)
    events: Callable[[threading.Event], Iterator]  # trains it: its typed events, until `stop` is set
    folder: Path | None  # the one run's folder; None while measuring (the winner's is known at its end)
    measurement: Measurement | None  # while measuring: the options, their folders, the decision to come

    @property
    def total_epochs(self) -> int:
        """Epochs to train, both stages; while measuring, every option's."""
        return sum(c.epochs + c.self_train_epochs for c in self.plan.configs)


def prepare(
    config: TrainConfig,
    dataset: Dataset,
    keep: Keep,
    root: Path,
    *,
    out: Path | None = None,
    cluster=None,
    remeasure: bool = False,
) -> Launch:
    """`config` as auto plans it on `dataset` (`remeasure`: measure again even when it has), to train
    under `keep`'s rules on the back-end `choose` picks (`cluster`: a connected Ray cluster). One run
    trains into `out` when given (the CLI's --out), else into ``root/<run id>``; while measuring,
    each option trains into ``root/<its run id>``."""
    plan = auto.plan(config, dataset, remeasure)
    if len(plan.configs) > 1:
        measurement = Measurement(config, dataset, root, keep, cluster=cluster, plan=plan)
        return Launch(plan, measurement.backend, measurement.events, None, measurement)
    concrete = plan.configs[0]
    backend = choose(concrete, cluster=cluster)
    folder = out or Path(root) / concrete.run_id(dataset.fingerprint, backend.device_type(concrete))
    request = Request(0, concrete, folder)
    # the run records how auto got to its options
    keep = Keep(keep.owner, keep.info | auto.config_info(config, plan))

    def events(stop: threading.Event) -> Iterator:
        return backend.train([request], dataset, stop, keep)

    return Launch(plan, backend, events, folder, None)


@dataclass(frozen=True)
class RunHandle:
    """A run started in the app's job queue, and what the pages say of it."""

    job: Job  # its place in the queue (its lane: `job.device`), state, events and Stop
    expected: float | None  # about how many seconds once it starts; None on a cluster (it queues them)
    total_epochs: int  # both stages; while measuring, every option's
    fingerprint: str  # the dataset it trains on: a page showing another one says whose run this is
    dataset_name: str
    note: str  # what auto did for the one run, said beside its progress (a measurement says its own)
    planned_run_id: str | None  # the one run's id; None while measuring

    @property
    def run_id(self) -> str | None:
        """The id of the run it trains: known at once for one run; while measuring, the winner's once
        it has chosen."""
        ended = next((e for e in self.job.snapshot()[1] if isinstance(e, MeasureEnded)), None)
        if ended is not None and ended.folder is not None:
            return ended.folder.name
        return self.planned_run_id


def start_run(
    config: TrainConfig, dataset: Dataset, queue: JobQueue, owner: str, cluster=None, remeasure: bool = False
) -> RunHandle:
    """Queue `config` as auto plans it (measure the options, reuse the choice, or train as set), in
    the lane of its back-end; it trains into the app's cache, under its lock and cap, as `owner`'s."""
    launch = prepare(config, dataset, Keep(owner), subdir("runs"), cluster=cluster, remeasure=remeasure)
    label = f"{runs.run_label(config.to_dict())} · seed {config.seed}"
    if launch.measurement is not None:
        label += f" · auto: {len(launch.plan.options)} options"
    expected = expected_seconds(launch, dataset)
    job = queue.submit(owner, label, launch.backend.lane, launch.events, expected)
    return RunHandle(
        job,
        expected,
        launch.total_epochs,
        dataset.fingerprint,
        dataset.name,
        "" if launch.measurement is not None else launch.plan.note,
        launch.folder.name if launch.folder is not None else None,
    )


def expected_seconds(launch: Launch, dataset: Dataset) -> float | None:
    """About how long the launch takes once it starts, for the queue's estimates; a cluster queues
    its runs itself, so none there."""
    if launch.backend.lane == CLUSTER:
        return None
    configs = launch.plan.configs
    workers = launch.backend.workers if isinstance(launch.backend, Processes) else 0
    return costs.together(configs, dataset, launch.backend.device_type(configs[0]), workers)
