"""The Ray back-end: every request sent to the cluster at once as its own task (`ray_task.py`),
which Ray places as devices free up; each run followed here from its own thread, its returned
files landed in its local folder before its event is passed on (so whatever a page has shown is on
this machine's disk), under `keep`'s rules.

One run, from here: wait until the task is placed (after 2 s a `Waiting` event says why; a stop
meanwhile cancels it), then for each item the task yields, land its files and pass its event on. A
worker or node that dies (a Ray error) sends the run again from the ``last.pt`` it returned, once
(`Retrying`); the second loss gives it up (`Failed`). An error inside the trainer is not retried.
"""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from explorer.dann.config import TrainConfig
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError, failure
from explorer.execution.backends import Request
from explorer.execution.events import Failed, Retrying, RunEvent, Stopped, Waiting, typed
from explorer.execution.keep import Keep
from explorer.execution.ray_cluster import STRIKES, WAITING, Cluster
from explorer.execution.ray_task import REMOTE_FOLDER, ray_module, train_task


class RayCluster:
    def __init__(self, cluster: Cluster):
        self.cluster, self.lane = cluster, "ray"

    def device_type(self, config: TrainConfig) -> str:
        return self.cluster.device_type(config)

    def plan(self, runs: int) -> str:
        return self.cluster.plan()

    def train(
        self, requests: list[Request], dataset: Dataset, stop: threading.Event, keep: Keep
    ) -> Iterator[RunEvent]:
        """Every request at once; their events as they arrive, each run's in order. When the caller
        lets go early, the runs are stopped and what they return still lands (up to a minute)."""
        ray = ray_module()
        board, key = _open_flag(self.cluster)
        data, out = ray.put(dataset), queue.Queue()
        followed = [_Run(self.cluster, r, data, (board, key), stop, keep.info) for r in requests]
        threads = [
            threading.Thread(
                target=run.follow, args=(keep, out), name=f"explorer-ray-run-{run.request.index}", daemon=True
            )
            for run in followed
        ]
        for t in threads:
            t.start()
        open_runs, told = {r.index for r in requests}, False
        try:
            while open_runs:
                if stop.is_set() and not told:
                    board.set.remote(key)
                    told = True
                try:
                    event = out.get(timeout=0.05)
                except queue.Empty:
                    continue
                if event.final:
                    open_runs.discard(event.index)
                yield event
        finally:
            if open_runs:
                stop.set()
                board.set.remote(key)
                deadline = time.monotonic() + 60  # the runs' last files land; then let go, all together
                for t in threads:
                    t.join(timeout=max(0.0, deadline - time.monotonic()))
            board.forget.remote(key)


def _open_flag(cluster: Cluster) -> tuple:
    """A new stop flag on the cluster's board: (board, key), open before any run can poll it. Waits
    for the board's process to start (a second or two; longer on a loaded machine)."""
    ray, key = ray_module(), uuid.uuid4().hex
    try:
        board = cluster.board()
        ray.get(board.open.remote(key))
    except ray.exceptions.RayActorError:  # it died for good: one new one
        board = cluster.board(fresh=True)
        try:
            ray.get(board.open.remote(key))
        except ray.exceptions.RayActorError as e:
            raise ExplorerError(
                f"The cluster's stop board could not be started ({type(e).__name__}); no run was sent."
            ) from None
    return board, key


