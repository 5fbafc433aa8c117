"""Auto that measures, against today's auto and every fixed option, on pairs the defaults were never
chosen on (explorer/execution/auto.py, docs/ADAPTATION.md).

    python -m bench.auto_measured [--seeds 3] [--epochs 40] [--pairs a,b] [--workers 2] [--out DIR]
                                  [--write docs/ADAPTATION.md]

For every pair of `bench/pairs.py` and every seed: the shortlist the engine would measure (the
statistics' top two preprocessing options and "no edges", each with rotate and with no
augmentation), each option trained as its own DANN run with the defaults, and a source-only run with
the statistics' choice. Measured auto's pick is `auto.decide` over the options' histories (no label);
its target accuracy is read at the checkpoint it would ship. Also: today's auto (the statistics'
choice + rotate, the first option), the best fixed option for the pair (by mean accuracy at each
option's selected checkpoint: the one you would pick knowing the labels), and the validator's rank
correlation (Spearman, across a pair's options) with the final selected accuracy when it has seen
only the first 25, 50 or 75% of the epochs. Runs are resumed or found finished in --out.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from pathlib import Path

# kept in the repository: a later session goes on from it
RESULTS = Path(__file__).parent / "results" / "auto_measured.json"


@lru_cache(maxsize=2)
def _pair(name: str):
    from bench.pairs import load_pair

    return load_pair(name)


ONE_OPTION = -2  # the index of the run a budget too short to measure trains instead (auto.plan)


def jobs_of(pair: str, seed: int, epochs: int, out: str, budget: float | None = None) -> list[tuple]:
    """(pair, seed, option index or -1 for source-only, config dict, label, folder, budget) for one pair and
    seed. With a time budget: the options sharing it as measuring shares it (budget x cores side by side /
    K options), and the one option auto.plan trains for the whole budget when that is too short to
    measure (`ONE_OPTION`; no source-only run)."""
    from explorer.dann.config import TrainConfig
    from explorer.execution.auto import plan, share_budget, shortlist

    base = TrainConfig(seed=seed, epochs=epochs, device="cpu", time_budget=budget)
    options = shortlist(base, _pair(pair))
    where = f"{out}/{pair}/s{seed}" + (f"/b{budget:g}" if budget else "")
    jobs = [
        (
            pair,
            seed,
            i,
            share_budget(o.config(base), len(options)).to_dict(),
            o.label,
            f"{where}/o{i}",
            budget,
        )
        for i, o in enumerate(options)
    ]
    if budget:
        planned = plan(base, _pair(pair), remeasure=True)
        if not planned.options:
            config = planned.configs[0]
            jobs.append((pair, seed, ONE_OPTION, config.to_dict(), planned.note, f"{where}/one", budget))
        return jobs
    src = options[0].config(base.__class__(**(base.to_dict() | {"method": "source-only"})))
    label = "source-only " + options[0].label
    return jobs + [(pair, seed, -1, src.to_dict(), label, f"{where}/source-only", None)]


def run_one(job: tuple) -> dict:
    import torch

    from explorer.dann.config import TrainConfig
    from explorer.dann.trainer import Trainer

    pair, seed, index, config, label, folder, budget = job
    # the options train one process per core, as measuring does; the one option alone, on every core
    torch.set_num_threads(os.cpu_count() if index == ONE_OPTION else 1)
    trainer = Trainer(TrainConfig.from_dict(config), _pair(pair), folder)
    events = list(trainer.events())
    if events[-1]["kind"] not in ("done", "error"):
        raise RuntimeError(f"{pair} {label} seed {seed}: {events[-1]}")
    return {
        "pair": pair,
        "seed": seed,
        "index": index,
        "label": label,
        "history": trainer.history,
        "epochs": trainer.config.epochs,
        "budget": budget,
        "failed": events[-1]["kind"] == "error",
        "seconds": trainer.elapsed,
    }


def selected_acc(history: list[dict], upto: int | None = None) -> tuple[float | None, float | None]:
    """(validator score, target accuracy) at the checkpoint the default validator selects among the
    first `upto` epochs."""
    from explorer.dann.validators import DEFAULT, row_at, selected_epoch

    seen = history[:upto] if upto else history
    epoch = selected_epoch(seen, DEFAULT)
    row = row_at(seen, epoch) if epoch else {}
    return (row.get("validators") or {}).get(DEFAULT), row.get("target_acc")


def spearman(a: list[float], b: list[float]) -> float | None:
    from scipy.stats import spearmanr

    if len(a) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    return float(spearmanr(a, b).statistic)


def per_seed(runs: list[dict], shortlist: list) -> dict:
    """One pair and seed: each option's selected accuracy, measured auto's pick, the rank correlations."""
    from explorer.execution.auto import decide

    options = sorted((r for r in runs if r["index"] >= 0), key=lambda r: r["index"])
    histories = [None if r["failed"] else r["history"] for r in options]
    picked = decide(shortlist, histories, "-", "dann")["chosen"]["index"]
    accs = [selected_acc(r["history"])[1] for r in options]
    epochs = len(options[0]["history"])
    rho = {}
    for share in (25, 50, 75):
        early = [selected_acc(r["history"], max(1, epochs * share // 100))[0] for r in options]
        rho[share] = spearman(early, accs) if None not in early else None
    source = next((r for r in runs if r["index"] == -1), None)
    return {
        "labels": [r["label"] for r in options],
        "accs": accs,
        "picked": picked,
        "rho": rho,
        "source_only": selected_acc(source["history"])[1] if source else None,
    }


def report(results: list[dict], epochs: int, seconds: float) -> str:
    from explorer.dann.config import TrainConfig
    from explorer.execution.auto import shortlist

    pairs = list(dict.fromkeys(r["pair"] for r in results))
    lines = [
        f"Target accuracy in %, mean over seeds, each at the checkpoint the default validator selects; DANN, "
        f"{epochs} epochs, the other settings the defaults (λ = 0.1, two-step, width 0.25), CPU.",
        "",
        "| pair | seeds | today's auto (statistics + rotate) | measured auto | measured auto picked | "
        "best fixed option (labels) | its accuracy | measured − best fixed | source-only | "
        "measured − source-only |",
        "|---" * 10 + "|",
    ]
    gaps, rhos, wins = [], {25: [], 50: [], 75: []}, []
    for p in pairs:
        options = shortlist(TrainConfig(epochs=epochs), _pair(p))
        seeds = sorted({r["seed"] for r in results if r["pair"] == p})
        done = [
            s
            for s in seeds
            if len([r for r in results if r["pair"] == p and r["seed"] == s]) == len(options) + 1
        ]
        if not done:
            continue
        each = [per_seed([r for r in results if r["pair"] == p and r["seed"] == s], options) for s in done]
        mean = statistics.mean
        fixed = [mean(e["accs"][i] for e in each) for i in range(len(options))]
        best = max(range(len(options)), key=lambda i: fixed[i])
        measured = mean(e["accs"][e["picked"]] for e in each)
        source = mean(e["source_only"] for e in each)
        picks = ", ".join(sorted({options[e["picked"]].label for e in each}))
        gaps.append(measured - fixed[best])
        wins.append(measured - source)
        for share in rhos:
            rhos[share] += [e["rho"][share] for e in each if e["rho"][share] is not None]
        lines.append(
            f"| {p} | {len(done)} | {100 * fixed[0]:.1f} | **{100 * measured:.1f}** | {picks} | "
            f"{options[best].label} | {100 * fixed[best]:.1f} | {100 * (measured - fixed[best]):+.1f} | "
            f"{100 * source:.1f} | {100 * (measured - source):+.1f} |"
        )
    if gaps:
        lines += [
            "",
            "Measured auto against the best fixed option per pair: "
            f"mean {100 * statistics.mean(gaps):+.1f} points, worst {100 * min(gaps):+.1f}; "
            "against source-only (the statistics' choice): "
            f"mean {100 * statistics.mean(wins):+.1f}, worst {100 * min(wins):+.1f}.",
            "",
            "The validator's rank correlation (Spearman, across a pair's options, per seed) with each "
            "option's final selected accuracy, when it has seen only part of the epochs: "
            + "; ".join(
                f"{share}%: {statistics.mean(v):+.2f} (n = {len(v)})" for share, v in rhos.items() if v
            )
            + ". Auto cuts no option early.",
            "",
            f"{len(results)} runs, {seconds / 60:.0f} minutes of wall time on {os.cpu_count()} CPU cores.",
        ]
    return "\n".join(lines)


def picks(results: list[dict], pair: str, options: list) -> dict[int, tuple[float, int]]:
    """Per seed with every option finished: (measured auto's selected accuracy, the fewest epochs an
    option reached)."""
    out = {}
    for s in sorted({r["seed"] for r in results if r["pair"] == pair}):
        runs = [r for r in results if r["pair"] == pair and r["seed"] == s and r["index"] >= 0]
        if len(runs) == len(options):
            e = per_seed(runs, options)
            out[s] = (e["accs"][e["picked"]], min(r["history"][-1]["epoch"] for r in runs))
    return out


def one_option(results: list[dict], pair: str) -> dict[int, tuple[float, int]]:
    """Per seed: (selected accuracy, epochs reached) of the one option auto.plan trained for the whole
    budget; none where the budget was long enough to measure."""
    runs = [r for r in results if r["pair"] == pair and r["index"] == ONE_OPTION]
    return {r["seed"]: (selected_acc(r["history"])[1], r["history"][-1]["epoch"]) for r in runs}


def budget_report(by_budget: dict[float, list[dict]], full: list[dict], epochs: int) -> str:
    """Under each time budget, against the same pairs and seeds at `epochs` epochs: measuring the options
    side by side on their shares of it, and what auto does now (one option for the whole budget when
    it is too short to measure, else the same measuring)."""
    from explorer.dann.config import TrainConfig
    from explorer.execution.auto import shortlist

    budgets = sorted(by_budget)
    heads = [f"{b:g} s: options side by side (epochs) | Δ | {b:g} s: auto now (epochs) | Δ" for b in budgets]
    lines = [
        f"| pair | seeds | {epochs} epochs (no budget) | " + " | ".join(heads) + " |",
        "|---" * (3 + 4 * len(budgets)) + "|",
    ]
    deltas = {(b, k): [] for b in budgets for k in ("split", "now")}
    for p in dict.fromkeys(r["pair"] for rs in by_budget.values() for r in rs):
        options = shortlist(TrainConfig(epochs=epochs), _pair(p))
        base, cells = picks(full, p, options), []
        seeds = sorted(set(base).intersection(*(picks(by_budget[b], p, options) for b in budgets)))
        if not seeds:
            continue
        mean = statistics.mean
        for b in budgets:
            split = picks(by_budget[b], p, options)
            now = {s: one_option(by_budget[b], p).get(s, split[s]) for s in seeds}
            for kind, got in (("split", split), ("now", now)):
                delta = mean(got[s][0] - base[s][0] for s in seeds)
                deltas[b, kind].append(delta)
                reached = min(got[s][1] for s in seeds)
                cells.append(f"{100 * mean(got[s][0] for s in seeds):.1f} ({reached}) | {100 * delta:+.1f}")
        lines.append(
            f"| {p} | {len(seeds)} | {100 * mean(base[s][0] for s in seeds):.1f} | "
            + " | ".join(cells)
            + " |"
        )
    words = {"split": "options side by side", "now": "auto now"}
    lines += [
        "",
        "Mean change against the default epochs: "
        + "; ".join(
            f"{b:g} s, {words[k]}: {100 * statistics.mean(d):+.1f} points (worst {100 * min(d):+.1f})"
            for (b, k), d in deltas.items()
            if d
        )
        + ". Side by side, each option trains on its share of the budget (budget x cores / K options) and "
        "epochs reached is the fewest any option reached; auto now trains one option (the statistics' "
        f"choice) on every core for the whole budget when the options would not each reach "
        f"3/4 of their epochs; {os.cpu_count()} CPU cores.",
    ]
    return "\n".join(lines)


def compact(result: dict) -> dict:
    """A run's result with only what the report reads (its history: epoch, target accuracy, validator)."""
    from explorer.dann.validators import DEFAULT

    history = [
        {
            "epoch": h["epoch"],
            "target_acc": h.get("target_acc"),
            "validators": {DEFAULT: (h.get("validators") or {}).get(DEFAULT)},
        }
        for h in result["history"]
    ]
    return result | {"history": history, "seconds": round(result["seconds"], 1)}


