"""A sweep against the same configs trained one `train` command after another.

    python -m bench.bench_sweep [--epochs 10] [--device auto]

Grid (8 configs): lamb = 0, 0.1, 0.3, 1 x canny = auto, off, on the embedded data, everything else
the defaults. Reference, measured in the same run: 8 sequential ``python -m explorer train``
commands, each its own process, as a student would run them. Then, each into a fresh folder:

* ``sweep``: the default plan (CPU: one run per core side by side; CUDA: stacked models);
* ``sweep --workers 1``: one run after another in one process (on CPU), which separates what the
  sweep saves by starting once (imports, data, preprocessing) from what running side by side adds.

Prints wall seconds and the ratio to the reference for each, and checks that every plan reached
the same number of finished runs. On CUDA, also a stacked step against K separate steps.
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
    out = subprocess.run([sys.executable, "-m", "explorer", *cmd], capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - t0, out.stdout.strip().splitlines()[-1]


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
        subprocess.run(
            [sys.executable, "-m", "explorer", "train", *common, "--epochs", "1", "--out", f"{tmp}/warm"],
            env=env,
            capture_output=True,
            check=True,
        )  # fmt: skip  (the embedded data's disk cache, once)
        reference = 0.0
        for lamb in LAMBDAS:
            for canny in CANNY:
                edges = ["--no-canny"] if canny == "off" else ["--canny", "auto"]
                seconds, _ = run(["train", *common, "--lamb", lamb, *edges, "--out", f"{tmp}/seq-{lamb}-{canny}"], env)
                reference += seconds
        grid = ["--grid", f"lamb={','.join(LAMBDAS)}", f"canny={','.join(CANNY)}"]
        plans = {"sweep (default plan)": []} | ({} if cuda else {"sweep --workers 1 (one process, in turn)": ["--workers", "1"]})
        rows = []
        for name, extra in plans.items():
            seconds, last = run(["sweep", *common, *grid, *extra, "--out", f"{tmp}/{len(rows)}"], env)
            summary = json.loads(last)
            rows.append((name, seconds, summary["runs"] - summary["failed"], summary["best"]))
    device = torch.cuda.get_device_name() if cuda else f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"device: {device}; torch {torch.__version__}; {args.epochs} epochs per run, 8 runs")
    print(f"{'what':44s} {'seconds':>8s} {'ratio':>6s}")
    print(f"{'reference: 8 x `python -m explorer train`':44s} {reference:8.1f} {1.0:6.2f}")
    for name, seconds, ok, best in rows:
        print(f"{name:44s} {seconds:8.1f} {reference / seconds:6.2f}   {ok}/8 finished, best: {best['point']}")


if __name__ == "__main__":
    main()
