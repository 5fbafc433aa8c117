"""What measured auto costs in wall time: one run of the statistics' option alone against measuring
every shortlisted option side by side, on the embedded data (explorer/execution/measure.py).

    python -m bench.auto_cost [--epochs 10] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def cost(epochs: int, out: Path) -> str:
    """Wall seconds of one run of the statistics' option alone (all cores' torch threads) against the
    measuring run of every option side by side (one worker process per core), on the embedded data."""
    import shutil
    import threading

    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer
    from explorer.data.builtin import load_builtin
    from explorer.execution.measure import Measurement

    data, base = load_builtin(32), TrainConfig(epochs=epochs, seed=123)
    shutil.rmtree(out, ignore_errors=True)
    plan_configs = Measurement(base, data, out / "m").plan.configs
    t0 = time.perf_counter()
    list(Trainer(plan_configs[0], data, out / "one").events())
    one = time.perf_counter() - t0
    t0 = time.perf_counter()
    events = list(Measurement(base, data, out / "m").events(threading.Event()))
    measured = time.perf_counter() - t0
    k = len(plan_configs)
    assert events[-1].decision, events[-1]
    return (
        f"measuring {k} options x {epochs} epochs side by side: {measured:.1f} s; "
        f"one option alone: {one:.1f} s; ratio {measured / one:.2f} = {measured / one / k:.2f} x K "
        f"(goal: at most 0.8 x K); {os.cpu_count()} CPU cores"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--out", default=None, help="where the runs train (a temporary folder by default)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        os.environ.setdefault("EXPLORER_HOME", str(out / "home"))
        print(cost(args.epochs, out / "cost"))


if __name__ == "__main__":
    main()