def kept(path: Path, epochs: int, budget: float | None = None) -> list[dict]:
    """The results kept so far for runs of `epochs` epochs (and a time budget, or none)."""
    try:
        return [
            r for r in json.loads(path.read_text()) if r.get("epochs") == epochs and r.get("budget") == budget
        ]
    except (OSError, ValueError):
        return []


def keep(path: Path, results: list[dict]) -> None:
    """All results so far, and those of other epochs or budgets already in the file, written atomically."""
    kinds = {(r["epochs"], r.get("budget")) for r in results}
    try:
        others = [r for r in json.loads(path.read_text()) if (r.get("epochs"), r.get("budget")) not in kinds]
    except (OSError, ValueError):
        others = []
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(others + [compact(r) for r in results], separators=(",", ":")))
    os.replace(tmp, path)


def main() -> None:
    from bench.pairs import PAIRS

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="/tmp/bench-auto", help="the runs' folders")
    ap.add_argument(
        "--results",
        default=str(RESULTS),
        help="each finished run's numbers; runs already there are not trained again",
    )
    ap.add_argument(
        "--write", help="also write the table into this markdown file, between its AUTO BENCH markers"
    )
    ap.add_argument(
        "--budgets",
        help="time budgets in seconds, e.g. 90,240: measured auto under each, against the default epochs",
    )
    args = ap.parse_args()
    os.environ.setdefault("EXPLORER_HOME", str(Path(args.out) / "home"))
    t0 = time.perf_counter()
    if args.budgets:
        budgets = [float(b) for b in args.budgets.split(",")]
        by_budget = {b: trained(args, b) for b in budgets}
        table, marker = (
            budget_report(by_budget, kept(Path(args.results), args.epochs), args.epochs),
            "AUTO BUDGET",
        )
    else:
        table, marker = report(trained(args, None), args.epochs, time.perf_counter() - t0), "AUTO BENCH"
    print(table)
    if args.write:
        path = Path(args.write)
        start, end = f"<!-- {marker} START -->", f"<!-- {marker} END -->"
        head, rest = path.read_text().split(start)
        path.write_text(head + start + "\n" + table + "\n" + end + rest.split(end)[1])


def trained(args, budget: float | None) -> list[dict]:
    """Every run's result for these pairs and seeds (and budget), training those not kept yet."""
    results = kept(Path(args.results), args.epochs, budget)
    done = {(r["pair"], r["seed"], r["index"]) for r in results}
    jobs = [
        j
        for s in range(args.seeds)
        for p in args.pairs.split(",")
        for j in jobs_of(p, s, args.epochs, args.out, budget)
        if j[:3] not in done
    ]
    alone = [j for j in jobs if j[2] == ONE_OPTION]
    together = [j for j in jobs if j[2] != ONE_OPTION]
    for todo, workers in ((together, args.workers), (alone, 1)):
        # spawned, not forked: this process has run torch (auto's estimate), and a forked child that
        # trains on several threads can hang in OpenMP
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            for r in pool.map(run_one, todo):
                results.append(r)
                acc = selected_acc(r["history"])[1]
                print(
                    f"[{len(results)}] {r['pair']} seed {r['seed']} {r['label']}: "
                    f"selected {acc} ({r['seconds']:.0f} s)",
                    file=sys.stderr,
                    flush=True,
                )
                keep(Path(args.results), results)
    return results


if __name__ == "__main__":
    main()
