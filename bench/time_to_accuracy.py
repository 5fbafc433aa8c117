"""Time to accuracy: how long the default run takes to reach the accuracy it ships today.

    python -m bench.time_to_accuracy [--today ef93ed1] [--pairs a,b] [--seeds 3] [--workers 2]
                                     [--first-runs 3] [--out DIR]

"Today" is a commit checked out beside this tree (a git worktree) and timed in the same run, on
the same machine, job for job interleaved with this tree's, so a busy moment costs both alike.

1. **A single default run** on every pair of `bench/pairs.py` and seed: the app's defaults (40
   epochs, a lone trainer: preprocessing by the statistics' choice), one torch thread per run,
   `--workers` runs side by side. Each run reports its wall time at every epoch (from before the
   trainer is built: preparing the data and the speed probe are part of the wait) and the target
   accuracy of the checkpoint the default validator would ship after each epoch. The λ schedule is
   constant and Adam's learning rate fixed, so the first N epochs of a 40-epoch run are the N-epoch
   run: the table reads off the fewest epochs whose shipped accuracy (mean over seeds) is within 0.5
   point of today's 40, and their wall time against today's.
2. **The first default run** on the embedded pair (`--first-runs` seeds): ``explorer train --data
   builtin`` on a fresh home, so auto measures its six options side by side first, as a new user's
   Start does; wall time and the shipped accuracy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
WITHIN = 0.5  # points of target accuracy


def child(pair: str, seed: int, out: str) -> None:
    """In a subprocess of either tree: train one default run, print its epochs as JSON lines."""
    t0 = time.perf_counter()
    import torch

    from bench.pairs import load_pair
    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer
    from explorer.dann.validators import DEFAULT

    torch.set_num_threads(1)
    trainer = Trainer(TrainConfig(seed=seed, device="cpu"), load_pair(pair), out)
    for event in trainer.events():
        if event["kind"] == "epoch":
            row = {
                "epoch": event["epoch"],
                "wall": time.perf_counter() - t0,
                "target_acc": event["target_acc"],
                "score": event["validators"][DEFAULT],
            }
            print(json.dumps(row), flush=True)
        elif event["kind"] != "start":
            print(json.dumps({"end": event["kind"], "start": event.get("device")}), flush=True)


def worktree(commit: str) -> Path:
    """`commit` checked out beside this tree (made once, reused)."""
    path = Path(tempfile.gettempdir()) / f"te-{commit}"
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(HERE), "worktree", "add", "--detach", str(path), commit],
            check=True,
            capture_output=True,
        )
    return path


def run_single(tree: Path, pair: str, seed: int, out: Path) -> list[dict]:
    """One default run in `tree`: its epochs (wall, target accuracy, the default validator's score)."""
    folder = out / tree.name / pair / f"seed{seed}"
    env = os.environ | {"PYTHONPATH": str(tree), "EXPLORER_HOME": str(out / f"home-{tree.name}")}
    code = f"import sys; sys.path.insert(0, {str(HERE / 'bench')!r}); import time_to_accuracy as t; "
    code += f"t.child({pair!r}, {seed}, {str(folder)!r})"
    shutil.rmtree(folder, ignore_errors=True)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    epochs = [r for r in rows if "epoch" in r]
    if done.returncode or len(epochs) < 40:
        raise RuntimeError(f"{tree.name} {pair} seed {seed}: {done.stderr[-2000:]}")
    return epochs


def shipped(epochs: list[dict], n: int) -> float:
    """Target accuracy (%) of the checkpoint shipped after `n` epochs: the default validator's best
    so far, the later epoch on a tie (as `RunFolder.keep_best`)."""
    best = max(range(n), key=lambda i: (epochs[i]["score"], i))
    return 100 * epochs[best]["target_acc"]


def singles(trees: dict[str, Path], pairs: list[str], seeds: int, workers: int, out: Path) -> dict:
    """{(tree, pair, seed): epochs}, the two trees' jobs interleaved."""
    jobs = [(name, p, s) for p in pairs for s in range(seeds) for name in trees]
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda j: run_single(trees[j[0]], j[1], j[2], out), jobs)
        found = {}
        for job, epochs in zip(jobs, results):
            found[job] = epochs
            print(f"  {job[0]:5s} {job[1]:18s} seed {job[2]}: {epochs[-1]['wall']:.1f} s", file=sys.stderr)
    return found


def pair_row(found: dict, pair: str, seeds: int) -> dict:
    """Today's shipped accuracy and wall at 40 epochs; the new tree's fewest epochs within WITHIN."""
    today = [found[("today", pair, s)] for s in range(seeds)]
    new = [found[("new", pair, s)] for s in range(seeds)]
    acc_today = statistics.mean(shipped(e, 40) for e in today)
    wall_today = statistics.mean(e[39]["wall"] for e in today)
    n_needed = next(
        (n for n in range(1, 41) if statistics.mean(shipped(e, n) for e in new) >= acc_today - WITHIN), None
    )
    n = n_needed or 40
    return {
        "pair": pair,
        "acc_today": acc_today,
        "spread_today": statistics.pstdev(shipped(e, 40) for e in today),
        "acc_new40": statistics.mean(shipped(e, 40) for e in new),
        "wall_today": wall_today,
        "wall_new40": statistics.mean(e[39]["wall"] for e in new),
        "epochs": n_needed,
        "acc_new": statistics.mean(shipped(e, n) for e in new),
        "wall_new": statistics.mean(e[n - 1]["wall"] for e in new),
    }


