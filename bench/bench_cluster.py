"""The Ray backend against the in-process engine, on the same sweep and the same single runs.

    python -m bench.bench_cluster [--epochs 10] [--cpus 2] [--address ADDRESS]

Reference, measured in the same run: the sweep trained here by its default plan (one worker
process per core, `explorer.execution.processes`). Then the same sweep, into fresh folders, on a Ray
cluster: a private local one started with ``--cpus`` CPUs and no dashboard (its start timed apart),
or the cluster at ``--address``. Grid: lamb = 0, 0.1, 0.3, 1 x canny = auto, off on the embedded
data (8 runs), the other settings the defaults.

Then what the cluster adds to each run: N one-epoch runs one after another, in this process and on
the cluster (its workers warm), and the difference per run; the same for the first run on a cold
worker; how long a stop takes to end a run (stop set -> its ``stopped`` event); and one default
40-epoch run here (all cores' torch threads) and on the cluster (one CPU), with the bytes it sends
back (its checkpoints and metrics, every epoch).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import threading
import time
from pathlib import Path

LAMBDAS = ("0", "0.1", "0.3", "1")
CANNY = ("auto", "off")


def sweep_seconds(grid, base, data, root, cluster=None) -> tuple[float, int]:
    from explorer.execution.sweep import Sweep

    t0 = time.perf_counter()
    sweep = Sweep(grid, base, data, root, cluster=cluster)
    final = list(sweep.events())[-1]
    return time.perf_counter() - t0, final.runs - sum(r["status"] != "finished" for r in sweep.results())


def events_of(cfg, data, folder: Path, cluster=None, stop=None):
    """One run's typed events: in this process, or on the cluster through the Ray back-end."""
    from explorer.execution.backends import InProcess, Request
    from explorer.execution.keep import Keep
    from explorer.execution.ray_runs import RayCluster

    backend = RayCluster(cluster) if cluster else InProcess()
    return backend.train([Request(0, cfg, Path(folder))], data, stop or threading.Event(), Keep())


def one_epoch_runs(n: int, data, root: Path, cluster=None) -> list[float]:
    """Wall seconds of n one-epoch runs (fresh seeds), one after another."""
    from explorer.dann.config import TrainConfig

    times = []
    for i in range(n):
        cfg = TrainConfig(epochs=1, canny=None, seed=1000 + i + (500 if cluster else 0))
        folder = root / f"{'ray' if cluster else 'here'}-{i}"
        t0 = time.perf_counter()
        events = list(events_of(cfg, data, folder, cluster))
        assert events[-1].kind == "done", events[-1]
        times.append(time.perf_counter() - t0)
    return times


def stop_latency(data, folder: Path, cluster=None) -> float:
    """Seconds from a stop request (after the first epoch) to the run's stopped event."""
    from explorer.dann.config import TrainConfig

    cfg, stop = TrainConfig(epochs=100, canny=None, seed=77), threading.Event()
    asked = 0.0
    for e in events_of(cfg, data, folder, cluster, stop):
        if e.kind == "epoch" and not stop.is_set():
            stop.set()
            asked = time.perf_counter()
        if e.kind == "stopped":
            return time.perf_counter() - asked
    raise AssertionError("the run did not stop")


def start_cluster(address: str | None, cpus: int):
    """The cluster at `address`, or a private local one of `cpus` CPUs, and the seconds it took to reach."""
    import ray

    from explorer.execution import ray_cluster

    t0 = time.perf_counter()
    if address:
        cluster = ray_cluster.connect(address)
    else:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        cluster = ray_cluster.connect("local")
    return cluster, time.perf_counter() - t0


def timed_run(cfg, data, folder: Path, cluster=None) -> tuple[list, float]:
    """One run's events and its wall seconds."""
    t0 = time.perf_counter()
    events = list(events_of(cfg, data, folder, cluster))
    return events, time.perf_counter() - t0


def sending_run(cfg, data, folder: Path, cluster) -> tuple[list, float, list[int]]:
    """One run on the cluster, as `timed_run`, and the bytes each of its events sends back (every byte,
    not only what its folder keeps)."""
    from explorer.execution import ray_runs

    sent, land = [], ray_runs.land

    def counted(folder, files):
        # an object sent twice is pickled once
        sent.append(sum(len(b) for b in {id(b): b for b in files.values()}.values()))
        land(folder, files)

    ray_runs.land = counted
    try:
        return (*timed_run(cfg, data, folder, cluster), sent)
    finally:
        ray_runs.land = land


