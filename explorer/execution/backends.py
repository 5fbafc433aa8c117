"""The back-ends, one interface: ``backend.train(requests, dataset, stop, keep)`` trains every
request (a config and the folder it trains into) and yields the typed events of `events.py`.

* `InProcess` (here): one run after another in this process (a single run; one CPU worker);
* `Processes` (`processes.py`): whole runs side by side in spawned worker processes, on a CPU;
* `Stacked` (`stacked.py`): runs that can share a batch trained K at a time as one model, on CUDA;
* `RayCluster` (`ray_runs.py`): every run sent to a Ray cluster, which places each on a free device.

`choose.choose` picks one from the request and the machine; starting a run (`start.py`), the sweep
and auto's measuring all call it. This module knows none of the others. A back-end also says which
device type a config gets there (part of the run's id, so of its folder), which lane of the app's
job queue its work waits in (`lane`: the device type; "ray" for a cluster, which queues runs
itself), and its plan in words.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple, Protocol

from explorer.dann.config import TrainConfig
from explorer.data.domains import Dataset
from explorer.devices import pick
from explorer.errors import failure
from explorer.execution.events import Failed, RunEvent, typed
from explorer.execution.keep import Keep


class Request(NamedTuple):
    index: int  # the run's place in the list: its events carry it
    config: TrainConfig
    folder: Path  # the run's folder: it trains (or resumes) there and nowhere else


class Backend(Protocol):
    lane: str

    def device_type(self, config: TrainConfig) -> str: ...

    def plan(self, runs: int) -> str: ...

    def train(
        self, requests: list[Request], dataset: Dataset, stop: threading.Event, keep: Keep
    ) -> Iterator[RunEvent]: ...


class InProcess:
    """One run after another, in this process; one run's failure (a bug, CUDA out of memory) ends
    that run, not the ones after it."""

    def __init__(self, device: str = "auto", where: str = "in this process"):
        self.lane, self.where = pick(device).type, where

    def device_type(self, config: TrainConfig) -> str:
        return pick(config.device).type

    def plan(self, runs: int) -> str:
        return f"{self.lane.upper()}: one run after another in this process"

    def train(
        self, requests: list[Request], dataset: Dataset, stop: threading.Event, keep: Keep
    ) -> Iterator[RunEvent]:
        for r in requests:
            if stop.is_set():
                return
            try:
                events = keep.guarded(r.folder, keep.trainer(r.config, dataset, r.folder).events(stop))
                for event in events:
                    yield typed(r.index, self.where, event)
            except Exception as e:
                yield Failed(r.index, self.where, failure(e))
