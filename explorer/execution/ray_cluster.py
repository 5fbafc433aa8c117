"""A Ray cluster: how this process joins it (`connect`) and what it has (`Cluster`). Training on
it is `ray_runs.py` (the back-end, here) and `ray_task.py` (the task, on its nodes): the same
`Trainer` on another machine, its events and checkpoints streamed back to this one.

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

Besides the trainer's events, a run here may yield `Waiting` (not placed on a device after 2 s,
said once, with why) and `Retrying` (sent again).

A worker or node that dies: Ray raises on the next event; the run is sent again with the last
``last.pt`` it returned (a `Retrying` event), once; a second loss gives it up with a message. What it
had returned stays in its folder. A run that fails inside the trainer (bad options, another run in
the folder) is not retried: its message is the error event's.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from explorer.dann.config import TrainConfig
from explorer.errors import ExplorerError
from explorer.execution.ray_task import INSTALL, StopBoard, ray_module

__all__ = [
    "ENV",
    "GPU_SHARE",
    "INSTALL",
    "STRIKES",
    "WAITING",
    "Cluster",
    "configured",
    "connect",
    "from_env",
]
ENV = "EXPLORER_RAY_ADDRESS"
GPU_SHARE = 0.25  # of a GPU, for a small network (width <= 0.5, images <= 64 px)
STRIKES = 2  # times a run may be lost with its worker before it is given up
WAITING = "waiting to start on the cluster"  # for a free device, or for its worker process to start


def configured(explicit: str | None = None) -> str | None:
    """The cluster address asked for: `explicit` (the CLI's ``--ray``), else ``$EXPLORER_RAY_ADDRESS``;
    None (train in-process) when neither is given."""
    value = explicit if explicit is not None else os.environ.get(ENV, "")
    return value.strip() or None


_clusters: dict[str, Cluster] = {}
_connecting = threading.Lock()


def connect(address: str) -> Cluster:
    """This process's connection to the cluster at `address` (made once)."""
    with _connecting:
        if address not in _clusters:
            ray = ray_module()
            if _clusters:
                raise ExplorerError(
                    f"This process already trains on the Ray cluster {next(iter(_clusters))}; "
                    f"it cannot join {address} too."
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
            # the workers import this package from where it is here
            package = Path(__file__).resolve().parents[1]
            if address == "local":
                path = os.pathsep.join(p for p in (str(package.parent), os.environ.get("PYTHONPATH")) if p)
                ray.init(
                    address="local",
                    include_dashboard=False,
                    log_to_driver=False,
                    logging_level="ERROR",
                    runtime_env={"env_vars": {"PYTHONPATH": path}},
                )
            else:  # or from a copy in the job's runtime environment on the cluster's nodes
                ray.init(
                    address=address,
                    log_to_driver=False,
                    logging_level="ERROR",
                    runtime_env={"py_modules": [str(package)]},
                )
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
        ray = ray_module()
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
        ray = ray_module()
        try:
            total, free = ray.cluster_resources(), ray.available_resources()
            nodes = sorted(n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive"))
        except Exception as e:  # the head went away: a sentence, not a traceback
            raise ExplorerError(
                f"The Ray cluster {self.address} does not answer ({type(e).__name__})."
            ) from None
        return {
            "address": self.address,
            "nodes": nodes,
            "cpus": total.get("CPU", 0.0),
            "cpus_free": free.get("CPU", 0.0),
            "gpus": total.get("GPU", 0.0),
            "gpus_free": free.get("GPU", 0.0),
        }

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

    def waiting(self, options: dict) -> str:
        """Why a run is not placed yet, in words."""
        try:
            no_gpu = options["num_gpus"] > 0 and not self.status()["gpus"]
        except ExplorerError:
            no_gpu = False
        return (
            "waiting for a GPU: the cluster has none now (one may join; Stop ends the wait)"
            if no_gpu
            else WAITING
        )

    def plan(self) -> str:
        try:
            s = self.status()
        except ExplorerError as e:
            return str(e)
        devices = f"{s['gpus']:g} GPUs" if s["gpus"] else f"{s['cpus']:g} CPUs"
        return f"Ray cluster {self.address}: runs spread over its {devices} on {len(s['nodes'])} node(s)"
