"""`python -m explorer sweep`: every grid point x seed into --out/runs/<run id>/, results.csv
rewritten as runs end, the label-free verdict on stderr and one JSON line on stdout. The first
Ctrl-C stops the runs within one step (a second ends at once); the same command resumes."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from explorer.cli.common import cluster, training_setup
from explorer.errors import ExplorerError
from explorer.execution.events import Cached, Epoch, Failed, Retrying, Waiting
from explorer.execution.grid import Grid, describe
from explorer.execution.sweep import Sweep, SweepEnded, SweepStarted


def cmd_sweep(args) -> int:
    grid = Grid.parse(args.grid, args.seeds, args.seed)  # a bad axis fails here, before the data is read
    if args.workers is not None and args.workers < 1:
        raise ExplorerError(f"--workers must be at least 1 (got {args.workers}).")
    base, out, dataset, where = training_setup(args)
    sweep = Sweep(grid, base, dataset, out / "runs", workers=args.workers, info=where, cluster=cluster(args))
    out.mkdir(parents=True, exist_ok=True)
    results, stop = out / "results.csv", threading.Event()

    # the first Ctrl-C stops the sweep within one step; a second one ends it at once
    def first_interrupt(signum, frame):
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print(
            "\nstopping: the runs in progress keep their last finished epoch; "
            "run the same command again to resume.",
            file=sys.stderr,
        )

    previous = signal.signal(signal.SIGINT, first_interrupt)
    try:
        final, failed = _follow(sweep, stop, results)
    finally:
        signal.signal(signal.SIGINT, previous)
    results.write_text(sweep.results_csv())
    if best := final.best:
        acc = "" if best["target_acc"] is None else f", target acc {best['target_acc']:.3f}"
        print(
            f"best by {best['by']}: {best['point']} ({best['by']} {best['score']:.3f}{acc})", file=sys.stderr
        )
    print(
        json.dumps(
            {
                "runs": final.runs,
                "cached": final.cached,
                "seconds": final.seconds,
                "best": final.best,
                "oracle": final.oracle,
                "failed": failed,
                "stopped": final.stopped,
                "results": str(results),
            }
        )
    )
    return 130 if final.stopped else 0


def _follow(sweep: Sweep, stop: threading.Event, results: Path) -> tuple[SweepEnded, int]:
    """The sweep's events as a tqdm bar of epochs and lines for what goes wrong; results.csv
    rewritten whenever a run ends. Returns the final event and how many runs failed."""
    from tqdm import tqdm

    final, failed, said = None, 0, set()
    with tqdm(total=sweep.total_epochs, unit="epoch", file=sys.stderr) as bar:
        for event in sweep.events(stop):
            if isinstance(event, SweepStarted):
                print(
                    f"sweep: {event.runs} runs ({event.cached} already trained) · {event.plan}",
                    file=sys.stderr,
                )
                if sweep.auto_note:
                    print(sweep.auto_note, file=sys.stderr)
                continue
            if isinstance(event, SweepEnded):
                final = event
                continue
            run = sweep.runs[event.index]
            if isinstance(event, Epoch):
                bar.update(1)
                bar.set_description_str(f"run {run.index + 1}/{len(sweep.runs)}")
            elif isinstance(event, Cached):
                bar.update(run.config.epochs + run.config.self_train_epochs)
            elif isinstance(event, Retrying) or (isinstance(event, Waiting) and event.message not in said):
                said.add(event.message)  # a busy cluster's "waiting" once, not once per run
                tqdm.write(f"run {run.index + 1} ({describe(run.point)}): {event.message}", file=sys.stderr)
            elif event.final and event.kind != "stopped":
                if isinstance(event, Failed):
                    failed += 1
                    tqdm.write(
                        f"run {run.index + 1} ({describe(run.point)}): {event.message}", file=sys.stderr
                    )
                results.write_text(sweep.results_csv())
    return final, failed
