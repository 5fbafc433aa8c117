"""A sweep's results, read back from its run folders (the folder is the truth, also while the
sweep runs), and its label-free verdict.

Each run is scored at the checkpoint its default validator selects (`validators.DEFAULT`), and
the grid point with the best mean score over seeds is the sweep's ``best``. When the target is
labelled, the verdict also says which point target accuracy would have chosen (``oracle``) and,
seed by seed, whether the validator's favourite was the most accurate run (``agreement``), so a
page can show how often the label-free choice is right.

Nothing is named best until every run of the grid has ended (finished, or failed): a run still
training, or not started, might rank first. Until then `so_far` ranks the runs that have finished,
and says how many of how many those are.
"""

from __future__ import annotations

import csv
import io
from statistics import mean
from typing import Protocol

from explorer.dann.validators import DEFAULT, NAMES, row_at, selected_epoch
from explorer.execution.grid import show
from explorer.store import runs


class Sweep(Protocol):
    """What a verdict reads of a sweep (`sweep.Sweep`)."""

    runs: list  # its planned runs (`sweep.Planned`): index, config, point, run id, folder, key
    where: dict[int, str]  # run index -> where its last event came from
    failed: set[int]  # the runs that ended with an error in this sweep (not finished in their folders)


def results(sweep: Sweep) -> list[dict]:
    """One row per run, read back from its folder: the grid's fields, where the run stands
    (finished, failed, partial or not trained), and its numbers at the checkpoint the default
    validator selects."""
    rows = []
    for r in sweep.runs:
        record = runs.read_run(r.folder) if r.folder.is_dir() else None
        history = record.metrics if record else []
        # `finished`, without reading it again
        done = record is not None and record.finished and (r.folder / "last.pt").is_file()
        epoch = selected_epoch(history, DEFAULT)
        at = row_at(history, epoch)
        row = {k: show(v) for k, v in r.point.items()} | {"seed": r.config.seed, "run_id": r.run_id}
        status = "failed" if r.index in sweep.failed else ("partial" if history else "not trained")
        row |= {
            "status": "finished" if done else status,
            "epochs": history[-1]["epoch"] if history else 0,
            "selected_epoch": epoch,
            "target_acc": at.get("target_acc"),
            "target_acc_last": history[-1].get("target_acc") if history else None,
        }
        row |= {f"val_{n}": (at.get("validators") or {}).get(n) for n in NAMES}
        row |= {
            "seconds": round(history[-1]["elapsed"], 2) if history else None,
            "where": sweep.where.get(r.index, ""),
            "folder": str(r.folder),
        }
        rows.append(row)
    return rows


def by_point(sweep: Sweep, rows: list[dict] | None = None) -> list[dict]:
    """The results per grid point (its seeds together): how many runs it has, how many have
    finished and how many have a scored epoch (``trained``); the mean target accuracy (labelled
    target) and mean default-validator score over those, as far as they have got; and the run to
    open (the seed the validator scores highest)."""
    rows = rows if rows is not None else results(sweep)
    points: dict[str, dict] = {}
    for r, row in zip(sweep.runs, rows):
        p = points.setdefault(
            r.key,
            {
                "point": r.key,
                **{k: v for k, v in r.point.items() if k != "seed"},
                "runs": 0,
                "finished": 0,
                "scored": [],
            },
        )
        p["runs"] += 1
        p["finished"] += row["status"] == "finished"
        if row[f"val_{DEFAULT}"] is not None:
            p["scored"].append((row[f"val_{DEFAULT}"], row["target_acc"], r.index))
    out = []
    for p in points.values():
        scored = p.pop("scored")
        accs = [a for _, a, _ in scored if a is not None]
        p |= {
            "trained": len(scored),
            "score": mean(v for v, _, _ in scored) if scored else None,
            "target_acc": mean(accs) if accs and len(accs) == len(scored) else None,
            "pick": max(scored, key=lambda t: t[0])[2] if scored else None,
        }
        out.append(p)
    return out


def ended(rows: list[dict]) -> bool:
    """Every run of the grid has ended: finished, or failed."""
    return all(row["status"] in ("finished", "failed") for row in rows)


def best(sweep: Sweep, rows: list[dict] | None = None) -> dict:
    """The grid point the default validator prefers (mean over seeds at each run's selected
    checkpoint); with target labels also the point target accuracy prefers (``oracle``) and how
    often, seed by seed, the validator's choice was that point (``agreement``). All three are None
    until every run has ended (`so_far` ranks the finished ones meanwhile)."""
    rows = rows if rows is not None else results(sweep)
    if not ended(rows):
        return {"best": None, "oracle": None, "agreement": None}
    return _ranked(sweep, rows)


def so_far(sweep: Sweep, rows: list[dict] | None = None) -> dict:
    """The ranking among the runs finished so far, while others are still training or waiting:
    ``finished`` of ``runs``, and the points the validator (``leader``) and the labels
    (``oracle``) rank first among them. A point whose seeds have not all finished is ranked on
    those that have."""
    rows = rows if rows is not None else results(sweep)
    blank = {f"val_{DEFAULT}": None, "target_acc": None}
    done = [row if row["status"] == "finished" else row | blank for row in rows]
    ranked = _ranked(sweep, done)
    return {
        "finished": sum(row["status"] == "finished" for row in rows),
        "runs": len(rows),
        "leader": ranked["best"],
        "oracle": ranked["oracle"],
    }


def _ranked(sweep: Sweep, rows: list[dict]) -> dict:
    """The points ranked by the validator and, on a labelled target, by accuracy, over the scored
    rows of `rows`."""
    scored = [p for p in by_point(sweep, rows) if p["score"] is not None]
    if not scored:
        return {"best": None, "oracle": None, "agreement": None}
    labelled = all(p["target_acc"] is not None for p in scored)

    def summary(p):
        return {
            "point": p["point"],
            "by": DEFAULT,
            "score": p["score"],
            "target_acc": p["target_acc"],
            "seeds": p["trained"],
        }

    best = max(scored, key=lambda p: p["score"])
    oracle = max(scored, key=lambda p: p["target_acc"]) if labelled else None
    return {
        "best": summary(best),
        "oracle": summary(oracle) if oracle else None,
        "agreement": agreement(sweep, rows) if labelled else None,
    }


def agreement(sweep: Sweep, rows: list[dict]) -> dict | None:
    """Seed by seed, among that seed's trained runs: did the validator's favourite reach the best
    target accuracy, and how much accuracy did following it give up (its regret)?"""
    by_seed: dict[int, list[dict]] = {}
    for r, row in zip(sweep.runs, rows):
        if row[f"val_{DEFAULT}"] is not None and row["target_acc"] is not None:
            by_seed.setdefault(r.config.seed, []).append(row)
    regrets = []
    for candidates in by_seed.values():
        if len(candidates) > 1:
            chosen = max(candidates, key=lambda row: row[f"val_{DEFAULT}"])
            regrets.append(max(row["target_acc"] for row in candidates) - chosen["target_acc"])
    if not regrets:
        return None
    return {"seeds": len(regrets), "matched": sum(r == 0 for r in regrets), "regret": mean(regrets)}


def results_csv(sweep: Sweep) -> str:
    rows = results(sweep)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
