"""`train` when auto measures: every shortlisted option trains side by side into --out/options/,
one line per option and the choice on stderr, the winner's files in --out (checkpoint.pt and
submission.csv from the checkpoint it ships), and the usual JSON line, its ``selected`` naming the
option."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from explorer.cli.common import outputs
from explorer.dann.results import percent
from explorer.dann.validators import named
from explorer.errors import ExplorerError
from explorer.execution.events import Done, Epoch, Failed, MeasureEnded, MeasureStarted
from explorer.execution.measure import Measurement
from explorer.execution.start import Launch


def cmd_measured(args, launch: Launch, out: Path, dataset) -> int:
    """`launch`: a measurement (`start.prepare`) of its options into --out/options/."""
    if (out / "last.pt").is_file():
        raise ExplorerError(
            f"{out} holds a run already; measuring auto writes a new one: give an empty folder."
        )
    print(launch.plan.note, file=sys.stderr)
    measurement = launch.measurement
    final, done = _follow(measurement, launch.total_epochs)
    if final.decision is None:
        raise ExplorerError(final.message)
    decision = final.decision
    for i, t in enumerate(decision["tried"], 1):
        acc = (
            ""
            if t["target_acc"] is None
            else f", target accuracy {percent(t['target_acc'])} (labels, not used)"
        )
        score = (
            "dropped: " + decision["dropped"][t["option"]]
            if t["failed"]
            else f"{named(decision['by'])} {t['score']:.2f} at epoch {t['selected_epoch']}{acc}"
        )
        print(f"option {i}/{len(decision['tried'])} {t['option']}: {score}", file=sys.stderr)
    print(f"auto chose: {decision['why']}", file=sys.stderr)
    _copy_run(final.folder, out)
    device = "auto" if measurement.backend.lane == "ray" else measurement.config.device
    epoch = outputs(args, out, dataset, device)
    summary = done[decision["chosen"]["index"]]
    selected = summary["selected"] | {"option": decision["chosen"]["label"], "checkpoint": "checkpoint.pt"}
    auto = {"chosen": decision["chosen"]["label"], "options": len(decision["tried"]), "by": decision["by"]}
    print(
        json.dumps(summary | {"selected": selected, "auto": auto, "out": str(out), "checkpoint_epoch": epoch})
    )
    return 0


def _follow(measurement: Measurement, total: int) -> tuple[MeasureEnded, dict[int, dict]]:
    """A tqdm bar over every option's epochs; each option's end on its own line. Returns the final
    event and each finished option's summary."""
    from tqdm import tqdm

    final, done, labels = None, {}, []
    with tqdm(total=total, unit="epoch", file=sys.stderr) as bar:
        for event in measurement.events():
            if isinstance(event, MeasureStarted):
                labels = event.options
                tqdm.write(
                    f"measuring {len(labels)} options side by side: {'; '.join(labels)}", file=sys.stderr
                )
            elif isinstance(event, Epoch):
                bar.update(1)
            elif isinstance(event, Done):
                done[event.index] = event.summary
            elif isinstance(event, Failed):
                tqdm.write(f"option {labels[event.index]} dropped: {event.message}", file=sys.stderr)
            elif isinstance(event, MeasureEnded):
                final = event
    return final, done


def _copy_run(folder: Path, out: Path) -> None:
    """The winner's files into --out (hard links where the file system allows, else copies)."""
    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(folder.iterdir()):
        if f.is_file() and not f.name.startswith("."):
            target = out / f.name
            target.unlink(missing_ok=True)
            try:
                os.link(f, target)
            except OSError:
                shutil.copyfile(f, target)
