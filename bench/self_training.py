"""Self-training after measured auto's pick, on the benchmark pairs: does the EMA teacher's pseudo-label
stage (explorer/dann/teacher.py, `step.self_train_step`) lift the checkpoint that ships?

    python -m bench.self_training [--seeds 3] [--epochs 40] [--self-train 10] [--pairs a,b] [--workers 2]
                                  [--write docs/ADAPTATION.md]

For every pair and seed whose options bench/auto_measured.py has trained (its results file), the option
measured auto picked (`auto.decide`, no label) trains again from the start, its DANN epochs followed by
`--self-train` epochs of self-training: one run, so both numbers are paired. "DANN" is the checkpoint the
default validator selects among the DANN epochs alone (what ships today); "+ self-training" is the one it
selects among all epochs (it decides between the DANN and the self-trained checkpoints, as the engine
would). The rule for a default (issue 41): at least +1 point on average, and no pair lower by more than
its seed spread (max - min of its DANN accuracy over the seeds).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from bench.auto_measured import RESULTS, _pair, jobs_of, kept, per_seed, selected_acc

SELF_TRAINED = Path(__file__).parent / "results" / "self_training.json"


def winners(results: list[dict], pairs: list[str], seeds: int, epochs: int, self_train: int, out: str):
    """(pair, seed, config dict, label, folder) of measured auto's pick, with the self-training stage."""
    from explorer.dann.config import TrainConfig
    from explorer.execution.auto import shortlist

    jobs = []
    for p in pairs:
        options = shortlist(TrainConfig(epochs=epochs), _pair(p))
        for s in range(seeds):
            runs = [r for r in results if r["pair"] == p and r["seed"] == s]
            if len([r for r in runs if r["index"] >= 0]) != len(options):
                continue
            picked = per_seed(runs, options)["picked"]
            config = jobs_of(p, s, epochs, out)[picked][3] | {"self_train_epochs": self_train}
            jobs.append((p, s, config, options[picked].label, f"{out}/{p}/s{s}/self-train"))
    return jobs


def run_one(job: tuple) -> dict:
    import torch

    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer

    torch.set_num_threads(1)
    pair, seed, config, label, folder = job
    trainer = Trainer(TrainConfig.from_dict(config), _pair(pair), folder)
    events = list(trainer.events())
    history = [
        {
            "epoch": h["epoch"],
            "stage": h.get("stage"),
            "target_acc": h.get("target_acc"),
            "validators": h.get("validators"),
        }
        for h in trainer.history
    ]
    return {"pair": pair, "seed": seed, "label": label, "history": history, "ended": events[-1]["kind"]}


def paired(result: dict, epochs: int) -> dict:
    """DANN's shipped accuracy, with self-training's, whether a self-trained epoch was picked, the
    labels' best epoch over the whole run."""
    dann = [h for h in result["history"] if h["epoch"] <= epochs]
    picked = max(
        (h for h in result["history"] if (h.get("validators") or {}).get("im") is not None),
        key=lambda h: (h["validators"]["im"], h["epoch"]),
    )
    return {
        "dann": selected_acc(dann)[1],
        "self": selected_acc(result["history"])[1],
        "picked_self": picked["epoch"] > epochs,
        "oracle": max(h["target_acc"] for h in result["history"]),
    }


def report(results: list[dict], epochs: int, self_train: int) -> str:
    lines = [
        f"Target accuracy in %, the option measured auto picked, {epochs} DANN epochs then {self_train} of "
        "self-training in one run (threshold 0.9, EMA 0.99); the default validator (im) picks the "
        "checkpoint.",
        "",
        "| pair | seeds | DANN (ships today) | + self-training (validator picks among all epochs) | Δ | "
        "seed spread (DANN) | self-trained epoch picked | best epoch (labels) |",
        "|---" * 8 + "|",
    ]
    deltas, harmed = [], []
    mean = statistics.mean
    for p in dict.fromkeys(r["pair"] for r in results):
        each = [paired(r, epochs) for r in results if r["pair"] == p]
        dann, self_ = [e["dann"] for e in each], [e["self"] for e in each]
        delta, spread = mean(self_) - mean(dann), max(dann) - min(dann)
        deltas.append(delta)
        if delta < -spread:
            harmed.append(p)
        lines.append(
            f"| {p} | {len(each)} | {100 * mean(dann):.1f} | {100 * mean(self_):.1f} | {100 * delta:+.1f} | "
            f"{100 * spread:.1f} | {sum(e['picked_self'] for e in each)}/{len(each)} | "
            f"{100 * mean(e['oracle'] for e in each):.1f} |"
        )
    adopt = mean(deltas) >= 0.01 and not harmed
    lines += [
        "",
        f"Mean change {100 * mean(deltas):+.1f} points (worst {100 * min(deltas):+.1f}); pairs lower by more "
        f"than their seed spread: {', '.join(harmed) or 'none'}. By the rule (at least +1.0 on average, no "
        f"pair lower beyond its spread) self-training is {'adopted' if adopt else 'not adopted'} as a "
        f"default; {os.cpu_count()} CPU cores.",
    ]
    return "\n".join(lines)


def main() -> None:
    from bench.pairs import PAIRS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--self-train", type=int, default=10)
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="/tmp/bench-self-train", help="the runs' folders")
    ap.add_argument(
        "--write", help="also write the table into this markdown file, between SELF TRAIN markers"
    )
    args = ap.parse_args()
    os.environ.setdefault("EXPLORER_HOME", str(Path(args.out) / "home"))
    try:
        results = json.loads(SELF_TRAINED.read_text())
    except (OSError, ValueError):
        results = []
    done = {(r["pair"], r["seed"]) for r in results}
    measured = kept(RESULTS, args.epochs)
    todo = winners(measured, args.pairs.split(","), args.seeds, args.epochs, args.self_train, args.out)
    with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for r in pool.map(run_one, [j for j in todo if j[:2] not in done]):
            results.append(r)
            print(f"{r['pair']} seed {r['seed']}: {paired(r, args.epochs)}", file=sys.stderr, flush=True)
            SELF_TRAINED.write_text(json.dumps(results))
    table = report(results, args.epochs, args.self_train)
    print(table)
    if args.write:
        path = Path(args.write)
        start, end = "<!-- SELF TRAIN START -->", "<!-- SELF TRAIN END -->"
        text = path.read_text()
        if start not in text:
            text += f"\n### Self-training after the pick\n\n{start}\n{end}\n"
        head, rest = text.split(start)
        path.write_text(head + start + "\n" + table + "\n" + end + rest.split(end)[1])


if __name__ == "__main__":
    main()
