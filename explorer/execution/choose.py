"""Which back-end trains a list of runs: chosen from the request and the machine, in one place
(starting a run, a sweep and auto's measuring all ask here). Each back-end but `InProcess` is
imported when it is chosen (Ray's only when a cluster is given)."""

from __future__ import annotations

from explorer.dann.config import TrainConfig
from explorer.devices import pick, usable_cpus
from explorer.execution.backends import Backend, InProcess


def choose(
    config: TrainConfig,
    runs: int = 1,
    *,
    cluster=None,
    workers: int | None = None,
    stacked: bool | None = None,
) -> Backend:
    """The back-end for `runs` runs of configs like `config`: the Ray `cluster` when one is given
    (connected: `ray_cluster.connect`); else on CUDA, K stacked copies (unless `stacked` is False);
    on a CPU, `workers` processes side by side (default one per core) when there is more than one
    run; else this process."""
    if cluster is not None:
        from explorer.execution.ray_runs import RayCluster

        return RayCluster(cluster)
    device = pick(config.device).type
    if runs > 1 and (stacked if stacked is not None else device == "cuda"):
        from explorer.execution.stacked import Stacked

        return Stacked(config.device)
    n = max(1, min(workers or usable_cpus(), runs))
    if n > 1:
        from explorer.execution.processes import Processes

        return Processes(n)
    return InProcess(config.device)
