"""A sweep against the same configs trained one `train` command after another.

    python -m bench.bench_sweep [--epochs 10] [--device auto]

Grid (8 configs): lamb = 0, 0.1, 0.3, 1 x canny = auto, off, on the embedded data, everything else
the defaults. Reference, measured in the same run: 8 sequential ``python -m explorer train``
commands, each its own process, as a student would run them. Then, each into a fresh folder:

* ``sweep``: the default plan (CPU: one run per core side by side; CUDA: stacked models);
* ``sweep --workers 1``: one run after another in one process (on CPU), which separates what the
  sweep saves by starting once (imports, data, preprocessing) from what running side by side adds.

Prints wall seconds and the ratio to the reference for each, and checks that every plan reached
the same number of finished runs. The page's estimate (`explorer.execution.costs`) is computed
before the sweeps, in the same home (its step timed then, under the same load), and compared with
the default plan's wall time: the goal is within 25 %. Then the stacked model alone: one training
step of K = 8 runs stacked (`explorer.execution.stacked`) against the same 8 runs' steps one after
another, on the device.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LAMBDAS = ("0", "0.1", "0.3", "1")
CANNY = ("auto", "off")


def run(cmd: list[str], env: dict) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "explorer", *cmd], capture_output=True, text=True, env=env, check=True
    )
    return time.perf_counter() - t0, out.stdout.strip().splitlines()[-1]


def stacked_step(device: str, k: int = 8, steps: int = 10) -> tuple[float, float]:
    """Seconds per step for k separate runs in turn, and for the same k runs stacked."""
    import torch

    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer
    from explorer.data.builtin import load_builtin
    from explorer.execution.stacked import StackedTrainer

    data = load_builtin(32)
    with tempfile.TemporaryDirectory() as tmp:
        configs = [TrainConfig(lamb=0.1 * i, seed=i, canny=(100, 200), device=device) for i in range(k)]
        alone = [Trainer(c, data, f"{tmp}/a{i}") for i, c in enumerate(configs)]
        together = StackedTrainer([Trainer(c, data, f"{tmp}/b{i}") for i, c in enumerate(configs)])
        together._stack()
        plans = [t.plan("dann") for t in alone]
        batches = [[t.batch(p, s) for t, p in zip(alone, plans)] for s in range(steps + 2)]
        sync = torch.cuda.synchronize if alone[0].device.type == "cuda" else (lambda: None)

        def separate(step):
            for t, b in zip(alone, batches[step]):
                t.dann_step(b)

        def stacked(step):
            b = batches[step]
            xs, ys = torch.stack([x.xs for x in b]), torch.stack([x.ys for x in b])
            xt = torch.stack([t.inputs(x.xt, augment=True) for t, x in zip(alone, b)])
            together.step(xs, ys, xt, torch.tensor([x.lamb for x in b], device=xs.device))

        times = []
        for fn in (separate, stacked):
            fn(0), fn(1), sync()  # warm-up
            t0 = time.perf_counter()
            for step in range(2, steps + 2):
                fn(step)
            sync()
            times.append((time.perf_counter() - t0) / steps)
    return times[0], times[1]


def estimate(epochs: int, device: str, home: str) -> float:
    """The page's estimate for the grid, in the bench's home (its step timing kept there)."""
    os.environ["EXPLORER_HOME"] = home
    from explorer.dann.config import TrainConfig
    from explorer.data.builtin import load_builtin
    from explorer.execution import costs
    from explorer.execution.grid import Grid
    from explorer.execution.sweep import Sweep

    with tempfile.TemporaryDirectory() as tmp:
        grid = Grid.parse([f"lamb={','.join(LAMBDAS)}", f"canny={','.join(CANNY)}"])
        return costs.seconds(Sweep(grid, TrainConfig(epochs=epochs, device=device), load_builtin(32), tmp))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    import torch

    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    common = ["--data", "builtin", "--epochs", str(args.epochs), "--device", args.device]
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {"EXPLORER_HOME": str(Path(tmp, "home"))}
        # the embedded data's disk cache, once
        subprocess.run(
            [sys.executable, "-m", "explorer", "train", *common, "--epochs", "1", "--out", f"{tmp}/warm"],
            env=env,
            capture_output=True,
            check=True,
        )
        estimated = estimate(args.epochs, args.device, env["EXPLORER_HOME"])
        reference = 0.0
        for lamb in LAMBDAS:
            for canny in CANNY:
                edges = ["--no-canny"] if canny == "off" else ["--canny", "auto"]
                seconds, _ = run(
                    ["train", *common, "--lamb", lamb, *edges, "--out", f"{tmp}/seq-{lamb}-{canny}"], env
                )
                reference += seconds
        grid = ["--grid", f"lamb={','.join(LAMBDAS)}", f"canny={','.join(CANNY)}"]
        plans = {"sweep (default plan)": []} | (
            {} if cuda else {"sweep --workers 1 (one process, in turn)": ["--workers", "1"]}
        )
        rows = []
        for name, extra in plans.items():
            seconds, last = run(["sweep", *common, *grid, *extra, "--out", f"{tmp}/{len(rows)}"], env)
            summary = json.loads(last)
            rows.append((name, seconds, summary["runs"] - summary["failed"], summary["best"]))
    device = (
        torch.cuda.get_device_name()
        if cuda
        else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    print(f"device: {device}; torch {torch.__version__}; {args.epochs} epochs per run, 8 runs")
    print(f"{'what':44s} {'seconds':>8s} {'ratio':>6s}")
    print(f"{'reference: 8 x `python -m explorer train`':44s} {reference:8.1f} {1.0:6.2f}")
    for name, seconds, ok, best in rows:
        print(
            f"{name:44s} {seconds:8.1f} {reference / seconds:6.2f}   {ok}/8 finished, best: {best['point']}"
        )
    wall = rows[0][1]
    print(
        f"the page's estimate before the sweep (explorer.execution.costs): {estimated:.1f} s, the default "
        f"plan took {wall:.1f} s (wall / estimate {wall / estimated:.2f}; "
        f"{'within' if abs(wall / estimated - 1) <= 0.25 else 'NOT within'} 25 %)"
    )
    one_by_one, stacked = stacked_step(args.device)
    print(
        f"one training step of 8 runs: one after another {one_by_one * 1000:.0f} ms, "
        f"stacked {stacked * 1000:.0f} ms (ratio {one_by_one / stacked:.2f})"
    )


if __name__ == "__main__":
    main()
