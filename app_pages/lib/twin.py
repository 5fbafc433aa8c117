"""A DANN run's source-only twin (one run: the run's own preprocessing, augmentation and options with
lambda = 0, `keep.source_only_twin`), as Train DANN's comparison and Feature Space's maps offer it:
the twin itself once it has trained; until then where it stands (its progress when this session trains
it, a line when another session does) or the button that trains it, queued like any run and drawn
beside the run it is the twin of."""

from __future__ import annotations

import streamlit as st

from app_pages.lib.serverjobs import cluster, job_queue, job_status
from app_pages.lib.session import owner
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.execution.events import Epoch
from explorer.execution.jobs import WAITING_POLL, poll_seconds
from explorer.execution.keep import source_only_twin
from explorer.execution.start import RunHandle, start_run
from explorer.store import cache, runs

# what the twin is, in the sentence that offers it
WHAT_IT_IS = "one run with this run's preprocessing and augmentation and λ = 0: only the domain loss differs"


def twin_runs() -> dict[str, RunHandle]:
    """This session's twins by the run they are the twin of: drawn beside that run, not at the
    page's top."""
    return st.session_state.setdefault("twin_runs", {})


def finished_twin(
    run: runs.RunRecord, ds: Dataset, *, ask: str, elsewhere: str, key: str, ask_again: str | None = None
) -> runs.RunRecord | None:
    """The run's finished source-only twin; else None, after drawing where the twin stands: its
    progress (this session trains it), `elsewhere` (another session trains it now), or `ask` and
    the button (`key`) that trains it (`ask_again` when its training stopped before the end)."""
    config, folder = source_only_twin(run.config)
    twin = runs.read_run(folder) if (folder / "metrics.jsonl").is_file() else None
    started = twin_runs().get(run.run_id)
    if started is not None and not started.job.finished:
        twin_progress(started, run)
        return None
    if twin is not None and twin.finished:
        return twin
    if twin is not None and cache.busy(twin.dir):
        st.caption(elsewhere)
        return None
    st.info(ask if twin is None else ask_again or ask, icon=":material/compare:")
    if st.button("Train the source-only twin", key=key):
        try:
            twin_runs()[run.run_id] = start_run(config, ds, job_queue(), owner(), cluster())
        except ExplorerError as e:
            st.error(str(e))
        else:
            st.rerun()  # its progress shows here, under the run it is the twin of
    return None


def twin_progress(twin: RunHandle, run: runs.RunRecord) -> None:
    """The twin's place in the queue or its progress, refreshed about once an epoch; the page reruns
    when it ends, so the twin joins what the page shows of the run."""
    job = twin.job
    every = poll_seconds([job])

    @st.fragment(run_every=every)
    def watch():
        events = job.snapshot()[1]
        done, total = sum(isinstance(e, Epoch) for e in events), twin.total_epochs
        job_status(
            job,
            done / total if total else 0.0,
            f"**{job.label}**, the twin of {run.label} · epoch {done:,} of {total:,}",
            f"**{job.label}** finished.",
        )
        if job.finished or (every == WAITING_POLL) != (poll_seconds([job]) == WAITING_POLL):
            st.rerun()  # it ended, or it started: look once an epoch from now on

    watch()
