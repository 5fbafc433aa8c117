"""Training whole runs side by side in worker processes (a sweep on a CPU): the `Processes` back-end.

`Processes(n).train(requests, dataset, stop, keep)` starts `n` spawned processes (the cores shared
out as torch threads, the dataset sent once to each), trains each request's run there with the
ordinary `Trainer` (under `keep`'s rules, in the worker), and yields every event of every run, in
the order they arrive, each saying which process trains it. A stop
request reaches every worker within one step (a shared event). The workers are stopped and the
pool shut down however the caller ends, and a worker also stops when its parent process is gone.

A worker that dies (killed, out of memory) breaks the whole pool: every run in progress then is
trained again, from its last finished epoch, in a new pool; a run that was in progress when a pool
broke twice is given up with a message (it is probably what kills its worker). Nothing a run had
finished is lost: its checkpoints are already in its folder.
"""

from __future__ import annotations

import os
import queue
import signal
import sys
import threading
import time
import types
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path

import torch

from explorer.dann.config import TrainConfig
from explorer.dann.events import FINAL
from explorer.data.domains import Dataset
from explorer.devices import pick, usable_cpus
from explorer.errors import failure
from explorer.execution.backends import Request
from explorer.execution.events import Failed, Retrying, RunEvent, typed
from explorer.execution.keep import Keep

STRIKES = 2  # pools a run may see break under it before it is given up


class Processes:
    def __init__(self, workers: int):
        self.workers, self.lane = workers, "cpu"

    def device_type(self, config: TrainConfig) -> str:
        return pick(config.device).type

    def threads(self, runs: int) -> int:
        return max(1, usable_cpus() // max(1, min(self.workers, runs)))

    def plan(self, runs: int) -> str:
        n = max(1, min(self.workers, runs))
        return f"CPU: {n} run(s) side by side, {self.threads(runs)} torch thread(s) each"

    def train(
        self, requests: list[Request], dataset: Dataset, stop: threading.Event, keep: Keep
    ) -> Iterator[RunEvent]:
        """Every request trained in the pool; a pool that breaks is replaced (`STRIKES`)."""
        n, names = min(self.workers, len(requests)), {}
        open_jobs, strikes = {r.index: r for r in requests}, Counter()
        while open_jobs and not stop.is_set():
            started: set[int] = set()
            for index, pid, event in _pool(open_jobs, dataset, n, stop, keep, self.threads(len(requests))):
                names.setdefault(
                    pid, f"cpu process {len(names) % n + 1} of {n}, {self.threads(len(requests))} thread(s)"
                )
                started.add(index)
                if event["kind"] in FINAL:
                    open_jobs.pop(index, None)
                yield typed(index, names[pid], event)
            # the runs in progress (all open ones if none had begun)
            lost = (started & set(open_jobs)) or set(open_jobs)
            for index in sorted(lost):
                strikes[index] += 1
                if strikes[index] >= STRIKES:
                    open_jobs.pop(index)
                    yield Failed(
                        index,
                        "cpu",
                        "A worker process died twice while training this run (out of memory?); it is "
                        "given up. Its finished epochs are kept.",
                    )
                else:
                    yield Retrying(
                        index,
                        "cpu",
                        "A worker process of the sweep died; this run trains again from its last "
                        "finished epoch.",
                    )


def _pool(
    jobs: dict[int, Request], dataset: Dataset, n: int, stop: threading.Event, keep: Keep, threads: int
) -> Iterator[tuple]:
    """One pool of `n` workers over `jobs`: ``(index, pid, event)`` until every job has ended or the
    pool broke."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")  # never fork a process that runs threads (Streamlit, torch's pool)
    events, stop_all, open_jobs = ctx.Queue(), ctx.Event(), set(jobs)
    pool = ProcessPoolExecutor(
        n, mp_context=ctx, initializer=_init, initargs=(dataset, events, stop_all, threads, keep, os.getpid())
    )
    _stop_at_exit(stop_all)
    try:
        with _quiet_start():  # the workers start at the first submit
            futures = [pool.submit(_train, i, r.config.to_dict(), str(r.folder)) for i, r in jobs.items()]
        while open_jobs:
            if stop.is_set():
                stop_all.set()
            try:
                index, pid, event = events.get(timeout=0.2)
            except queue.Empty:
                if any(f.done() and isinstance(f.exception(), BrokenProcessPool) for f in futures):
                    return
                continue
            if event["kind"] in FINAL:
                open_jobs.discard(index)
            yield index, pid, event
    finally:
        stop_all.set()
        pool.shutdown(wait=True, cancel_futures=True)


def _stop_at_exit(stop_all) -> None:
    """At interpreter exit, stop the workers before concurrent.futures waits for their work to end
    (threading's exit hooks run last-registered first, before the atexit ones)."""
    register = getattr(threading, "_register_atexit", None)
    if register is not None:
        try:
            register(stop_all.set)
        except RuntimeError:  # the interpreter is already shutting down
            stop_all.set()


@contextmanager
def _quiet_start():
    """While the workers start: a spawned process first imports its parent's ``__main__`` (under
    Streamlit, the page script, which would then run in every worker), so ``__main__`` is empty;
    and in the main thread SIGINT is ignored, which the new processes inherit (Ctrl-C reaches the
    whole process group; the parent stops the runs)."""
    main = sys.modules.get("__main__")
    sys.modules["__main__"] = types.ModuleType("__main__")
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if in_main else None
    try:
        yield
    finally:
        sys.modules["__main__"] = main
        if in_main:
            signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------ in the worker
_worker: dict = {}


def _init(dataset, events, stop, threads, keep, parent) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _worker.update(dataset=dataset, events=events, stop=stop, keep=keep)

    def orphaned():  # the parent was killed: stop rather than train on for no one
        while os.getppid() == parent:
            time.sleep(1.0)
        stop.set()

    threading.Thread(target=orphaned, daemon=True).start()


def _train(index: int, config: dict, folder: str) -> None:
    w, pid, keep = _worker, os.getpid(), _worker["keep"]
    if w["stop"].is_set():
        w["events"].put(
            (index, pid, {"kind": "stopped", "epoch": 0, "message": "Stopped before it started."})
        )
        return
    try:
        folder = Path(folder)
        for event in keep.guarded(
            folder, keep.trainer(TrainConfig.from_dict(config), w["dataset"], folder).events(w["stop"])
        ):
            w["events"].put((index, pid, event))
    except Exception as e:  # a bug in one run must not hang the sweep waiting for its final event
        w["events"].put((index, pid, {"kind": "error", "message": failure(e)}))
