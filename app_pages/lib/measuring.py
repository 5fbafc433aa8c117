"""Train DANN's view of a measuring job (`explorer.execution.start.start_run` starts one when auto
measures): every option's curves side by side while they train, then the validator's pick, with
whether the target's labels (when it has them) agree; and the Canny Tuner's view of what auto
measured on the data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.lib.serverjobs import job_status
from explorer.analysis import run_charts
from explorer.dann import results
from explorer.dann.config import TrainConfig
from explorer.dann.validators import DEFAULT, MEANING, PLAIN, named
from explorer.data.domains import Dataset
from explorer.execution import auto
from explorer.execution.events import Epoch, Failed, MeasureEnded, MeasureStarted
from explorer.store import decisions

PERCENT = st.column_config.NumberColumn(format="%.1f%%")
THREE = st.column_config.NumberColumn(format="%.3f")  # losses and scores, in the table of every number
# the options' table: validator scores to 2 decimals, accuracies in percent as everywhere on the page
TRIED = {
    "validator score": st.column_config.NumberColumn(format="%.2f", help="higher is better"),
    "target accuracy (labels, not used)": st.column_config.NumberColumn(
        format="%.1f%%", help="at the option's selected epoch; the labels never choose"
    ),
}


def measuring(job) -> bool:
    """Whether the job measures auto's options (from its first event on)."""
    return any(isinstance(e, MeasureStarted) for e in job.snapshot()[1])


def measuring_view(job, labelled: bool) -> None:
    """Progress over all options, their curves side by side, dropped options, and the decision."""
    state, events, message = job.snapshot()
    started = next(e for e in events if isinstance(e, MeasureStarted))
    histories = {label: [] for label in started.options}
    for e in events:
        if isinstance(e, Epoch):
            histories[started.options[e.index]].append(e.epoch)
    done, total = sum(map(len, histories.values())), len(started.options) * started.epochs
    job_status(
        job,
        done / max(total, 1),
        f"**{job.label}** · {done} of {total} epochs over {len(started.options)} options side by side",
        f"**{job.label}**: measured.",
        stop_label="Stop all options",
    )
    st.caption(started.note)
    for e in events:
        if isinstance(e, Failed):
            st.warning(
                f"Option **{started.options[e.index]}** was dropped: {e.message}", icon=":material/block:"
            )
    trained = {label: h for label, h in histories.items() if h}
    if trained:
        _options_chart(trained)
    ended = next((e for e in events if isinstance(e, MeasureEnded)), None)
    if ended and ended.decision:
        waited = job.last_event - job.started if job.finished and job.started and job.last_event else None
        decision_view(ended.decision, labelled, waited)


def _options_chart(trained: dict[str, list[dict]]) -> None:
    """The options side by side, one line each: the validator's score and, on a labelled target, the
    target accuracy; every number per option one click away."""
    st.vega_lite_chart(
        spec=run_charts.measuring_curves(results.measuring_long(trained), DEFAULT), width="content"
    )
    with st.expander("Every number of every option, epoch by epoch"):
        table = results.epochs_table(trained)
        percents = ["target accuracy", results.TRAINING_BATCHES, results.DOMAIN]
        rest = [c for c in table.columns if c not in ("option", "epoch", *percents)]
        columns = dict.fromkeys(rest, THREE) | dict.fromkeys(percents, PERCENT)
        st.dataframe(table, hide_index=True, width="stretch", column_config=columns)


def decision_view(decision: dict, labelled: bool, waited: float | None = None) -> None:
    """The options tried, the one chosen and why; where the target is labelled, whether labels agree.
    `waited`: the seconds the measuring job took, when it was just watched."""
    by, tried = decision["by"], decision["tried"]
    chosen = tried[decision["chosen"]["index"]]
    st.success(
        f"**auto chose {decision['chosen']['label']}.** Of the {len(tried)} options it scored highest by the "
        f"{named(by)}: {chosen['score']:.2f} at epoch {chosen['selected_epoch']}; no target label was used.",
        icon=":material/how_to_vote:",
    )
    seen = auto.seen_epochs(decision)
    took = f" The options trained side by side for {waited:,.0f} s in all." if waited else ""
    if decision.get("provisional"):
        st.warning(
            f"Provisional: a time budget stopped the options at {seen} of {decision['epochs']} epochs, where "
            "the validator can rank them wrong. Runs of up to that many epochs reuse it; a longer run "
            f"measures again.{took}",
            icon=":material/timer:",
        )
    else:
        st.caption(
            f"Measured at {seen} epochs: runs of up to {seen} epochs reuse it; a longer one measures "
            f"again.{took}"
        )
    table = pd.DataFrame(
        {
            "option": [t["option"] for t in tried],
            "validator score": [t["score"] for t in tried],
            "at epoch": [t["selected_epoch"] for t in tried],
        }
        | (
            {"target accuracy (labels, not used)": [results.percent_value(t["target_acc"]) for t in tried]}
            if labelled
            else {}
        )
    )
    st.caption(
        f"Validator score: the {named(by)}, {MEANING[by]}. Each option is scored at the epoch it selects."
    )
    st.dataframe(table, hide_index=True, width="stretch", column_config=TRIED)
    if labelled and any(t["target_acc"] is not None for t in tried):
        st.caption(_labels_check(tried, chosen, by))


def _labels_check(tried: list[dict], chosen: dict, by: str) -> str:
    """On a labelled target: what the chosen option ships, and whether the labels would have chosen
    it."""
    best = max((t for t in tried if t["target_acc"] is not None), key=lambda t: t["target_acc"])
    ships = (
        f"This target is labelled, so we can check: {chosen['option']} ships "
        f"{results.percent(chosen['target_acc'])} target accuracy at epoch {chosen['selected_epoch']} "
        f"(selected by {PLAIN[by]})"
    )
    if best["option"] == chosen["option"]:
        return f"{ships}, and the labels' best option is the same. The validator found it without them."
    return (
        f"{ships}; the labels would have chosen {best['option']} ({results.percent(best['target_acc'])}). "
        "Choosing without labels can miss."
    )


@st.cache_data(max_entries=8, show_spinner="Shortlisting the options…")
def _shortlist(fingerprint: str, _ds: Dataset) -> list[str]:
    return [o.label for o in auto.shortlist(TrainConfig(image_size=_ds.source.images.shape[-1]), _ds)]


def measured_section(ds: Dataset) -> None:
    """The Canny Tuner's view of measured auto: what it chose on this data and from what, or what
    the first default run will measure."""
    st.markdown(
        "**What `auto` measured.** The statistics above only shortlist: the first default run on Train DANN "
        "trains the options side by side and keeps the one the validator prefers, without a target label."
    )
    decided = decisions.load(ds.fingerprint, "dann")
    if decided:
        st.caption(auto.reuse_note(decided))
        decision_view(decided, ds.target.labelled)
    elif len(ds.target) < auto.MIN_TARGET:
        st.caption(
            f"This target has only {len(ds.target):,} images, too few to judge trained options on: auto uses "
            "the statistics' choice."
        )
    else:
        st.caption(
            "Not measured on this data yet. The first default run will train: "
            + "; ".join(_shortlist(ds.fingerprint, ds))
            + "."
        )
