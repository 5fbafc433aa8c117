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

A decision knows how it was measured: the epochs its options reached (`seen_epochs`) and the budget.
A run reuses it only when it saw at least the training the run asks for (`asked_epochs`: the run's
epochs, or those its time budget reaches); otherwise the run measures again and says why. A
measurement whose options a time budget cut short is provisional. A budget too short for every
option to reach `MEASURE_SHARE` of the run's epochs measures nothing: one option trains for the
whole budget (the decision there is, else the statistics' choice). The share comes from
docs/ADAPTATION.md's budget table: options stopped at 17-29 of 40 epochs shipped up to 23.5 points
less than at 40, and at 75% of training the validator ranks as well as at the end (+0.71).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timezone

from explorer.dann.config import UNMEASURED_AUGMENT, TrainConfig
from explorer.dann.validators import DEFAULT, named, row_at, selected_epoch
from explorer.data.domains import Dataset
from explorer.data.preprocess import Preprocess, ranked
from explorer.devices import pick, usable_cpus
from explorer.execution import estimates
from explorer.store import decisions

MIN_TARGET = 50  # target images below which auto does not measure
AUGMENTS = ("rotate", "none")
MEASURE_SHARE = 0.75  # of the run's epochs, each option must reach it within a budget to be ranked


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
    asked = asked_epochs(config, dataset)
    if decided and seen_epochs(decided) >= asked:
        return Plan([with_decision(config, decided)], [], decided, reuse_note(decided))
    options = shortlist(config, dataset)
    configs = [share_budget(o.config(config), len(options)) for o in options]
    if (
        config.time_budget
        and (reach := _reached(config, len(options), dataset)) < MEASURE_SHARE * config.epochs
    ):
        return _one_option(config, options[0], decided, reach)
    note = (
        f"auto: measuring {len(options)} options on this data: each trains {config.epochs} epochs, and the "
        f"one that scores highest by {named(DEFAULT)} is kept, without a target label; later runs reuse "
        "the choice."
    )
    if decided:
        seen = epochs_words(seen_epochs(decided))
        note += f" Measured before at {seen}; this {asked}-epoch run measures again."
    return Plan(configs, options, None, note)


def seen_epochs(decision: dict) -> int:
    """The training a decision's options saw: the fewest epochs an option that did not fail reached."""
    reached = [t["epochs"] for t in decision["tried"] if not t.get("failed")]
    return min(reached, default=0)


def epochs_words(epochs: int) -> str:
    """``1 epoch``, ``40 epochs``."""
    return f"{epochs} epoch{'' if epochs == 1 else 's'}"


def asked_epochs(config: TrainConfig, dataset: Dataset) -> int:
    """The epochs a run of `config` trains: its own, or about those its time budget reaches alone."""
    if not config.time_budget:
        return config.epochs
    device = pick(config.device).type
    return int(estimates.epochs_within([config], dataset, device, config.time_budget, False))


def _reached(config: TrainConfig, options: int, dataset: Dataset) -> float:
    """About how many epochs each of `options` options reaches when they train side by side, sharing
    `config`'s time budget."""
    device = pick(config.device).type
    alone = replace(config, time_budget=None)
    side_by_side = device == "cpu" and _side_by_side(options) > 1
    return estimates.epochs_within([alone] * options, dataset, device, config.time_budget, side_by_side)


def _one_option(config: TrainConfig, first: Option, decided: dict | None, reach: float) -> Plan:
    """A budget too short to rank the options: one trains for the whole budget, and the run says which."""
    if decided:
        chosen, label = with_decision(config, decided), decided["chosen"]["label"]
        how = f"the choice measured on this data at {epochs_words(seen_epochs(decided))}"
    else:
        chosen, label, how = first.config(config), first.label, "the statistics' choice"
    note = (
        f"auto: too little time to measure the options ({config.time_budget:g} s gives each about "
        f"{reach:.0f} of {config.epochs} epochs; ranking them needs {MEASURE_SHARE * config.epochs:.0f}); "
        f"trained {label}, {how}. Measure later with a full run."
    )
    return Plan([chosen], [], decided, note)


def reuse(config: TrainConfig, dataset: Dataset) -> TrainConfig:
    """`config` with what auto measured before on this data, when it has and the measurement saw the
    epochs `config` trains (a sweep's runs reuse it, never measure); else as it is (a lone trainer then
    uses the statistics' choice and rotate)."""
    decided = decisions.load(dataset.fingerprint, config.method) if config.measured else None
    if decided and seen_epochs(decided) >= asked_epochs(config, dataset):
        return with_decision(config, decided)
    return config


def sweep_note(config: TrainConfig, dataset: Dataset) -> str:
    """What a sweep's runs of `config` left to auto train with, in one sentence."""
    if not config.measured:
        return ""
    decided = decisions.load(dataset.fingerprint, config.method)
    seen = seen_epochs(decided) if decided else 0
    if not decided:
        why = "not measured on this data yet (a default run on Train DANN measures)"
    elif seen < asked_epochs(config, dataset):
        why = f"measured on this data at {epochs_words(seen)}, fewer than these {config.epochs}-epoch runs"
    else:
        return f"auto: {decided['chosen']['label']}, measured on this data at {epochs_words(seen)}."
    return f"auto: {why}; the runs left to auto use the statistics' choice."


def with_decision(config: TrainConfig, decided: dict) -> TrainConfig:
    """`config` with the decision's option in what was left to auto."""
    canny = _spec(decided["chosen"]["canny"]) if config.canny == "auto" else config.canny
    augment = decided["chosen"]["augment"] if config.augment == "auto" else config.augment
    return replace(config, canny=canny, augment=augment)


def reuse_note(decision: dict) -> str:
    """The sentence a run that reuses `decision` says beside its progress."""
    date, tried = decision["date"][:10], len(decision["tried"])
    note = (
        f"auto: {decision['chosen']['label']}, measured on this data on {date} at "
        f"{epochs_words(seen_epochs(decision))}, {tried} options."
    )
    if decision.get("provisional"):
        note += " Provisional: a time budget cut the options short; a full run measures again."
    return note


def _spec(value):
    return tuple(value) if isinstance(value, list) else value


def share_budget(config: TrainConfig, options: int) -> TrainConfig:
    """With a time budget, the options share it: side by side on the cores, each gets its share."""
    if not config.time_budget:
        return config
    return replace(config, time_budget=config.time_budget * _side_by_side(options) / options)


def _side_by_side(options: int) -> int:
    """How many options train at once: one per core."""
    return max(1, min(options, usable_cpus()))


def decide(
    options: list[Option],
    histories: list[list[dict] | None],
    fingerprint: str,
    method: str,
    *,
    epochs: int | None = None,
    budget: float | None = None,
) -> dict:
    """The option whose checkpoint the default validator prefers (each option at its own selected
    epoch; ties go to the earlier option), with every option's evidence. A history of None is an
    option that failed (a NaN loss): it is listed and never chosen. `epochs` and `budget`: what the
    measuring run asked for; a budget that stopped an option before its epochs makes the decision
    provisional."""
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
        f"{won['option']} scored highest by {named(DEFAULT)} ({won['score']:.2f} at epoch "
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
        "epochs": epochs,
        "budget": budget,
        "provisional": bool(
            budget and epochs and any(t["epochs"] < epochs for t in tried if not t["failed"])
        ),
    }


def config_info(config: TrainConfig, plan: Plan) -> dict:
    """The keys a run that trains one option adds to its config.json of how auto got there (none
    when auto had no part in it): the sentence, the decision reused, and what was asked for."""
    if not plan.note:
        return {}
    asked = {"canny": config.to_dict()["canny"], "augment": config.augment}
    return {"auto": {"note": plan.note, "reused": plan.decision, "asked": asked}}
