"""Training whole runs side by side in worker processes (a sweep on a CPU).

`train_side_by_side(jobs, dataset, ...)` starts `workers` spawned processes (one torch thread
each, the dataset sent once to each), trains each job's run there with the ordinary `Trainer`, and
yields ``(index, pid, event)`` for every event of every run, in the order they arrive. A stop
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
from explorer.dann.trainer import Trainer
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.store import cache, runs

STRIKES = 2  # pools a run may see break under it before it is given up


def train_side_by_side(jobs: dict[int, tuple[TrainConfig, Path]], dataset: Dataset, workers: int, stop: threading.Event,
                       owner: str | None = None, info: dict | None = None) -> Iterator[tuple[int, int, dict]]:  # fmt: skip
    """Every job (index -> config, run folder) trained in `workers` processes; `owner`: in the app's
    cache (its lock and cap, the run recorded as the owner's)."""
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")  # never fork a process that runs threads (Streamlit, torch's pool)
    open_jobs, strikes = dict(jobs), Counter()
    while open_jobs and not stop.is_set():
        started: set[int] = set()
        n = min(workers, len(open_jobs))
        events, stop_all = ctx.Queue(), ctx.Event()
        args = (dataset, events, stop_all, max(1, (os.cpu_count() or 1) // n), owner, info or {}, os.getpid())
        pool = ProcessPoolExecutor(n, mp_context=ctx, initializer=_init, initargs=args)
        _stop_at_exit(stop_all)
        broken = False
        try:
            with _quiet_start():  # the workers start at the first submit
                futures = [pool.submit(_train, i, cfg.to_dict(), str(folder)) for i, (cfg, folder) in open_jobs.items()]
            while open_jobs and not broken:
                if stop.is_set():
                    stop_all.set()
                try:
                    index, pid, event = events.get(timeout=0.2)
                except queue.Empty:
                    broken = any(f.done() and isinstance(f.exception(), BrokenProcessPool) for f in futures)
                    continue
                started.add(index)
                if event["kind"] in FINAL:
                    open_jobs.pop(index, None)
                yield index, pid, event
        finally:
            stop_all.set()
            pool.shutdown(wait=True, cancel_futures=True)
        lost = (started & set(open_jobs)) or set(open_jobs)  # the runs in progress (all open ones if none had begun)
        for index in sorted(lost):
            strikes[index] += 1
            if strikes[index] >= STRIKES:
                open_jobs.pop(index)
                message = ("A worker process died twice while training this run (out of memory?); it is given up. "
                           "Its finished epochs are kept.")  # fmt: skip
                yield index, 0, {"kind": "error", "message": message}
            else:
                message = "A worker process of the sweep died; this run trains again from its last finished epoch."
                yield index, 0, {"kind": "retry", "message": message}


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


def _init(dataset, events, stop, threads, owner, info, parent) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)
    _worker.update(dataset=dataset, events=events, stop=stop, owner=owner, info=info)

    def orphaned():  # the parent was killed: stop rather than train on for no one
        while os.getppid() == parent:
            time.sleep(1.0)
        stop.set()

    threading.Thread(target=orphaned, daemon=True).start()


def _train(index: int, config: dict, folder: str) -> None:
    w, pid = _worker, os.getpid()
    if w["stop"].is_set():
        w["events"].put((index, pid, {"kind": "stopped", "epoch": 0, "message": "Stopped before it started."}))
        return
    try:
        if w["owner"]:
            runs.add_owner(folder, w["owner"])
        events = Trainer(TrainConfig.from_dict(config), w["dataset"], folder, info=w["info"]).events(w["stop"])
        for event in cache.guarded(Path(folder), events) if w["owner"] else events:
            w["events"].put((index, pid, event))
    except Exception as e:  # a bug in one run must not hang the sweep waiting for its final event
        w["events"].put((index, pid, {"kind": "error", "message": failure(e)}))


def failure(e: Exception) -> str:
    """An exception as a sentence for the user."""
    return str(e) if isinstance(e, ExplorerError) else f"Training failed unexpectedly: {type(e).__name__}: {e}"
