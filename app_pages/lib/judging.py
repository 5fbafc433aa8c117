"""How a run judges itself without target labels, drawn for Train DANN: the validators over the
epochs, what each means, how well each tracked the truth when the target is labelled, and a
comparison with the run's source-only twin."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.lib import charts
from app_pages.lib.jobs import WAITING_POLL, poll_seconds
from app_pages.lib.serverjobs import job_queue, job_status
from app_pages.lib.session import owner
from explorer.dann import validators as V
from explorer.dann.config import TrainConfig
from explorer.errors import ExplorerError
from explorer.execution.events import Epoch
from explorer.execution.keep import twin
from explorer.store import cache, runs


def validators_panel(history: list[dict]) -> None:
    """The validators' curves with the epoch each selects, their meanings, and, when the target is
    labelled, how well each ranked the epochs."""
    if not any(h.get("validators") for h in history):
        return
    selected = {name: V.selected_epoch(history, name) for name in V.NAMES}
    st.markdown(
        f"**Judging the run without target labels**: each validator's score per epoch; the dot is the epoch it "
        f"would pick. Downloads and Feature Space use the pick of **{V.DEFAULT}** unless you choose otherwise."
    )
    st.vega_lite_chart(spec=charts.validator_curves(V.long_table(history), selected), width="content")
    labelled = all(h.get("target_acc") is not None for h in history)
    rho = V.rank_correlations(history) if labelled else {}
    table = pd.DataFrame(
        {
            "validator": list(V.NAMES),
            "picks epoch": [selected[n] for n in V.NAMES],
            **(
                {
                    "target acc there": [V.row_at(history, selected[n]).get("target_acc") for n in V.NAMES],
                    "rank corr.": [rho[n] for n in V.NAMES],
                }
                if labelled
                else {}
            ),
        }
    )
    c1, c2 = st.columns([1, 1])
    c1.dataframe(table, hide_index=True, width="stretch")
    c2.markdown("\n".join(f"* **{n}**: {V.MEANING[n]}." for n in V.NAMES))
    if labelled:
        best = max(h["target_acc"] for h in history)
        st.caption(
            f"The target here is labelled, so the truth is known: the best epoch reached {best:.3f}. A rank correlation "
            "(Spearman, over the epochs, with target accuracy) "
            "near 1 means the validator ordered the epochs as target accuracy did; near 0 or below, it would have "
            "picked blindly. This is why choosing a checkpoint without labels is hard."
        )


def twin_of(run: runs.RunRecord) -> tuple[TrainConfig, runs.RunRecord | None]:
    """The source-only run with the same options and data, and its record when it has been trained."""
    config, twin_dir = twin(run.config)
    return config, runs.read_run(twin_dir) if twin_dir and (twin_dir / "metrics.jsonl").is_file() else None


def twin_panel(run: runs.RunRecord, start_twin) -> None:
    """For a DANN run: did adaptation probably help? By the judge validator, against the source-only
    twin; a button trains the twin when it is not there (`start_twin(config)` returns its job), and
    the twin's progress shows beside the button until it ends."""
    if run.config["method"] != "dann" or not run.metrics or runs.is_option(run):
        return
    config, twin = twin_of(run)
    jobs = {j.id: j for j in job_queue().jobs(owner())}
    job = jobs.get(twin_jobs().get(run.run_id))
    if job is not None and not job.finished:
        twin_progress(job, run)
        return
    if twin is not None and not twin.finished and cache.busy(twin.dir):
        st.caption(
            f"**{run.label}**: its source-only twin is training now (started elsewhere); the verdict comes when it ends."
        )
        return
    if twin is None or not twin.finished:
        st.info(
            f"**{run.label}**: did DANN help? Its **source-only twin** (the same options with λ = 0) answers that: "
            + (
                "train it here."
                if twin is None
                else "its training stopped before the end; train on to finish it."
            ),
            icon=":material/compare:",
        )
        if st.button("Train the source-only twin", key=f"twin_{run.run_id}"):
            try:
                twin_jobs()[run.run_id] = start_twin(config).id
            except ExplorerError as e:
                st.error(str(e))
            else:
                st.rerun()  # its progress shows here, under the run it is the twin of
        return
    joined = st.session_state.setdefault("t_twins_joined", set())
    if (
        owner() in runs.owners(twin.dir)
        and twin.run_id not in st.session_state.get("t_listed", ())
        and twin.run_id not in joined
    ):
        joined.add(twin.run_id)
        st.rerun()  # it finished while the page was drawn, after the overlay's list: draw it again, with the twin
    e_d, dann = V.score_at(run.metrics, V.DEFAULT, V.JUDGE)
    e_s, base = V.score_at(twin.metrics, V.DEFAULT, V.JUDGE)
    if dann is None or base is None:
        st.caption(
            f"**{run.label}** and its source-only twin: no validator scores to compare (trained before validators)."
        )
        return
    truth = ""
    acc_d, acc_s = V.row_at(run.metrics, e_d).get("target_acc"), V.row_at(twin.metrics, e_s).get("target_acc")
    if acc_d is not None and acc_s is not None:
        truth = f" The target is labelled here: DANN {acc_d:.3f} against source-only {acc_s:.3f}."
    if dann < base:
        st.warning(
            f"**{run.label}: DANN probably hurt on this data.** By {V.JUDGE}, DANN scores {dann:.4f} (epoch {e_d}) against "
            f"{base:.4f} for its source-only twin (epoch {e_s}). Only target labels can tell for sure; try another "
            f"λ or preprocessing.{truth}",
            icon=":material/trending_down:",
        )
    else:
        st.success(
            f"**{run.label}**: DANN probably helped. By {V.JUDGE} it scores {dann:.4f} (epoch {e_d}) against {base:.4f} for its "
            f"source-only twin (epoch {e_s}). Only target labels can tell for sure.{truth}",
            icon=":material/trending_up:",
        )


def twin_jobs() -> dict:
    """This session's twin jobs by the run they are the twin of: drawn beside that run, not at the page's top."""
    return st.session_state.setdefault("twin_jobs", {})


def twin_progress(job, run: runs.RunRecord) -> None:
    """The twin's place in the queue or its progress, refreshed about once an epoch; the page reruns
    when it ends, so the twin's curve joins the overlay and the verdict appears."""
    every = poll_seconds([job])

    @st.fragment(run_every=every)
    def watch():
        events = job.snapshot()[1]
        done, total = sum(isinstance(e, Epoch) for e in events), getattr(job, "total_epochs", 0)
        job_status(
            job,
            done / total if total else 0.0,
            f"**{job.label}**, the twin of {run.label} · epoch {done:,} of {total:,}",
            f"**{job.label}** finished.",
        )
        if job.finished or (every == WAITING_POLL) != (poll_seconds([job]) == WAITING_POLL):
            st.rerun()  # it ended, or it started: look once an epoch from now on

    watch()
