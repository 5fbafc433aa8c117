"""Does DANN with the defaults beat source-only on domain pairs the defaults were not chosen on?

    python -m bench.adaptation [--seeds 3] [--pairs a,b] [--variants source-only,dann,...] [--workers 2]
                               [--out DIR] [--write docs/ADAPTATION.md]

For every pair of `bench/pairs.py` and every seed, trains each variant with the app's defaults
(40 epochs) and reads back its metrics: target accuracy at the last epoch, at the checkpoint each
validator selects, and at the best epoch (the oracle, which needs target labels), plus each
validator's rank correlation with target accuracy over the epochs. Runs go into --out and are
resumed or found finished there, so a stopped benchmark continues where it was. Several runs train
side by side (``--workers``, one torch thread each).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

VARIANTS = {
    "source-only": {"method": "source-only"},
    "dann": {},
    # before canny auto: Canny 100/200, flips
    "dann-old-defaults": {"canny": (100, 200), "augment": "flip-rotate"},
    "dann-flip": {"augment": "flip-rotate"},
    "dann-no-edges": {"canny": None},
}


@lru_cache(maxsize=2)
def _pair(name: str):
    from bench.pairs import load_pair

    return load_pair(name)


def run_one(job: tuple[str, str, int, str]) -> dict:
    """Train one variant of one pair with one seed (or find it finished); its numbers."""
    import torch

    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer

    torch.set_num_threads(1)
    pair, variant, seed, out = job
    config = TrainConfig(seed=seed, device="cpu", **VARIANTS[variant])
    trainer = Trainer(config, _pair(pair), Path(out) / pair / variant / f"seed{seed}")
    events = list(trainer.events())
    if events[-1]["kind"] != "done":
        raise RuntimeError(f"{pair} {variant} seed {seed}: {events[-1]}")
    return {
        "pair": pair,
        "variant": variant,
        "seed": seed,
        "history": trainer.history,
        "preprocess": trainer.preprocess.label,
        "seconds": trainer.elapsed,
    }


def at(history: list[dict], select: str) -> float:
    from explorer.dann.validators import row_at, selected_epoch

    return row_at(history, selected_epoch(history, select))["target_acc"]


def twin_verdict_right(dann: dict, base: dict, name: str) -> bool | None:
    """Comparing the two runs by validator `name` at the checkpoints the default validator selects (as
    Train DANN does), is the winner the one target accuracy names?"""
    from explorer.dann.validators import DEFAULT, row_at, score_at

    (e_d, v_d), (e_s, v_s) = (
        score_at(dann["history"], DEFAULT, name),
        score_at(base["history"], DEFAULT, name),
    )
    if v_d is None or v_s is None:
        return None
    acc = row_at(dann["history"], e_d)["target_acc"] - row_at(base["history"], e_s)["target_acc"]
    return (v_d > v_s) == (acc > 0)


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * sd:.1f}"


def _pairs_table(by: dict, pairs: list[str], variants: list[str]) -> tuple[list[str], list[float], list[str]]:
    """One row per pair: source-only and DANN, last and selected, the other variants' last epochs, and
    DANN's gain at the checkpoint it would ship; with each pair's gain and verdict."""
    from explorer.dann.validators import DEFAULT

    others = [v for v in variants if v not in ("source-only", "dann")]
    lines = [
        "| pair | auto chose | source-only last | source-only selected | DANN last | DANN selected "
        "| DANN oracle | " + "".join(f"{v} (last) | " for v in others) + "DANN selected − source-only |",
        "|---" * (8 + len(others)) + "|",
    ]
    gains, verdicts = [], []
    for p in pairs:
        so_runs = sorted(by.get((p, "source-only"), []), key=lambda r: r["seed"])
        so_last = [r["history"][-1]["target_acc"] for r in so_runs]
        # both methods judged at the checkpoint they would ship
        so = [at(r["history"], DEFAULT) for r in so_runs]
        dann = sorted(by.get((p, "dann"), []), key=lambda r: r["seed"])
        last = [r["history"][-1]["target_acc"] for r in dann]
        sel = [at(r["history"], DEFAULT) for r in dann]
        oracle = [max(h["target_acc"] for h in r["history"]) for r in dann]
        extra = [
            mean_sd([r["history"][-1]["target_acc"] for r in by[(p, v)]]) if by.get((p, v)) else "–"
            for v in others
        ]
        diffs = [s - b for s, b in zip(sel, so)]
        gain = statistics.mean(diffs) if diffs else 0.0
        noise = 2 * statistics.stdev(diffs) / len(diffs) ** 0.5 if len(diffs) > 1 else 0.0
        verdict = "better" if gain > noise else ("worse" if gain < -noise else "no clear difference")
        gains.append(gain)
        verdicts.append(verdict)
        cells = [
            p,
            dann[0]["preprocess"] if dann else "–",
            mean_sd(so_last) if so else "–",
            mean_sd(so) if so else "–",
            mean_sd(last) if last else "–",
            mean_sd(sel) if sel else "–",
            mean_sd(oracle) if oracle else "–",
            *extra,
            f"{100 * gain:+.1f} ({verdict})",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines, gains, verdicts


def _validators_table(results: list[dict], by: dict) -> list[str]:
    """One row per validator: its gap to the oracle, its rank correlation with target accuracy, and how
    often its twin verdict was right."""
    from explorer.dann.validators import DEFAULT, JUDGE, NAMES, rank_correlations

    lines = ["| validator | gap to oracle | rank correlation | twin verdict right |", "|---|---|---|---|"]
    dann_runs = [r for r in results if r["variant"] == "dann"]
    twins = [
        (r, b[0])
        for r in dann_runs
        if (b := [s for s in by.get((r["pair"], "source-only"), []) if s["seed"] == r["seed"]])
    ]
    for name in ("last", *NAMES):
        gap = statistics.mean(
            max(h["target_acc"] for h in r["history"]) - at(r["history"], name) for r in dann_runs
        )
        rhos, right = [], []
        if name != "last":
            rhos = [x for r in dann_runs if (x := rank_correlations(r["history"])[name]) is not None]
            right = [x for d, s in twins if (x := twin_verdict_right(d, s, name)) is not None]
        label = name + (" (default)" if name == DEFAULT else "") + (" (judge)" if name == JUDGE else "")
        rho = f"{statistics.mean(rhos):+.2f}" if rhos else "–"
        share = f"{sum(right)}/{len(right)}" if right else "–"
        lines.append(f"| {label} | {100 * gap:.1f} | {rho} | {share} |")
    return lines


def report(results: list[dict], seeds: int, seconds: float, auto_seconds: dict[str, float]) -> str:
    from explorer.dann.validators import DEFAULT

    by = {}
    for r in results:
        by.setdefault((r["pair"], r["variant"]), []).append(r)
    pairs = list(dict.fromkeys(r["pair"] for r in results))
    variants = list(dict.fromkeys(r["variant"] for r in results))
    table, gains, verdicts = _pairs_table(by, pairs, variants)
    lines = [
        f"Target accuracy in %, mean ± sd over {seeds} seeds; 40 epochs each, width 0.25, CPU. "
        f"DANN columns use the defaults (canny auto, augment rotate, λ = 0.1 constant, two-step); "
        f"'selected' is the checkpoint the default validator ({DEFAULT}) picks without target labels "
        "(for both methods: the one each would ship; the last column compares those), "
        "'oracle' the best epoch by target accuracy (needs labels).",
        "",
        *table,
        "",
        "**Validators** (all DANN runs): the mean gap between the checkpoint each one selects and the "
        "oracle, in points of target accuracy; its mean Spearman correlation with target accuracy over the "
        "epochs; and how often comparing a DANN run with its source-only twin by this validator (both at "
        "the checkpoints the default validator selects, as Train DANN does) named the winner that target "
        "accuracy names.",
        "",
        *_validators_table(results, by),
    ]
    better = sum(v == "better" for v in verdicts)
    worse = sum(v == "worse" for v in verdicts)
    five = sum(g >= 0.05 for g in gains)
    lines += [
        "",
        f"Summary: DANN at the selected checkpoint is better than source-only beyond noise on {better} of "
        f"{len(pairs)} pairs, worse on {worse}, at least 5 points better on {five}; "
        f"mean gain {100 * statistics.mean(gains):+.1f} points. "
        f"{len(results)} runs, {seconds / 60:.0f} minutes of wall time.",
    ]
    epoch = statistics.median(h["seconds"] for r in results for h in r["history"])
    fast, slow = min(auto_seconds.values()), max(auto_seconds.values())
    lines.append(
        f"\nAuto's choice took {fast:.2f}–{slow:.2f} s per pair (300 + 300 images, 11 options), "
        f"{slow / epoch:.1f}x the median training epoch of these runs ({epoch:.2f} s, one torch thread, "
        "two runs side by side)."
    )
    return "\n".join(lines)


def main() -> None:
    from bench.pairs import PAIRS

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="/tmp/bench-adaptation")
    ap.add_argument("--write", help="also write the table into this markdown file, between its BENCH markers")
    args = ap.parse_args()
    variants = args.variants.split(",")
    if unknown := set(variants) - set(VARIANTS):
        ap.error(f"unknown variants {', '.join(sorted(unknown))}; choose from {', '.join(VARIANTS)}")
    jobs = [(p, v, s, args.out) for p in args.pairs.split(",") for s in range(args.seeds) for v in variants]
    os.environ.setdefault("EXPLORER_HOME", str(Path(args.out) / "home"))
    from explorer.data.preprocess import choose

    auto_seconds = {}
    for p in dict.fromkeys(j[0] for j in jobs):  # timed here, on an idle machine, before the workers start
        ds = _pair(p)
        choose(ds.source.images, ds.target.images)  # warm-up: imports, first allocations
        t = time.perf_counter()
        choose(ds.source.images, ds.target.images)
        auto_seconds[p] = time.perf_counter() - t
    t0, results = time.perf_counter(), []
    with ProcessPoolExecutor(args.workers) as pool:
        for i, r in enumerate(pool.map(run_one, jobs), 1):
            results.append(r)
            last = r["history"][-1]["target_acc"]
            print(
                f"[{i}/{len(jobs)}] {r['pair']} {r['variant']} seed {r['seed']}: target {last:.3f} "
                f"({r['preprocess']}, {r['seconds']:.0f} s)",
                file=sys.stderr,
                flush=True,
            )
    (Path(args.out) / "results.json").write_text(
        json.dumps({"results": results, "auto_seconds": auto_seconds})
    )
    table = report(results, args.seeds, time.perf_counter() - t0, auto_seconds)
    print(table)
    if args.write:
        path = Path(args.write)
        text = path.read_text()
        start, end = "<!-- BENCH START -->", "<!-- BENCH END -->"
        head, rest = text.split(start)
        path.write_text(head + start + "\n" + table + "\n" + end + rest.split(end)[1])


if __name__ == "__main__":
    main()
