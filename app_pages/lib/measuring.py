"""Train DANN's view of a measuring job (`explorer.execution.start.start_run` starts one when auto
measures): every option's curves side by side while they train, then the validator's pick, with
whether the target's labels (when it has them) agree; and the Canny Tuner's view of what auto
measured on the data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.lib.serverjobs import job_status
from explorer.analysis import charts
from explorer.dann.config import TrainConfig
from explorer.data.domains import Dataset
from explorer.execution import auto
from explorer.execution.events import Epoch, Failed, MeasureEnded, MeasureStarted
from explorer.store import decisions, runs


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
        st.vega_lite_chart(spec=charts.training_curves(runs.curves(trained)), width="content")
    ended = next((e for e in events if isinstance(e, MeasureEnded)), None)
    if ended and ended.decision:
        decision_view(ended.decision, labelled)


def decision_view(decision: dict, labelled: bool) -> None:
    """The options tried, the one chosen and why; where the target is labelled, whether labels agree."""
    tried = pd.DataFrame(decision["tried"]).rename(
        columns={"score": f"{decision['by']} score", "selected_epoch": "at epoch"}
    )
    columns = ["option", f"{decision['by']} score", "at epoch"] + (["target_acc"] if labelled else [])
    st.success(
        f"**auto chose {decision['chosen']['label']}.** {decision['why']}", icon=":material/how_to_vote:"
    )
    seen = auto.seen_epochs(decision)
    if decision.get("provisional"):
        st.warning(
            f"Provisional: a time budget stopped the options at {seen} of {decision['epochs']} epochs, where "
            "the validator can rank them wrong. Runs of up to that many epochs reuse it; a longer run "
            "measures again.",
            icon=":material/timer:",
        )
    else:
        st.caption(
            f"Measured at {seen} epochs: runs of up to {seen} epochs reuse it; a longer one measures again."
        )
    st.dataframe(
        tried[columns].round(4).rename(columns={"target_acc": "target acc (labels, not used)"}),
        hide_index=True,
        width="stretch",
    )
    if labelled and tried["target_acc"].notna().any():
        best = tried.loc[tried["target_acc"].idxmax()]
        chosen = tried.iloc[decision["chosen"]["index"]]
        if best["option"] == chosen["option"]:
            st.caption(
                "This target is labelled, so we can check: the labels' best option is the same, "
                f"{best['option']} "
                f"({best['target_acc']:.3f}). The validator found it without them."
            )
        else:
            st.caption(
                f"This target is labelled, so we can check: the labels would have chosen {best['option']} "
                f"({best['target_acc']:.3f} against {chosen['target_acc']:.3f}). Choosing without labels can "
                "miss."
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