def single_table(rows: list[dict]) -> list[str]:
    lines = [
        "| pair | today: shipped acc (40 epochs) | today's seed spread | new: acc at 40 | Δ | today: wall | "
        "new: wall at 40 | ratio | new: fewest epochs within 0.5 | its acc | its wall | time to accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        epochs = r["epochs"] if r["epochs"] else "not reached"
        lines.append(
            f"| {r['pair']} | {r['acc_today']:.1f} | {r['spread_today']:.1f} | {r['acc_new40']:.1f} | "
            f"{r['acc_new40'] - r['acc_today']:+.1f} | {r['wall_today']:.1f} s | {r['wall_new40']:.1f} s | "
            f"{r['wall_new40'] / r['wall_today']:.2f} | {epochs} | {r['acc_new']:.1f} | "
            f"{r['wall_new']:.1f} s | {r['wall_new'] / r['wall_today']:.2f} |"
        )
    mean = {k: statistics.mean(r[k] for r in rows) for k in ("acc_today", "acc_new40")}
    ratio40 = statistics.mean(r["wall_new40"] / r["wall_today"] for r in rows)
    ratio = statistics.mean(r["wall_new"] / r["wall_today"] for r in rows)
    lines.append(
        f"| **mean** | {mean['acc_today']:.1f} | | {mean['acc_new40']:.1f} | "
        f"{mean['acc_new40'] - mean['acc_today']:+.1f} | | | {ratio40:.2f} | | | | {ratio:.2f} |"
    )
    return lines


def first_run(tree: Path, seed: int, out: Path) -> tuple[float, float]:
    """``explorer train --data builtin`` on a fresh home in `tree`: (wall s, shipped target acc %)."""
    home, folder = out / f"first-{tree.name}-{seed}", out / f"first-run-{tree.name}-{seed}"
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    env = os.environ | {"PYTHONPATH": str(tree), "EXPLORER_HOME": str(home)}
    args = [sys.executable, "-m", "explorer", "train", "--data", "builtin", "--seed", str(seed)]
    t0 = time.perf_counter()
    done = subprocess.run(
        [*args, "--out", str(folder)], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - t0
    if done.returncode:
        raise RuntimeError(f"first run in {tree.name}, seed {seed}: {done.stderr[-2000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return wall, 100 * summary["selected"]["target_acc"]


def first_runs(trees: dict[str, Path], seeds: int, out: Path) -> list[str]:
    """The first default run on the embedded pair, each tree in turn per seed."""
    found = {name: [] for name in trees}
    for seed in range(seeds):
        for name, tree in trees.items():
            found[name].append(first_run(tree, seed, out))
            wall, acc = found[name][-1]
            print(f"  first run {name:5s} seed {seed}: {wall:.0f} s, {acc:.1f}%", file=sys.stderr)
    lines = ["| tree | seeds | wall (mean) | shipped target acc (mean) | per seed |", "|---|---|---|---|---|"]
    for name, runs in found.items():
        each = ", ".join(f"{w:.0f} s / {a:.1f}" for w, a in runs)
        lines.append(
            f"| {name} | {len(runs)} | {statistics.mean(w for w, _ in runs):.0f} s | "
            f"{statistics.mean(a for _, a in runs):.1f} | {each} |"
        )
    ratio = statistics.mean(w for w, _ in found["new"]) / statistics.mean(w for w, _ in found["today"])
    lines.append(f"\nWall-time ratio new / today: {ratio:.2f}.")
    return lines


def main() -> None:
    from bench.pairs import PAIRS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--today", default="ef93ed1")
    ap.add_argument("--new", help="a commit to time as the new code (default: this tree as it is)")
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--first-runs", type=int, default=3, help="seeds of the first default run (0: none)")
    ap.add_argument("--out", default=str(Path(tempfile.gettempdir()) / "time-to-accuracy"))
    args = ap.parse_args()
    out, trees = (
        Path(args.out),
        {"today": worktree(args.today), "new": worktree(args.new) if args.new else HERE},
    )
    out.mkdir(parents=True, exist_ok=True)
    t0, pairs = time.perf_counter(), args.pairs.split(",")
    found = singles(trees, pairs, args.seeds, args.workers, out)
    print("\n".join(single_table([pair_row(found, p, args.seeds) for p in pairs])))
    if args.first_runs:
        print("\nThe first default run on the embedded pair (auto measures its options first):\n")
        print("\n".join(first_runs(trees, args.first_runs, out)))
    print(f"\n{(time.perf_counter() - t0) / 60:.0f} minutes; today = {args.today}, {args.seeds} seeds.")


if __name__ == "__main__":
    main()
