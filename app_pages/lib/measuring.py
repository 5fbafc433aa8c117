"""Train DANN's runs when auto measures: the submit that plans (measure, reuse, or train as set),
and the view of a measuring job: every option's curves side by side while they train, then the
validator's pick, with whether the target's labels (when it has them) agree."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.lib import charts
from app_pages.lib.jobs import CLUSTER
from app_pages.lib.serverjobs import job_queue, job_status
from app_pages.lib.session import owner
from explorer.dann.config import TrainConfig
from explorer.data.domains import Dataset
from explorer.execution import auto, costs
from explorer.execution.backends import Request, choose
from explorer.execution.events import Epoch, Failed
from explorer.execution.keep import Keep
from explorer.execution.measure import MeasureEnded, Measurement, MeasureStarted
from explorer.execution.processes import Processes
from explorer.store import cache, decisions, runs
from explorer.store.home import subdir


def submit(cfg: TrainConfig, ds: Dataset, ray, remeasure: bool = False):
    """Queue `cfg` as auto plans it, in the lane of its back-end; returns the job."""
    me, label = owner(), f"{runs.run_label(cfg.to_dict())} · seed {cfg.seed}"
    plan = auto.plan(cfg, ds, remeasure)
    if len(plan.configs) > 1:
        m = Measurement(cfg, ds, subdir("runs"), Keep(me), cluster=ray, plan=plan)
        job = job_queue().submit(me, f"{label} · auto: {len(plan.options)} options", m.backend.lane, m.events)
        job.expected = _expected(plan.configs, ds, m.backend)
        job.total_epochs, job.run_id = (
            sum(c.epochs + c.self_train_epochs for c in plan.configs),
            None,
        )  # the winner's, once measured
        job.data = (ds.fingerprint, ds.name)
        return job
    concrete, told = plan.configs[0], auto.told(cfg, plan)
    backend = choose(concrete, cluster=ray)
    request = Request(
        0, concrete, cache.run_dir(concrete.run_id(ds.fingerprint, backend.device_type(concrete)))
    )
    job = job_queue().submit(
        me, label, backend.lane, lambda stop, data=ds: backend.train([request], data, stop, Keep(me, told))
    )
    job.expected = _expected([concrete], ds, backend)
    job.note = plan.note  # said beside the run's progress
    job.total_epochs, job.run_id = concrete.epochs + concrete.self_train_epochs, request.folder.name
    job.data = (ds.fingerprint, ds.name)  # a page on another dataset says whose run this is
    return job


def _expected(configs: list[TrainConfig], ds: Dataset, backend) -> float | None:
    """About how long the job takes once it starts, for the queue's estimates; a cluster queues its
    runs itself, so none there."""
    if backend.lane == CLUSTER:
        return None
    return costs.run_seconds(configs, ds, backend.device_type(configs[0]), isinstance(backend, Processes))


def run_of(job) -> str | None:
    """The id of the run a job trains (a measuring job's: the winner's, once it has chosen)."""
    ended = next((e for e in job.snapshot()[1] if isinstance(e, MeasureEnded)), None)
    return (
        ended.folder.name if ended is not None and ended.folder is not None else getattr(job, "run_id", None)
    )


def measuring(job) -> bool:
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
                f"This target is labelled, so we can check: the labels' best option is the same, {best['option']} "
                f"({best['target_acc']:.3f}). The validator found it without them."
            )
        else:
            st.caption(
                f"This target is labelled, so we can check: the labels would have chosen {best['option']} "
                f"({best['target_acc']:.3f} against {chosen['target_acc']:.3f}). Choosing without labels can miss."
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
        st.caption(auto.reused(decided))
        decision_view(decided, ds.target.labelled)
    elif len(ds.target) < auto.MIN_TARGET:
        st.caption(
            f"This target has only {len(ds.target):,} images, too few to judge trained options on: auto uses the statistics' choice."
        )
    else:
        st.caption(
            "Not measured on this data yet. The first default run will train: "
            + "; ".join(_shortlist(ds.fingerprint, ds))
            + "."
        )