@dataclass
class _Run:
    """One request followed on the cluster: where it is now, and the epoch it has returned last."""

    cluster: Cluster
    request: Request
    data: object  # the dataset's object ref
    flag: tuple  # (board, key)
    stop: threading.Event
    info: dict
    where: str = WAITING
    returned: int | None = None

    def follow(self, keep: Keep, out: queue.Queue) -> None:
        """In its own thread: the run's events into `out`, under `keep`'s rules."""
        r = self.request
        try:
            r.folder.mkdir(parents=True, exist_ok=True)
            for event in keep.guarded(r.folder, self.attempts(), kind=lambda e: e.kind):
                out.put(event)
        # the run's folder cannot be locked or written: this run fails, the others go on
        except Exception as e:
            out.put(Failed(r.index, self.where, failure(e)))

    def attempts(self) -> Iterator[RunEvent]:
        """The run's events over up to `STRIKES` attempts."""
        ray, index = ray_module(), self.request.index
        options = self.cluster.resources(self.request.config)
        # what it asked Ray for
        device = "cuda" if options["num_gpus"] else "cpu"
        config = replace(self.request.config, device=device).to_dict()
        for attempt in range(1, STRIKES + 1):
            last = self.request.folder / "last.pt"
            resume = {"last.pt": last.read_bytes()} if last.is_file() else {}
            task = train_task(gpu=options["num_gpus"] > 0).options(**options)
            stream = task.remote(config, self.data, resume, self.flag, self.info)
            try:
                if (yield from self._placed(stream, options)):
                    yield from self._items(stream)
                return
            # the trainer raised: not the node's fault, not retried
            except ray.exceptions.RayTaskError as e:
                cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else e
                message = failure(cause).replace(REMOTE_FOLDER, str(self.request.folder))
                yield Failed(index, self.where, message)
                return
            # a node cannot set up the job's environment: retrying repeats it
            except ray.exceptions.RuntimeEnvSetupError as e:
                detail = (str(e).strip().splitlines() or [""])[-1][:300]
                message = f"A cluster node could not set up this app's Python environment: {detail}"
                yield Failed(index, self.where, message)
                return
            # the worker or its node died, or the object with its events was lost
            except ray.exceptions.RayError as e:
                yield self._lost(e, attempt)

    def _placed(self, stream, options: dict):
        """Until the task is placed (its first item is ready): `Waiting` after 2 s; a stop cancels it
        (then it returns False, after a `Stopped` event)."""
        ray, waits = ray_module(), 0
        while not ray.wait([stream], timeout=0.5)[0]:
            waits += 1
            # said once, after 2 s (no free device, or a worker process still starting)
            if waits == 4:
                self.where = self.cluster.waiting(options)
                yield Waiting(self.request.index, self.where, f"This run is {self.where}.")
            if self.stop.is_set():
                ray.cancel(stream)
                # (an earlier attempt's)
                kept = f"; its checkpoint of epoch {self.returned} is kept" if self.returned else ""
                message = f"Stopped before it started on the cluster{kept}."
                yield Stopped(self.request.index, self.where, message, self.returned or 0)
                return False
        return True

    def _items(self, stream) -> Iterator[RunEvent]:
        """The task's items: each trainer's event, typed, with its files landed first."""
        ray = ray_module()
        for ref in stream:
            item = ray.get(ref)
            self.where = item["where"]
            if "event" not in item:  # placed on a node; its trainer starts
                continue
            land(self.request.folder, item["files"])
            event = item["event"]
            if event["kind"] == "start":
                event = event | {"dir": str(self.request.folder), "pid": item["pid"]}
            self.returned = {"start": event.get("resumed_from"), "epoch": event.get("epoch")}.get(
                event["kind"], self.returned
            )
            typed_event = typed(self.request.index, self.where, event)
            yield typed_event
            if typed_event.final:
                return
        raise ExplorerError("The run ended on the cluster without saying how.")

    def _lost(self, e: Exception, attempt: int) -> Failed | Retrying:
        lost = f"{self.where}: {type(e).__name__}"
        self.where = WAITING
        kept = f"epoch {self.returned}" if self.returned is not None else "the start (nothing was returned)"
        if attempt == STRIKES:
            message = (
                f"The cluster lost this run {STRIKES} times ({lost}); it is given up. "
                f"What it returned is kept ({kept})."
            )
            return Failed(self.request.index, self.where, message)
        message = f"The cluster lost this run ({lost}); it trains again from {kept}."
        return Retrying(self.request.index, self.where, message)


def land(folder: Path, files: dict[str, bytes | str]) -> None:
    """A remote run's changed files written into its local folder, each atomically, in the order
    given; a file given as a name (str) has the same bytes as that earlier file."""
    written: dict[str, bytes] = {}
    for name, data in files.items():
        if Path(name).name != name or name.startswith(".") or (isinstance(data, str) and data not in written):
            raise ExplorerError(f"A cluster worker returned a file with a bad name ({name!r}); refused.")
        data = written[name] = written[data] if isinstance(data, str) else data
        tmp = folder / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            tmp.write_bytes(data)
            os.replace(tmp, folder / name)
        finally:
            tmp.unlink(missing_ok=True)
