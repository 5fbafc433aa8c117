"""Which lambda, without target labels? A lambda sweep on every benchmark pair, judged by the validator.

    python -m bench.sweep_lambda [--seeds 2] [--lambdas 0,0.03,0.1,0.3,1] [--pairs a,b] [--out DIR]
                                 [--write docs/SWEEPS.md]

For each pair of `bench/pairs.py`, one `explorer.execution.sweep.Sweep` over lambda (everything else the
app's defaults, 40 epochs), as the Train DANN page's sweep runs it. Each run is judged at the
checkpoint the default validator selects. Per pair: target accuracy for every lambda (mean over
seeds), the lambda the validator prefers without labels, the lambda target accuracy prefers (the
oracle), and what following the validator gains over the default lambda and loses to the oracle.
Lambda = 0 is source-only training (the features never hear from the discriminator). Runs go into
--out and are found there when the benchmark is run again.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def sweep_pair(name: str, lambdas: str, seeds: int, out: Path) -> dict:
    from bench.pairs import load_pair
    from explorer.dann.config import TrainConfig
    from explorer.execution.events import Done, Failed
    from explorer.execution.grid import Grid
    from explorer.execution.sweep import Sweep

    sweep = Sweep(Grid.parse([f"lamb={lambdas}"], seeds), TrainConfig(), load_pair(name), out / name)
    t0, trained = time.perf_counter(), 0
    for event in sweep.events():
        trained += isinstance(event, Done)
        if isinstance(event, Done | Failed):
            r = sweep.runs[event.index]
            said = event.summary.get("selected") if isinstance(event, Done) else event.message
            print(f"{name} {r.key} seed {r.config.seed}: {said}", file=sys.stderr, flush=True)
    rows = sweep.results()
    per_lambda = {}
    for r, row in zip(sweep.runs, rows):
        per_lambda.setdefault(r.config.lamb, []).append(row)
    return {
        "pair": name,
        "seconds": time.perf_counter() - t0,
        "trained": trained,
        "per_lambda": per_lambda,
        **sweep.best(),
    }


def report(results: list[dict], lambdas: list[float], default: float, seeds: int) -> str:
    from explorer.dann.validators import DEFAULT

    head = " | ".join(f"λ={v:g}" for v in lambdas)
    lines = [
        f"| pair | {head} | {DEFAULT} picks | oracle | picked − default λ={default:g} | oracle − picked | "
        "picked = best, by seed |",
        "| --- " * (len(lambdas) + 6) + "|",
    ]
    gains, regrets, matched, seeds_seen = [], [], 0, 0
    for res in results:
        if not res["best"] or not res["oracle"]:
            lines.append(f"| {res['pair']} | no run finished with a score |" + " |" * (len(lambdas) + 4))
            continue
        acc = {
            lam: statistics.mean(row["target_acc"] for row in rows if row["target_acc"] is not None)
            for lam, rows in res["per_lambda"].items()
        }
        picked = float(res["best"]["point"].split("=")[1])
        oracle = float(res["oracle"]["point"].split("=")[1])
        gain, regret = acc[picked] - acc[default], acc[oracle] - acc[picked]
        gains.append(gain)
        regrets.append(regret)
        agree = res["agreement"] or {"matched": 0, "seeds": 0}
        matched, seeds_seen = matched + agree["matched"], seeds_seen + agree["seeds"]
        cells = " | ".join(
            f"**{acc[v] * 100:.1f}**" if v == picked else f"{acc[v] * 100:.1f}" for v in lambdas
        )
        lines.append(
            f"| {res['pair']} | {cells} | {picked:g} | {oracle:g} | {gain * 100:+.1f} | {regret * 100:.1f} | "
            f"{agree['matched']} of {agree['seeds']} |"
        )
    lines.append("")
    lines.append(
        f"Target accuracy (%) at the checkpoint {DEFAULT} selects, mean of {seeds} seed(s); "
        f"bold: the λ {DEFAULT} prefers without labels (mean score over the seeds). "
        f"Over {len(results)} pairs, following {DEFAULT} changes target accuracy by "
        f"**{statistics.mean(gains) * 100:+.1f}** points on average against the default λ = {default:g} "
        f"(best {max(gains) * 100:+.1f}, worst {min(gains) * 100:+.1f}), "
        f"and gives up **{statistics.mean(regrets) * 100:.1f}** points to the λ target labels would pick; "
        f"seed by seed, its favourite was the most accurate run {matched} times in {seeds_seen}."
    )
    return "\n".join(lines)


def main() -> None:
    from bench.pairs import PAIRS

    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--lambdas", default="0,0.03,0.1,0.3,1")
    ap.add_argument("--pairs", default=",".join(PAIRS))
    ap.add_argument("--out", default="/tmp/bench-sweep-lambda")
    ap.add_argument("--write", help="also write the table into this markdown file, between its BENCH markers")
    args = ap.parse_args()
    os.environ.setdefault("EXPLORER_HOME", str(Path(args.out) / "home"))
    from explorer.dann.config import TrainConfig

    lambdas = [float(v) for v in args.lambdas.split(",")]
    if TrainConfig().lamb not in lambdas:
        ap.error(
            f"--lambdas must include the default λ = {TrainConfig().lamb:g}, "
            "the baseline the table compares with"
        )
    t0 = time.perf_counter()
    results = [sweep_pair(p, args.lambdas, args.seeds, Path(args.out)) for p in args.pairs.split(",")]
    table = report(results, lambdas, TrainConfig().lamb, args.seeds)
    trained = sum(r["trained"] for r in results)
    table += (
        f"\n\n{len(results) * len(lambdas) * args.seeds} runs; this call trained {trained} of them "
        f"(the rest were found finished in {args.out}) in {(time.perf_counter() - t0) / 60:.0f} minutes."
    )
    print(table)
    if args.write:
        path = Path(args.write)
        start, end = "<!-- BENCH START -->", "<!-- BENCH END -->"
        head, rest = path.read_text().split(start)
        path.write_text(head + start + "\n" + table + "\n" + end + rest.split(end)[1])


if __name__ == "__main__":
    main()
