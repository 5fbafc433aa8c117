"""The Ray side of a cluster run: the task that trains on a node, and the stop board.

`train_task(gpu)` is the remote function (a Ray streaming generator): on its node it trains the
run with the ordinary `Trainer` in a scratch folder (``last.pt`` given when resuming) and yields,
for every event, the event and the files that changed since the last one (checkpoints first,
``metrics.jsonl`` last; a file with the same bytes as an earlier one goes as that file's name).
Its first item, ``{"where"}``, says it has been placed. It polls its stop flag on the `StopBoard`
actor in a thread and sets the trainer's stop event, which the trainer checks before every step.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import torch

from explorer.dann.config import TrainConfig
from explorer.dann.trainer import Trainer
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError

INSTALL = "pip install -r requirements-cluster.txt"
POLL = 5.0  # seconds one long-poll of the stop flag waits on the remote side
REMOTE_FOLDER = "<the run's folder>"  # what a remote trainer calls its scratch folder in its messages


def ray_module():
    """Ray, imported only now (a cluster was asked for), or a sentence saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ExplorerError(
            f"Training on a Ray cluster needs Ray, which is not installed here: {INSTALL}"
        ) from None
    return ray


def _snapshot(folder: Path) -> dict[str, tuple]:
    return {
        p.name: (s.st_ino, s.st_mtime_ns, s.st_size)
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.is_file() and (s := p.stat())
    }


def _changed(folder: Path, seen: dict[str, tuple]) -> tuple[dict[str, bytes], dict[str, tuple]]:
    """The files that changed since `seen`: checkpoints first, metrics.jsonl last (a resume trusts
    ``last.pt``; a reader of metrics finds its checkpoints already there)."""
    now = _snapshot(folder)
    names = sorted(
        (n for n, s in now.items() if seen.get(n) != s),
        key=lambda n: (n == "metrics.jsonl", n.endswith(".json"), n),
    )
    files, first = {}, {}
    for n in names:  # a file with the same bytes as one before it goes as that file's name
        data = (folder / n).read_bytes()
        name = first.setdefault(hashlib.blake2b(data, digest_size=16).digest(), n)
        files[n] = data if name == n else name
    return files, now


def _train_remotely(
    config: dict, dataset: Dataset, resume: dict[str, bytes], flag: tuple, info: dict
) -> Iterator[dict]:
    import ray

    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    torch.set_num_threads(max(1, int(cpus)))
    (board, key), stop, over = flag, threading.Event(), threading.Event()
    if ray.get(board.wait.remote(key, 0.0)):
        stop.set()

    def poll():
        while not over.is_set() and not stop.is_set():
            try:
                if ray.get(board.wait.remote(key, POLL)):
                    stop.set()
            except Exception:  # the board restarts (or its driver is gone, and Ray ends this task): try again
                over.wait(1.0)

    threading.Thread(target=poll, daemon=True).start()
    where = f"ray node {ray.util.get_node_ip_address()}"
    yield {"where": where}  # placed: the app stops saying "waiting" (and stops through the board from now on)
    try:
        with tempfile.TemporaryDirectory(prefix="explorer-run-") as tmp:
            folder = Path(tmp)
            for name, data in resume.items():
                (folder / name).write_bytes(data)
            seen = _snapshot(folder)
            try:
                trainer = Trainer(TrainConfig.from_dict(config), dataset, folder, info=info)
                for event in trainer.events(stop):
                    files, seen = _changed(folder, seen)
                    yield {"event": event, "files": files, "where": where, "pid": os.getpid()}
            # its message names the scratch folder, which means nothing to the user
            except ExplorerError as e:
                raise ExplorerError(str(e).replace(str(folder), REMOTE_FOLDER)) from None
    finally:
        over.set()


class StopBoard:
    """Stop flags by key, as a Ray actor: `open`, `set` and `forget` from the app, `wait` (a long
    poll) from the runs. After a restart it knows no keys; the runs' polls make them again, and a
    stop asked for during the restart is lost (press Stop again)."""

    def __init__(self):
        self.flags: dict[str, asyncio.Event] = {}

    async def open(self, key: str) -> None:
        self.flags[key] = asyncio.Event()

    async def set(self, key: str) -> None:
        self.flags.setdefault(key, asyncio.Event()).set()

    async def wait(self, key: str, timeout: float) -> bool:
        """True once stop was asked for under `key`; waits up to `timeout` seconds for it."""
        flag = self.flags.setdefault(key, asyncio.Event())
        try:
            await asyncio.wait_for(flag.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        return flag.is_set()

    async def forget(self, key: str) -> None:
        self.flags.pop(key, None)


_remotes: dict[str, object] = {}


def train_task(gpu: bool):
    """The remote run. max_retries=0: a lost run is sent again from its returned checkpoint, here.
    A GPU run gets a fresh worker process (max_calls=1): a reused one would keep the CUDA context of
    the GPU it first ran on, whatever GPU Ray gives the next run."""
    name = "gpu" if gpu else "cpu"
    if name not in _remotes:
        _remotes[name] = ray_module().remote(
            num_returns="streaming", max_retries=0, max_calls=1 if gpu else 0
        )(_train_remotely)
    return _remotes[name]
