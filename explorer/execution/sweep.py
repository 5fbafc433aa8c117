"""A sweep: every config of a `Grid` trained into its own run folder, then judged without labels.

``Sweep(grid, base, dataset, root).events(stop)`` yields one `SweepStarted`, the typed events of
every run (`events.py`: a run already finished in its folder is one `Cached`), and one final
`SweepEnded` with the verdict. Runs live in ``root/<run id>``, the same files `train` writes: a run
already finished there is not trained again, a run cut short resumes from its ``last.pt``, so a
stopped sweep goes on where it was.

Where the runs train is the back-end `choose.choose` picks for the runs still to train (measured
by bench/bench_sweep.py, docs/BENCHMARKS.md): on a CPU, worker processes side by side (default one
per core); on CUDA, runs that can share a batch stacked K at a time; on a Ray cluster (`cluster=`),
every run at once wherever the cluster places it. The results and the verdict are `verdict.py`:
nothing is named best until every run has ended.

Grid points left to auto train with what auto measured on this data (`auto.reuse`); where that
makes two points the same run (auto chose no edges, and the grid also has ``canny=off``), the run
trains once, under the first of them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from explorer.dann.config import TrainConfig
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.execution import auto, verdict
from explorer.execution.backends import Backend, Request
from explorer.execution.choose import choose
from explorer.execution.events import Cached, Failed, RunEvent, SweepEnded, SweepStarted
from explorer.execution.grid import Grid, describe
from explorer.execution.keep import Keep
from explorer.store import runs


@dataclass(frozen=True)
class Planned:
    index: int
    config: TrainConfig
    point: dict  # the grid's fields for this run, seed included
    run_id: str
    folder: Path
    # the grid point in words, its seed and single-valued axes left out: the seeds of a point share it
    key: str


class Sweep:
    def __init__(
        self,
        grid: Grid,
        base: TrainConfig,
        dataset: Dataset,
        root: str | Path,
        *,
        workers: int | None = None,
        owner: str | None = None,
        info: dict | None = None,
        stacked: bool | None = None,
        cluster=None,
    ):
        """`owner`: train in the app's cache (its lock and cap; the runs recorded as this owner's).
        `workers`, `stacked`, `cluster`: what `choose.choose` chooses from."""
        self.grid, self.base, self.dataset, self.root = grid, base, dataset, Path(root)
        self.keep = Keep(owner, info or {})
        self._how = {"cluster": cluster, "workers": workers, "stacked": stacked}
        asked = grid.configs(base)
        # what auto measured on this data, when it has
        configs = [auto.reuse(c, dataset) for c in asked]
        # what the runs left to auto train with, in words
        left_to_auto = next((c for c in asked if c.measured), None)
        self.auto_note = auto.sweep_note(left_to_auto, dataset) if left_to_auto else ""
        for cfg in asked:
            try:
                cfg.check(dataset)
            except ExplorerError as e:
                raise ExplorerError(f"Grid point {describe(point_of(cfg, grid))}: {e}") from None
        self.backend = self.choose(len(configs))
        self.device_type = self.backend.device_type(base)
        varied = [k for k, v in grid.axes.items() if len(v) > 1 and k != "seed"]
        self.runs: list[Planned] = []
        for cfg, as_asked in zip(configs, asked):
            run_id, point = cfg.run_id(dataset.fingerprint, self.device_type), point_of(as_asked, grid)
            if any(r.run_id == run_id for r in self.runs):
                continue  # auto's choice is another point of the grid: one run, one folder
            key = describe({k: point[k] for k in varied}) or "the fixed config"
            self.runs.append(Planned(len(self.runs), cfg, point, run_id, self.root / run_id, key))
        self.where: dict[int, str] = {}  # run index -> where its last event came from
        self.failed: set[int] = set()  # the runs that ended with an error in this sweep's last start

    def choose(self, runs: int) -> Backend:
        """The back-end for `runs` runs still to train."""
        return choose(self.base, runs, **self._how)

    @property
    def total_epochs(self) -> int:
        return sum(r.config.epochs + r.config.self_train_epochs for r in self.runs)

    def pending(self) -> list[Planned]:
        """The runs not finished in their folders."""
        return [r for r in self.runs if not finished(r.folder)]

    def plan(self, pending: int) -> str:
        return self.choose(pending).plan(pending)

    def events(self, stop: threading.Event | None = None) -> Iterator[SweepStarted | RunEvent | SweepEnded]:
        stop, t0 = stop or threading.Event(), time.perf_counter()
        pending = self.pending()
        self.failed = set()  # a failed run is not finished: this start trains it again
        done = {r.index for r in self.runs} - {r.index for r in pending}
        yield SweepStarted(
            len(self.runs),
            len(done),
            self.plan(len(pending)),
            self.total_epochs,
            [r.point for r in self.runs],
        )
        for r in self.runs:
            if r.index in done:
                # trained before (by this session or another): now also this session's to open
                self.keep.own(r.folder)
                yield self._seen(Cached(r.index, "cached", runs.read_run(r.folder).metrics))
        requests = [Request(r.index, r.config, r.folder) for r in pending]
        for event in self.choose(len(pending)).train(requests, self.dataset, stop, self.keep):
            yield self._seen(event)
        final = {
            "runs": len(self.runs),
            "cached": len(done),
            "seconds": time.perf_counter() - t0,
            **self.best(),
        }
        if stop.is_set():
            yield SweepEnded(
                True, **final, message="Sweep stopped; finished runs are kept and the next start resumes it."
            )
        else:
            yield SweepEnded(False, **final)

    def _seen(self, event: RunEvent) -> RunEvent:
        """A run's event as the sweep yields it; where it came from is remembered for the results."""
        self.where[event.index] = event.where
        if isinstance(event, Failed):
            self.failed.add(event.index)
        return event

    # ------------------------------------------------------------------ results (verdict.py)
    def results(self) -> list[dict]:
        return verdict.results(self)

    def by_point(self, rows: list[dict] | None = None) -> list[dict]:
        return verdict.by_point(self, rows)

    def best(self, rows: list[dict] | None = None) -> dict:
        return verdict.best(self, rows)

    def so_far(self, rows: list[dict] | None = None) -> dict:
        return verdict.so_far(self, rows)

    def results_csv(self) -> str:
        return verdict.results_csv(self)


def point_of(config: TrainConfig, grid: Grid) -> dict:
    return {k: getattr(config, k) for k in grid.axes} | {"seed": config.seed}


def finished(folder: Path) -> bool:
    """The run in `folder` has trained all it was asked to (its epochs, or its time budget)."""
    record = runs.read_run(folder) if (folder / "last.pt").is_file() else None
    return bool(record and record.finished)
