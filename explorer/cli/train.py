"""`python -m explorer train`: one run into --out, a progress bar on stderr, then checkpoint.pt and
submission.csv (the epoch --select picks) and one JSON line on stdout."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator

from explorer.cli.common import cluster, outputs, training_setup
from explorer.cli.measured import cmd_measured
from explorer.errors import ExplorerError
from explorer.execution.events import Epoch, Failed, Retrying, RunEvent, Started, Waiting
from explorer.execution.keep import Keep
from explorer.execution.start import prepare


def cmd_train(args) -> int:
    config, out, dataset, where = training_setup(args)
    config.check(dataset)  # refused here in one sentence, before any option is planned
    launch = prepare(
        config,
        dataset,
        Keep(info=where),
        out / "options",
        out=out,
        cluster=cluster(args),
        remeasure=args.auto == "remeasure",
    )
    if launch.measurement is not None:
        return cmd_measured(args, launch, out, dataset)
    plan, on_cluster = launch.plan, launch.backend.lane == "ray"
    events = launch.events(threading.Event())
    # a folder holding another run is refused here, before any progress is drawn
    started = _started(events)
    _announce(started, plan.note, on_cluster)
    final = _follow(events, started.start)
    if isinstance(final, Failed):
        raise ExplorerError(final.message)
    epoch = outputs(args, out, dataset, "auto" if on_cluster else config.device)
    on = {"where": final.where} if on_cluster else {}  # the cluster node it ended on
    chosen = {}
    if plan.decision:
        chosen = {"selected": final.summary["selected"] | {"option": plan.decision["chosen"]["label"]}}
    print(json.dumps(final.summary | on | chosen | {"out": str(out), "checkpoint_epoch": epoch}))
    return 0


def _started(events: Iterator[RunEvent]) -> Started:
    """The run's start; a cluster's waiting and retry messages on stderr meanwhile."""
    for event in events:
        if isinstance(event, Waiting | Retrying):
            print(event.message, file=sys.stderr)
        elif isinstance(event, Started):
            return event
        else:
            raise ExplorerError(getattr(event, "message", "The run ended before it started."))
    raise ExplorerError("The run ended before it started.")


def _announce(started: Started, note: str, on_cluster: bool) -> None:
    from explorer.data.preprocess import Preprocess

    start = started.start
    resumed = f", resuming at epoch {start['resumed_from']}" if start["resumed_from"] else ""
    on = f" ({started.where})" if on_cluster else ""
    print(f"run {start['run_id']} on {start['device']}{on}{resumed}", file=sys.stderr)
    preprocess = Preprocess.from_dict(start["preprocess"])
    print(note or f"preprocessing: {preprocess.label}", file=sys.stderr)


def _follow(events: Iterator[RunEvent], start: dict) -> RunEvent:
    """The epochs as a tqdm bar; returns the run's final event."""
    from tqdm import tqdm

    final, total = None, start["epochs"] + start["self_train_epochs"]
    with tqdm(total=total, initial=start["resumed_from"], unit="epoch", file=sys.stderr) as bar:
        for event in events:
            if isinstance(event, Retrying | Waiting):
                tqdm.write(event.message, file=sys.stderr)
            elif isinstance(event, Epoch):
                e = event.epoch
                tgt = "-" if e["target_acc"] is None else f"{e['target_acc']:.3f}"
                bar.set_description_str(f"epoch {e['epoch']}/{total} {e['stage']}")
                bar.set_postfix_str(
                    f"lambda {e['lambda']:.2f} loss {e['class_loss']:.3f} src {e['source_acc']:.3f} "
                    f"tgt {tgt} {e['img_per_s']:,.0f} img/s"
                )
                bar.update(1)
            elif event.final:
                final = event
    return final
