"""A sweep: every config of a `Grid` trained into its own run folder, then judged without labels.

``Sweep(grid, base, dataset, root).events(stop)`` yields one `SweepStart`, a ``run`` event around
every event of every run (``{"kind": "run", "index": i, "where": ..., "event": <Trainer event>}``),
and one final ``done`` or ``stopped`` event with the results. Runs live in ``root/<run id>``, the
same files `train` writes: a run already finished there is not trained again, a run cut short
resumes from its ``last.pt``, so a stopped sweep goes on where it was.

How the device is used (bench/bench_sweep.py measures it, docs/BENCHMARKS.md):

* CPU: `workers` processes side by side (default: one per core, one torch thread each), each
  training whole runs; the dataset is sent to each once. A worker that dies fails its run with a
  message; the others go on.
* CUDA: new runs that can share a batch train K at a time as one stacked model (`stacked.py`);
  the rest one after another.
* A Ray cluster (`cluster=`, `explorer.dann.cluster`): every run is sent at once and the cluster
  places each on a free device (a GPU share, or a CPU), on any of its nodes.

Comparing runs without target labels: each run is scored at the checkpoint its default validator
selects (`validators.DEFAULT`), and the grid point with the best mean score over seeds is the
sweep's ``best``. When the target is labelled, results also say which point target accuracy
would have chosen, so a page can show how often the label-free choice is right.
"""

from __future__ import annotations

import csv
import io
import os
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import torch

from explorer.dann.cluster import Cluster
from explorer.dann.config import TrainConfig
from explorer.dann.events import FINAL
from explorer.dann.grid import Grid, describe, show
from explorer.dann.stacked import StackedTrainer, stack_key, stackable
from explorer.dann.trainer import Trainer
from explorer.dann.validators import DEFAULT, NAMES, row_at, selected_epoch
from explorer.dann.workers import failure, train_side_by_side
from explorer.data.domains import Dataset
from explorer.devices import pick
from explorer.errors import ExplorerError
from explorer.store import cache, runs

STACK_MAX = 16  # copies in one stacked model on CUDA


@dataclass(frozen=True)
class Planned:
    index: int
    config: TrainConfig
    point: dict  # the grid's fields for this run, seed included
    run_id: str
    folder: Path
    key: str  # the grid point in words, its seed and single-valued axes left out: the seeds of a point share it