def measured(args, data, tmp: Path) -> dict:
    """Every number of the report: the sweep here and on the cluster, the per-run overhead, the stop
    latency and one default run each way."""
    from explorer.dann.config import TrainConfig
    from explorer.execution.grid import Grid

    grid = Grid.parse([f"lamb={','.join(LAMBDAS)}", f"canny={','.join(CANNY)}"])
    base, m = TrainConfig(epochs=args.epochs), {}
    m["here"], m["here_ok"] = sweep_seconds(grid, base, data, tmp / "here")
    cluster, m["started"] = start_cluster(args.address, args.cpus)
    m["cold"] = one_epoch_runs(1, data, tmp / "cold", cluster)[0]
    m["on_ray"], m["ray_ok"] = sweep_seconds(grid, base, data, tmp / "ray", cluster)
    m["alone"] = one_epoch_runs(args.runs, data, tmp / "alone")
    m["remote"] = one_epoch_runs(args.runs, data, tmp / "remote", cluster)
    m["stops"] = stop_latency(data, tmp / "stop-here"), stop_latency(data, tmp / "stop-ray", cluster)
    # the defaults (auto preprocessing)
    cfg = TrainConfig(seed=99)
    m["local"], m["local_s"] = timed_run(cfg, data, tmp / "default-here")
    m["default"], m["default_s"], m["sent"] = sending_run(cfg, data, tmp / "default", cluster)
    m["kept"] = sum(p.stat().st_size for p in (tmp / "default").iterdir())
    m["status"] = cluster.describe()
    return m


def report(m: dict, args) -> None:
    """Print the measurements, as docs/BENCHMARKS.md quotes them."""
    import ray
    import torch

    cpu = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"machine: {cpu}; torch {torch.__version__}; ray {ray.__version__}; {m['status']}")
    print(f"cluster start: {m['started']:.1f} s; first run on a cold worker (1 epoch): {m['cold']:.1f} s")
    print(f"sweep of 8 runs x {args.epochs} epochs:")
    here, on_ray = m["here"], m["on_ray"]
    print(f"  reference: in this process's default plan    {here:7.1f} s   {m['here_ok']}/8 finished")
    print(
        f"  on the Ray cluster                           {on_ray:7.1f} s   {m['ray_ok']}/8 finished   ratio "
        f"{here / on_ray:.2f}"
    )
    print(f"  difference per run                           {(on_ray - here) / 8:+7.2f} s")
    mean_here, mean_ray = sum(m["alone"]) / len(m["alone"]), sum(m["remote"]) / len(m["remote"])
    print(
        f"one-epoch runs one after another ({args.runs} each): here {mean_here:.2f} s, on the cluster "
        f"{mean_ray:.2f} s "
        f"(ratio {mean_here / mean_ray:.2f}); overhead per run {mean_ray - mean_here:+.2f} s"
    )
    stops = m["stops"]
    print(f"stop -> stopped event: here {stops[0] * 1000:.0f} ms, on the cluster {stops[1] * 1000:.0f} ms")
    for name, events, wall in (
        ("here (all cores' threads)", m["local"], m["local_s"]),
        ("on the cluster (1 CPU)", m["default"], m["default_s"]),
    ):
        epochs = [e.epoch for e in events if e.kind == "epoch"]
        print(
            f"one default run (40 epochs) {name}: {wall:.1f} s wall, {epochs[-1]['elapsed']:.1f} s training, "
            f"{sum(e['img_per_s'] * e['seconds'] for e in epochs) / epochs[-1]['elapsed']:.0f} source img/s"
        )
    print(
        f"  the cluster run sent back {sum(m['sent']) / 2**20:.1f} MB in all ({len(m['sent'])} events); "
        f"its folder keeps {m['kept'] / 2**20:.1f} MB"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the private local cluster")
    ap.add_argument("--address", help="an existing Ray cluster instead of a private local one")
    ap.add_argument("--runs", type=int, default=5, help="one-epoch runs for the per-run overhead")
    args = ap.parse_args()
    from explorer.data.builtin import load_builtin

    data = load_builtin(32)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EXPLORER_HOME"] = str(Path(tmp, "home"))
        m = measured(args, data, Path(tmp))
    report(m, args)


if __name__ == "__main__":
    main()
