"""Auto that measures: the first default run on a pair of domains trains a shortlist of options side
by side and ships the checkpoint the default validator prefers; later runs on the same data reuse
the choice.

Why measure: ranking preprocessing by how much the transformed source *looks like* the target (the
statistics of `explorer.data.preprocess.choose`) guesses, and a fixed augmentation helps one pair
and ruins another. Training each option and judging it without a label (information maximisation
at each option's selected epoch) picks the labels' best option far more often, but only late:
early in training every signal ranks options wrong, so every option trains to the end (no early
cut; bench/adaptation.py reports the validator's rank correlation at 25/50/75% of training).

The shortlist (`shortlist`): the statistics' top two preprocessing options, always "no edges", each
with augmentation rotate and none: at most six options. What the user set by hand is not varied.
A target of fewer than `MIN_TARGET` images is too small to judge on: the statistics decide, and
the run says so. The decision is kept per data fingerprint and method (`explorer.store.decisions`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from explorer.dann.config import UNMEASURED_AUGMENT, TrainConfig
from explorer.dann.validators import DEFAULT, row_at, selected_epoch
from explorer.data.domains import Dataset
from explorer.data.preprocess import Preprocess, ranked
from explorer.store import decisions

MIN_TARGET = 50  # target images below which auto does not measure
AUGMENTS = ("rotate", "none")


@dataclass(frozen=True)
class Option:
    preprocess: Preprocess
    augment: str

    @property
    def label(self) -> str:
        return (
            f"{self.preprocess.label} + {self.augment}"
            if self.augment != "none"
            else f"{self.preprocess.label}, no augmentation"
        )

    def config(self, base: TrainConfig) -> TrainConfig:
        """`base` with this option's preprocessing and augmentation set by hand."""
        return replace(base, canny=self.preprocess.spec, augment=self.augment)


@dataclass(frozen=True)
class Plan:
    configs: list  # what trains: one config, or one per option while measuring
    options: list  # the options measured (empty when one config trains)
    decision: dict | None  # the decision reused, or None
    note: str  # one sentence for the user: what auto does here and why


def shortlist(config: TrainConfig, dataset: Dataset) -> list[Option]:
    """The options to measure, the statistics' favourite first (simplest first among the rest)."""
    if config.canny == "auto":
        top = ranked(dataset.source.images, dataset.target.images)[:2]
        preps = [*top, Preprocess("none")]
    else:
        preps = [Preprocess.from_spec(config.canny)]
    unique = []
    for p in preps:
        if p.spec not in [u.spec for u in unique]:
            unique.append(p)
    augments = AUGMENTS if config.augment == "auto" else (config.augment,)
    return [Option(p, a) for p in unique for a in augments]


def plan(config: TrainConfig, dataset: Dataset, remeasure: bool = False) -> Plan:
    """What a run of `config` trains: itself (nothing left to auto), the choice measured before on this
    data, the statistics' choice (a tiny target), or every shortlisted option (measuring)."""
    if not config.measured:
        return Plan([config], [], None, "")
    if len(dataset.target) < MIN_TARGET:
        first = shortlist(config, dataset)[0]
        option = Option(first.preprocess, first.augment if config.augment != "auto" else UNMEASURED_AUGMENT)
        return Plan(
            [option.config(config)],
            [],
            None,
            f"auto: {option.label}, chosen from image statistics: the target has only "
            f"{len(dataset.target)} images, too few (under {MIN_TARGET}) to judge trained options on.",
        )
    decided = None if remeasure else decisions.load(dataset.fingerprint, config.method)
    if decided:
        return Plan([with_decision(config, decided)], [], decided, reuse_note(decided))
    options = shortlist(config, dataset)
    configs = [_share_budget(o.config(config), len(options)) for o in options]
    note = (
        f"auto: measuring {len(options)} options on this data (each trains {config.epochs} epochs; the "
        f"{DEFAULT} validator picks one without target labels, and later runs reuse the choice)."
    )
    return Plan(configs, options, None, note)


def reuse(config: TrainConfig, dataset: Dataset) -> TrainConfig:
    """`config` with what auto measured before on this data, when it has (a sweep's runs reuse it,
    never measure); else as it is (a lone trainer then uses the statistics' choice and rotate)."""
    decided = decisions.load(dataset.fingerprint, config.method) if config.measured else None
    return with_decision(config, decided) if decided else config


def with_decision(config: TrainConfig, decided: dict) -> TrainConfig:
    """`config` with the decision's option in what was left to auto."""
    canny = _spec(decided["chosen"]["canny"]) if config.canny == "auto" else config.canny
    augment = decided["chosen"]["augment"] if config.augment == "auto" else config.augment
    return replace(config, canny=canny, augment=augment)


def reuse_note(decision: dict) -> str:
    """The sentence a run that reuses `decision` says beside its progress."""
    date, tried = decision["date"][:10], len(decision["tried"])
    return f"auto: {decision['chosen']['label']}, measured on this data on {date}, {tried} options."


def _spec(value):
    return tuple(value) if isinstance(value, list) else value


def _share_budget(config: TrainConfig, options: int) -> TrainConfig:
    """With a time budget, the options share it: side by side on the cores, each gets its share."""
    if not config.time_budget:
        return config
    side_by_side = max(1, min(options, os.cpu_count() or 1))
    return replace(config, time_budget=config.time_budget * side_by_side / options)


def decide(options: list[Option], histories: list[list[dict] | None], fingerprint: str, method: str) -> dict:
    """The option whose checkpoint the default validator prefers (each option at its own selected
    epoch; ties go to the earlier option), with every option's evidence. A history of None is an
    option that failed (a NaN loss): it is listed and never chosen."""
    tried, best = [], None
    for i, (option, history) in enumerate(zip(options, histories)):
        epoch = selected_epoch(history or [], DEFAULT)
        at = row_at(history or [], epoch) if epoch else {}
        score = (at.get("validators") or {}).get(DEFAULT)
        tried.append(
            {
                "option": option.label,
                "canny": option.preprocess.spec,
                "augment": option.augment,
                "epochs": history[-1]["epoch"] if history else 0,
                "selected_epoch": epoch,
                "score": score,
                "target_acc": at.get("target_acc"),
                "failed": history is None,
            }
        )
        if score is not None and (best is None or score > tried[best]["score"]):
            best = i
    if best is None:
        raise ValueError("no option trained far enough to be judged")
    won = tried[best]
    why = (
        f"{won['option']} scored highest by {DEFAULT} ({won['score']:.4f} at epoch "
        f"{won['selected_epoch']}) of {len(tried)} options; no target label was used."
    )
    return {
        "fingerprint": fingerprint,
        "method": method,
        "by": DEFAULT,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "chosen": {"label": won["option"], "canny": won["canny"], "augment": won["augment"], "index": best},
        "tried": tried,
        "why": why,
    }


def config_info(config: TrainConfig, plan: Plan) -> dict:
    """The keys a run that trains one option adds to its config.json of how auto got there (none
    when auto had no part in it): the sentence, the decision reused, and what was asked for."""
    if not plan.note:
        return {}
    asked = {"canny": config.to_dict()["canny"], "augment": config.augment}
    return {"auto": {"note": plan.note, "reused": plan.decision, "asked": asked}}