class Sweep:
    def __init__(self, grid: Grid, base: TrainConfig, dataset: Dataset, root: str | Path, *, workers: int | None = None,
                 owner: str | None = None, info: dict | None = None, stacked: bool | None = None,
                 cluster: Cluster | None = None):  # fmt: skip
        """`owner`: train in the app's cache (its lock and cap; the runs recorded as this owner's).
        `stacked`: train runs that can share a batch as stacked models (default: on CUDA, not on a cluster).
        `cluster`: send the runs to this Ray cluster instead of training them here."""
        self.grid, self.dataset, self.root, self.owner, self.info = grid, dataset, Path(root), owner, info or {}
        self.cluster = cluster
        self.device = torch.device(cluster.device_type(base)) if cluster else pick(base.device)
        self.stacked = self.device.type == "cuda" and not cluster if stacked is None else stacked
        configs = grid.configs(base)
        for cfg in configs:
            try:
                cfg.check(dataset)
            except ExplorerError as e:
                raise ExplorerError(f"Grid point {describe(point_of(cfg, grid))}: {e}") from None
        self.runs = []
        varied = [k for k, v in grid.axes.items() if len(v) > 1 and k != "seed"]
        for i, cfg in enumerate(configs):
            run_id, point = cfg.run_id(dataset.fingerprint, self.device.type), point_of(cfg, grid)
            key = describe({k: point[k] for k in varied}) or "the fixed config"
            self.runs.append(Planned(i, cfg, point, run_id, self.root / run_id, key))
        self.workers = max(1, min(workers or os.cpu_count() or 1, len(self.runs)))
        self.where: dict[int, str] = {}  # run index -> where its last event came from

    @property
    def total_epochs(self) -> int:
        return sum(r.config.epochs + r.config.self_train_epochs for r in self.runs)

    def pending(self) -> list[Planned]:
        """The runs not finished in their folders."""
        return [r for r in self.runs if not finished(r.folder)]

    def plan(self, pending: int) -> str:
        if self.cluster:
            return self.cluster.plan()
        if self.stacked:
            return f"{self.device.type.upper()}: runs that can share a batch train up to {STACK_MAX} at a time as one stacked model"
        n = max(1, min(self.workers, pending))
        return f"CPU: {n} run(s) side by side, {max(1, (os.cpu_count() or 1) // n)} torch thread(s) each"

    # ------------------------------------------------------------------ running
    def events(self, stop: threading.Event | None = None) -> Iterator[dict]:
        stop = stop or threading.Event()
        t0 = time.perf_counter()
        pending = self.pending()
        done = {r.index for r in self.runs} - {r.index for r in pending}
        yield {"kind": "sweep", "runs": len(self.runs), "cached": len(done), "plan": self.plan(len(pending)),
               "total_epochs": self.total_epochs, "points": [r.point for r in self.runs]}  # fmt: skip
        for r in self.runs:
            if r.index in done:
                if self.owner:  # trained before (by this session or another): now also this session's to open
                    runs.add_owner(r.folder, self.owner)
                history = runs.read_run(r.folder).metrics
                yield self._event(r.index, "cached", {"kind": "cached", "history": history})
        if self.cluster:
            stream = self._on_cluster(pending, stop)
        elif self.stacked:
            stream = self._stacked(pending, stop)
        elif self.workers > 1 and len(pending) > 1:
            stream = self._processes(pending, stop)
        else:
            stream = self._one_by_one(pending, stop, "in this process")
        yield from stream
        seconds = time.perf_counter() - t0
        final = {"runs": len(self.runs), "cached": len(done), "seconds": seconds, **self.best()}
        if stop.is_set():
            yield {"kind": "stopped", "message": "Sweep stopped; finished runs are kept and the next start resumes it.", **final}
        else:
            yield {"kind": "done", **final}

    def _event(self, index: int, where: str, event: dict) -> dict:
        """A run's event as the sweep yields it; `where` is remembered for the results."""
        self.where[index] = where
        return {"kind": "run", "index": index, "where": where, "event": event}

    def _trainer(self, r: Planned) -> Trainer:
        if self.owner:
            runs.add_owner(r.folder, self.owner)
        return Trainer(r.config, self.dataset, r.folder, info=self.info)

    def _wrap(self, r: Planned, events: Iterator[dict]) -> Iterator[dict]:
        return cache.guarded(r.folder, events) if self.owner else events

    def _one_by_one(self, pending: list[Planned], stop: threading.Event, where: str) -> Iterator[dict]:
        for r in pending:
            if stop.is_set():
                return
            try:
                for event in self._wrap(r, self._trainer(r).events(stop)):
                    yield self._event(r.index, where, event)
            except Exception as e:  # one run's failure (a bug, CUDA out of memory) ends that run, not the sweep
                yield self._event(r.index, where, {"kind": "error", "message": failure(e)})

    def _stacked(self, pending: list[Planned], stop: threading.Event) -> Iterator[dict]:
        """New runs that can share a batch, `STACK_MAX` at a time as one stacked model; the rest alone."""
        groups: dict[tuple, list[Planned]] = {}
        alone = []
        for r in pending:
            if (r.folder / "last.pt").exists() or not stackable(r.config):
                alone.append(r)
                continue
            try:  # the channels the networks will see decide who can share (auto may choose edges)
                channels = self._trainer(r).xs.shape[1]
            except ExplorerError as e:
                yield self._event(r.index, self.device.type, {"kind": "error", "message": str(e)})
                continue
            groups.setdefault(stack_key(r.config, channels), []).append(r)
        chunks = [members[i : i + STACK_MAX] for members in groups.values() for i in range(0, len(members), STACK_MAX)]
        for chunk in chunks:
            if len(chunk) == 1 or stop.is_set():
                alone += chunk
                continue
            where = f"{self.device.type}, stacked x{len(chunk)}"
            ended: set[int] = set()
            try:
                with _locks(chunk if self.owner else []):
                    for k, event in StackedTrainer([self._trainer(r) for r in chunk]).events(stop):
                        if event["kind"] in FINAL:
                            ended.add(k)
                        yield self._event(chunk[k].index, where, event)
            except ExplorerError as e:  # a run of the group is being trained elsewhere
                for k, r in enumerate(chunk):
                    if k not in ended:
                        yield self._event(r.index, where, {"kind": "error", "message": str(e)})
            except Exception as e:  # e.g. out of memory with K copies: each run trains alone, from its last epoch
                message = f"The stacked group of {len(chunk)} failed ({failure(e)}); its runs train one by one instead."
                for k, r in enumerate(chunk):
                    if k not in ended:
                        yield self._event(r.index, where, {"kind": "retry", "message": message})
                        alone.append(r)
            if self.owner:
                cache.enforce()
        yield from self._one_by_one(sorted(alone, key=lambda r: r.index), stop, self.device.type)

    def _processes(self, pending: list[Planned], stop: threading.Event) -> Iterator[dict]:
        jobs = {r.index: (r.config, r.folder) for r in pending}
        n, names = min(self.workers, len(pending)), {}
        threads = max(1, (os.cpu_count() or 1) // n)
        for index, pid, event in train_side_by_side(jobs, self.dataset, n, stop, self.owner, self.info):
            if pid:
                names.setdefault(pid, f"cpu process {len(names) % n + 1} of {n}, {threads} thread(s)")
            yield self._event(index, names.get(pid, "cpu"), event)

    def _on_cluster(self, pending: list[Planned], stop: threading.Event) -> Iterator[dict]:
        jobs = {r.index: (r.config, r.folder) for r in pending}
        for index, where, event in self.cluster.train(jobs, self.dataset, stop, owner=self.owner, info=self.info):
            yield self._event(index, where, event)

    # ------------------------------------------------------------------ results
    def results(self) -> list[dict]:
        """One row per run, read back from its folder: the grid's fields, where the run stands, and
        its numbers at the checkpoint the default validator selects."""
        rows = []
        for r in self.runs:
            record = runs.read_run(r.folder) if r.folder.is_dir() else None
            history = record.metrics if record else []
            done = record is not None and record.finished and (r.folder / "last.pt").is_file()  # `finished`, without reading it again
            epoch = selected_epoch(history, DEFAULT)
            at = row_at(history, epoch)
            row = {k: show(v) for k, v in r.point.items()} | {"seed": r.config.seed, "run_id": r.run_id}
            row |= {"status": "finished" if done else ("partial" if history else "not trained"),
                    "epochs": history[-1]["epoch"] if history else 0, "selected_epoch": epoch,
                    "target_acc": at.get("target_acc"), "target_acc_last": history[-1].get("target_acc") if history else None}  # fmt: skip
            row |= {f"val_{n}": (at.get("validators") or {}).get(n) for n in NAMES}
            row |= {"seconds": round(history[-1]["elapsed"], 2) if history else None, "where": self.where.get(r.index, ""),
                    "folder": str(r.folder)}  # fmt: skip
            rows.append(row)
        return rows

    def by_point(self, rows: list[dict] | None = None) -> list[dict]:
        """The results per grid point (its seeds together): how many runs it has, how many have
        finished and how many have a scored epoch (``trained``); the mean target accuracy (labelled
        target) and mean default-validator score over those, as far as they have got; and the run to
        open (the seed the validator scores highest)."""
        rows = rows if rows is not None else self.results()
        points: dict[str, dict] = {}
        for r, row in zip(self.runs, rows):
            p = points.setdefault(
                r.key, {"point": r.key, **{k: v for k, v in r.point.items() if k != "seed"}, "runs": 0, "finished": 0, "scored": []}
            )
            p["runs"] += 1
            p["finished"] += row["status"] == "finished"
            if row[f"val_{DEFAULT}"] is not None:
                p["scored"].append((row[f"val_{DEFAULT}"], row["target_acc"], r.index))
        out = []
        for p in points.values():
            scored = p.pop("scored")
            accs = [a for _, a, _ in scored if a is not None]
            p |= {"trained": len(scored), "score": mean(v for v, _, _ in scored) if scored else None,
                  "target_acc": mean(accs) if accs and len(accs) == len(scored) else None,
                  "pick": max(scored, key=lambda t: t[0])[2] if scored else None}  # fmt: skip
            out.append(p)
        return out

    def best(self) -> dict:
        """The grid point the default validator prefers (mean over seeds at each run's selected
        checkpoint); with target labels also the point target accuracy prefers (``oracle``) and how
        often, seed by seed, the validator's choice was that point (``agreement``)."""
        rows = self.results()
        scored = [p for p in self.by_point(rows) if p["score"] is not None]
        if not scored:
            return {"best": None, "oracle": None, "agreement": None}
        labelled = all(p["target_acc"] is not None for p in scored)

        def summary(p):
            return {"point": p["point"], "by": DEFAULT, "score": p["score"], "target_acc": p["target_acc"], "seeds": p["trained"]}

        best = max(scored, key=lambda p: p["score"])
        oracle = max(scored, key=lambda p: p["target_acc"]) if labelled else None
        return {
            "best": summary(best),
            "oracle": summary(oracle) if oracle else None,
            "agreement": self._agreement(rows) if labelled else None,
        }

    def _agreement(self, rows: list[dict]) -> dict | None:
        """Seed by seed, among that seed's trained runs: did the validator's favourite reach the best
        target accuracy, and how much accuracy did following it give up (its regret)?"""
        by_seed: dict[int, list[dict]] = {}
        for r, row in zip(self.runs, rows):
            if row[f"val_{DEFAULT}"] is not None and row["target_acc"] is not None:
                by_seed.setdefault(r.config.seed, []).append(row)
        regrets = []
        for candidates in by_seed.values():
            if len(candidates) > 1:
                chosen = max(candidates, key=lambda row: row[f"val_{DEFAULT}"])
                regrets.append(max(row["target_acc"] for row in candidates) - chosen["target_acc"])
        if not regrets:
            return None
        return {"seeds": len(regrets), "matched": sum(r == 0 for r in regrets), "regret": mean(regrets)}

    def results_csv(self) -> str:
        rows = self.results()
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return out.getvalue()


def point_of(config: TrainConfig, grid: Grid) -> dict:
    return {k: getattr(config, k) for k in grid.axes} | {"seed": config.seed}


def finished(folder: Path) -> bool:
    """The run in `folder` has trained all it was asked to (its epochs, or its time budget)."""
    record = runs.read_run(folder) if (folder / "last.pt").is_file() else None
    return bool(record and record.finished)


@contextmanager
def _locks(planned: list[Planned]):
    """The cache locks of several runs at once (a stacked group trains them together)."""
    with ExitStack() as stack:
        for r in planned:
            stack.enter_context(cache.training_lock(r.folder))
        yield
