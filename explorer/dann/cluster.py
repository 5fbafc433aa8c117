"""Training runs on a Ray cluster: the same `Trainer` on another machine, its events and
checkpoints streamed back to this one.

The backend is configuration, not code: ``EXPLORER_RAY_ADDRESS`` (the CLI's ``--ray``) names a
cluster, anything ``ray.init(address=...)`` takes (``auto``, ``10.0.0.5:6379``), or ``local`` for
a private one-machine cluster. Unset, runs train in-process as always and Ray is never imported.

A run is a Ray streaming-generator task that asks for the device it needs: a quarter of a GPU for
the small networks (width <= 0.5, images <= 64 px: one such run leaves most of a GPU idle), a whole
GPU otherwise, one CPU when the cluster has no GPUs or the run asks for the CPU. On its node it
trains into a scratch folder and yields, for every event, the event and the files that changed
(``last.pt``, the marked ``epoch_NNNN.pt``, ``best-*.pt``, ``metrics.jsonl``). Here each event's
files are written into the run's local folder (atomically, checkpoints before metrics) before the
event is passed on: the nodes need no shared file system, and whatever the app has shown is on
this machine's disk.

Stopping: one `StopBoard` actor per connection (async, no CPU) holds a flag per batch of runs.
Each remote run long-polls its flag in a thread and sets its trainer's stop event, which the
trainer checks before every step; the request arrives one RPC after it is made (milliseconds), so
the run stops within one step of it. A run not started yet (no device free) is cancelled instead.

What travels: the dataset once per batch (``ray.put``), the config, and ``last.pt`` when resuming;
back, each changed file once per event, files with the same bytes (the best epochs of several
validators, often also a marked epoch) sent once.

Besides the trainer's events, a run here may yield ``{"kind": "waiting", "message"}`` (not placed on
a device after 2 s, said once, with why) and ``{"kind": "retry", "message"}`` (sent again).

A worker or node that dies: Ray raises on the next event; the run is sent again with the last
``last.pt`` it returned (a ``retry`` event), once; a second loss gives it up with a message. What it
had returned stays in its folder. A run that fails inside the trainer (bad options, another run in
the folder) is not retried: its message is the error event's.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import queue
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import torch

from explorer.dann.config import TrainConfig
from explorer.dann.events import FINAL
from explorer.dann.trainer import Trainer
from explorer.dann.workers import failure
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.store import cache, runs

ENV = "EXPLORER_RAY_ADDRESS"
INSTALL = "pip install -r requirements-cluster.txt"
GPU_SHARE = 0.25  # of a GPU, for a small network (width <= 0.5, images <= 64 px)
STRIKES = 2  # times a run may be lost with its worker before it is given up
POLL = 5.0  # seconds one long-poll of the stop flag waits on the remote side
WAITING = "waiting to start on the cluster"  # for a free device, or for its worker process to start
REMOTE_FOLDER = "<the run's folder>"  # what a remote trainer calls its scratch folder in its messages


def configured(explicit: str | None = None) -> str | None:
    """The cluster address asked for: `explicit` (the CLI's ``--ray``), else ``$EXPLORER_RAY_ADDRESS``;
    None (train in-process) when neither is given."""
    value = explicit if explicit is not None else os.environ.get(ENV, "")
    return value.strip() or None


def _ray():
    try:
        import ray
    except ImportError:
        raise ExplorerError(f"Training on a Ray cluster needs Ray, which is not installed here: {INSTALL}") from None
    return ray


_clusters: dict[str, Cluster] = {}
_connecting = threading.Lock()


def connect(address: str) -> Cluster:
    """This process's connection to the cluster at `address` (made once)."""
    with _connecting:
        if address not in _clusters:
            ray = _ray()
            if _clusters:
                raise ExplorerError(
                    f"This process already trains on the Ray cluster {next(iter(_clusters))}; it cannot join {address} too."
                )
            if not ray.is_initialized():
                _hold_connection(ray, address)
            _clusters[address] = Cluster(address)
        found = _clusters[address]
    found.board()  # its process starts now, while the caller gets ready, not in front of the first run
    return found


def from_env() -> Cluster | None:
    address = configured()
    return connect(address) if address else None


def _hold_connection(ray, address: str) -> None:
    """``ray.init`` in a thread that lives as long as the process. A local cluster's processes are
    started with a parent-death signal, which Linux sends when the *thread* that started them ends;
    Streamlit runs each page in a short-lived thread, so the connection gets its own."""
    ready, failed = threading.Event(), []

    def hold():
        try:
            package = Path(__file__).resolve().parents[1]  # the workers import this package from where it is here
            if address == "local":
                path = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH")) if p)
                ray.init(address="local", include_dashboard=False, log_to_driver=False, logging_level="ERROR",
                         runtime_env={"env_vars": {"PYTHONPATH": path}})  # fmt: skip
            else:  # or from a copy in the job's runtime environment on the cluster's nodes
                ray.init(address=address, log_to_driver=False, logging_level="ERROR", runtime_env={"py_modules": [str(package)]})
        except Exception as e:
            failed.append(e)
        finally:
            ready.set()
        if not failed:
            threading.Event().wait()

    threading.Thread(target=hold, name="explorer-ray", daemon=True).start()
    ready.wait()
    if failed:
        detail = (str(failed[0]).strip().splitlines() or [type(failed[0]).__name__])[0][:200]
        raise ExplorerError(f"Could not reach the Ray cluster at {address}: {detail}")


class Cluster:
    def __init__(self, address: str):
        self.address = address
        self._board = None

    def board(self, fresh: bool = False):
        """The connection's `StopBoard` actor, started once (an actor is a process: seconds), on this
        machine's node (it lives and dies with the driver), restarted by Ray if it crashes."""
        ray = _ray()
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy as NodeAffinity

        with _connecting:
            if self._board is None or fresh:
                here = NodeAffinity(ray.get_runtime_context().get_node_id(), soft=False)
                actor = ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=-1)(StopBoard)
                self._board = actor.options(scheduling_strategy=here).remote()
            return self._board

    # ------------------------------------------------------------------ what it has
    def status(self) -> dict:
        """Live nodes, and the CPUs and GPUs in all and free right now."""
        ray = _ray()
        try:
            total, free = ray.cluster_resources(), ray.available_resources()
            nodes = sorted(n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive"))
        except Exception as e:  # the head went away: a sentence, not a traceback
            raise ExplorerError(f"The Ray cluster {self.address} does not answer ({type(e).__name__}).") from None
        return {"address": self.address, "nodes": nodes, "cpus": total.get("CPU", 0.0), "cpus_free": free.get("CPU", 0.0),
                "gpus": total.get("GPU", 0.0), "gpus_free": free.get("GPU", 0.0)}  # fmt: skip

    def describe(self) -> str:
        """The cluster in one line, e.g. ``Ray cluster local: 1 node · 2 of 2 CPUs free``; never raises."""
        try:
            s = self.status()
        except ExplorerError as e:
            return str(e)
        parts = [f"{len(s['nodes'])} node{'s' if len(s['nodes']) != 1 else ''}"]
        if s["gpus"]:
            parts.append(f"{s['gpus_free']:g} of {s['gpus']:g} GPUs free")
        parts.append(f"{s['cpus_free']:g} of {s['cpus']:g} CPUs free")
        return f"Ray cluster {self.address}: " + " · ".join(parts)

    def device_type(self, config: TrainConfig) -> str:
        """The device a run of `config` gets on the cluster (its run id depends on it): ``cuda``
        always asks for a GPU (on a cluster that scales GPU nodes from zero, it waits for one);
        ``auto`` a GPU when the cluster has one now, else a CPU."""
        if config.device != "auto":
            return config.device
        return "cuda" if self.status()["gpus"] else "cpu"

    def resources(self, config: TrainConfig) -> dict:
        """What the run's task asks Ray for."""
        if self.device_type(config) == "cpu":
            return {"num_cpus": 1, "num_gpus": 0}
        small = config.width <= 0.5 and config.image_size <= 64
        return {"num_cpus": 1, "num_gpus": GPU_SHARE if small else 1}

    def _waiting(self, options: dict) -> str:
        """Why a run is not placed yet, in words."""
        try:
            no_gpu = options["num_gpus"] > 0 and not self.status()["gpus"]
        except ExplorerError:
            no_gpu = False
        return "waiting for a GPU: the cluster has none now (one may join; Stop ends the wait)" if no_gpu else WAITING

    def plan(self) -> str:
        try:
            s = self.status()
        except ExplorerError as e:
            return str(e)
        devices = f"{s['gpus']:g} GPUs" if s["gpus"] else f"{s['cpus']:g} CPUs"
        return f"Ray cluster {self.address}: runs spread over its {devices} on {len(s['nodes'])} node(s)"

    # ------------------------------------------------------------------ training
    def run(self, config: TrainConfig, dataset: Dataset, folder: Path, stop: threading.Event | None = None, *,
            owner: str | None = None, info: dict | None = None) -> Iterator[dict]:  # fmt: skip
        """One run's events, as `Trainer.events` yields them, each with ``where`` it trains."""
        for _, where, event in self.train({0: (config, Path(folder))}, dataset, stop, owner=owner, info=info):
            yield event | {"where": where}

    def train(self, jobs: dict[int, tuple[TrainConfig, Path]], dataset: Dataset, stop: threading.Event | None = None, *,
              owner: str | None = None, info: dict | None = None) -> Iterator[tuple[int, str, dict]]:  # fmt: skip
        """Every job (index -> config, local run folder) sent to the cluster at once (Ray places
        them as devices free up); yields ``(index, where, event)`` as events arrive, each run's in
        order. `owner`: the folders are the app's cache (its lock and cap; runs recorded as the owner's)."""
        ray, stop = _ray(), stop or threading.Event()
        flag, data, out = self._open_flag(), ray.put(dataset), queue.Queue()
        threads = [threading.Thread(target=self._follow, args=(i, cfg, Path(folder), data, flag, stop, owner, info or {}, out),
                                    name=f"explorer-ray-run-{i}", daemon=True) for i, (cfg, folder) in jobs.items()]  # fmt: skip
        for t in threads:
            t.start()
        open_runs, told = set(jobs), False
        board, key = flag
        try:
            while open_runs:
                if stop.is_set() and not told:
                    board.set.remote(key)
                    told = True
                try:
                    index, where, event = out.get(timeout=0.05)
                except queue.Empty:
                    continue
                if event["kind"] in FINAL:
                    open_runs.discard(index)
                yield index, where, event
        finally:  # also when the caller lets go early: the runs stop, and what they return still lands
            if open_runs:
                stop.set()
                board.set.remote(key)
                deadline = time.monotonic() + 60  # the runs' last files land; then let go, all together
                for t in threads:
                    t.join(timeout=max(0.0, deadline - time.monotonic()))
            board.forget.remote(key)

    def _open_flag(self) -> tuple:
        """A new stop flag on the board: (board, key), open before any run can poll it. Waits for the
        board's process to start (a second or two; longer on a loaded machine)."""
        ray, key = _ray(), uuid.uuid4().hex
        try:
            board = self.board()
            ray.get(board.open.remote(key))
        except ray.exceptions.RayActorError:  # it died for good: one new one
            board = self.board(fresh=True)
            try:
                ray.get(board.open.remote(key))
            except ray.exceptions.RayActorError as e:
                raise ExplorerError(f"The cluster's stop board could not be started ({type(e).__name__}); no run was sent.") from None
        return board, key

    def _follow(self, index, config, folder, data, flag, stop, owner, info, out) -> None:
        """One run, in its own thread: its events into `out`, under the cache's lock when `owner`."""
        where = [WAITING]
        try:
            stream = self._attempts(config, folder, data, flag, stop, info, where)
            if owner:
                runs.add_owner(folder, owner)
                stream = cache.guarded(folder, stream)
            for event in stream:
                out.put((index, where[0], event))
        except Exception as e:  # the run's folder cannot be locked or written: this run fails, the others go on
            out.put((index, where[0], {"kind": "error", "message": failure(e)}))

    def _attempts(self, config, folder, data, flag, stop, info, where) -> Iterator[dict]:
        ray = _ray()
        exceptions = ray.exceptions
        options = self.resources(config)
        remote_config = replace(config, device="cuda" if options["num_gpus"] else "cpu").to_dict()  # what it asked Ray for
        folder.mkdir(parents=True, exist_ok=True)
        returned = None
        for attempt in range(1, STRIKES + 1):
            last = folder / "last.pt"
            resume = {"last.pt": last.read_bytes()} if last.is_file() else {}
            stream = _train_task(gpu=options["num_gpus"] > 0).options(**options).remote(remote_config, data, resume, flag, info)
            try:
                waits = 0
                while not ray.wait([stream], timeout=0.5)[0]:  # not placed yet (its first item says it is): a stop cancels it
                    waits += 1
                    if waits == 4:  # said once, after 2 s (no free device, or a worker process still starting)
                        where[0] = self._waiting(options)
                        yield {"kind": "waiting", "message": f"This run is {where[0]}."}
                    if stop.is_set():
                        ray.cancel(stream)
                        kept = f"; its checkpoint of epoch {returned} is kept" if returned else ""  # (an earlier attempt's)
                        yield {"kind": "stopped", "epoch": returned or 0, "message": f"Stopped before it started on the cluster{kept}."}
                        return
                for ref in stream:
                    item = ray.get(ref)
                    where[0] = item["where"]
                    if "event" not in item:  # placed on a node; its trainer starts
                        continue
                    land(folder, item["files"])
                    event = item["event"]
                    if event["kind"] == "start":
                        event = event | {"dir": str(folder), "pid": item["pid"]}
                    returned = {"start": event.get("resumed_from"), "epoch": event.get("epoch")}.get(event["kind"], returned)
                    yield event
                    if event["kind"] in FINAL:
                        return
                raise ExplorerError("The run ended on the cluster without saying how.")
            except exceptions.RayTaskError as e:  # the trainer raised: not the node's fault, not retried
                cause = e.cause if isinstance(getattr(e, "cause", None), Exception) else e
                yield {"kind": "error", "message": failure(cause).replace(REMOTE_FOLDER, str(folder))}
                return
            except exceptions.RuntimeEnvSetupError as e:  # a node cannot set up the job's environment: retrying repeats it
                detail = (str(e).strip().splitlines() or [""])[-1][:300]
                yield {"kind": "error", "message": f"A cluster node could not set up this app's Python environment: {detail}"}
                return
            except exceptions.RayError as e:  # the worker or its node died, or the object with its events was lost
                lost = f"{where[0]}: {type(e).__name__}"
                where[0] = WAITING
                kept = f"epoch {returned}" if returned is not None else "the start (nothing was returned)"
                if attempt == STRIKES:
                    message = (f"The cluster lost this run {STRIKES} times ({lost}); it is given up. "
                               f"What it returned is kept ({kept}).")  # fmt: skip
                    yield {"kind": "error", "message": message}
                    return
                yield {"kind": "retry", "message": f"The cluster lost this run ({lost}); it trains again from {kept}."}


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


# ------------------------------------------------------------------ on the cluster
def _snapshot(folder: Path) -> dict[str, tuple]:
    return {p.name: (s.st_ino, s.st_mtime_ns, s.st_size) for p in folder.iterdir()
            if not p.name.startswith(".") and p.is_file() and (s := p.stat())}  # fmt: skip


def _changed(folder: Path, seen: dict[str, tuple]) -> tuple[dict[str, bytes], dict[str, tuple]]:
    """The files that changed since `seen`: checkpoints first, metrics.jsonl last (a resume trusts
    ``last.pt``; a reader of metrics finds its checkpoints already there)."""
    now = _snapshot(folder)
    names = sorted((n for n, s in now.items() if seen.get(n) != s), key=lambda n: (n == "metrics.jsonl", n.endswith(".json"), n))
    files, first = {}, {}
    for n in names:  # a file with the same bytes as one before it goes as that file's name
        data = (folder / n).read_bytes()
        name = first.setdefault(hashlib.blake2b(data, digest_size=16).digest(), n)
        files[n] = data if name == n else name
    return files, now


def _train_remotely(config: dict, dataset: Dataset, resume: dict[str, bytes], flag: tuple, info: dict) -> Iterator[dict]:
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
            except ExplorerError as e:  # its message names the scratch folder, which means nothing to the user
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


def _train_task(gpu: bool):
    """The remote run. max_retries=0: a lost run is sent again from its returned checkpoint, here.
    A GPU run gets a fresh worker process (max_calls=1): a reused one would keep the CUDA context of
    the GPU it first ran on, whatever GPU Ray gives the next run."""
    name = "gpu" if gpu else "cpu"
    if name not in _remotes:
        _remotes[name] = _ray().remote(num_returns="streaming", max_retries=0, max_calls=1 if gpu else 0)(_train_remotely)
    return _remotes[name]
