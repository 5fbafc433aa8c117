"""The server's jobs as the pages see them: the one job queue for the whole server, the Ray cluster
runs go to when one is configured, where a job trains, and a job's status line with its Stop button."""

from __future__ import annotations

import streamlit as st

from explorer.errors import ExplorerError
from explorer.execution import ray_cluster
from explorer.execution.jobs import CLUSTER, JobQueue, left_words


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue for the whole server: one training run per device at a time, across sessions."""
    return JobQueue()


@st.cache_resource(show_spinner="Connecting to the Ray cluster…")
def _cluster(address: str) -> tuple[ray_cluster.Cluster | None, str]:
    try:
        return ray_cluster.connect(address), ""
    except ExplorerError as e:  # kept: a cluster that cannot be reached is not tried again on every rerun
        return None, str(e)


def cluster() -> ray_cluster.Cluster | None:
    """The Ray cluster that runs go to ($EXPLORER_RAY_ADDRESS), or None: this server trains them.
    When it is set but cannot be used (Ray not installed, the cluster unreachable), the page says so
    once and runs train on this server."""
    address = ray_cluster.configured()
    if not address:
        return None
    found, problem = _cluster(address)
    if problem:
        st.warning(
            f"{problem} Runs train on this server until the app is restarted with a working cluster.",
            icon=":material/cloud_off:",
        )
    return found


def where(job) -> str:
    """Where a job trains, as words to follow its label: on this server, on the cluster node of its
    latest event, or still waiting to start on the cluster."""
    if job.device != CLUSTER:
        return f"on this server's {job.device.upper()}"
    _, events, _ = job.snapshot()
    place = events[-1].where if events else ray_cluster.WAITING
    return place if place == ray_cluster.WAITING else f"on {place}"


def place(job) -> str:
    """A waiting job's place in the server's queue and about how long until it starts, in words."""
    queue = job_queue()
    ahead, wait = queue.waiting_ahead(job), queue.wait(job)
    if not ahead:
        return f"starts next on this server's {job.device.upper()}"
    when = f", about {duration(wait)} until it starts" if wait is not None else ""
    return f"is waiting for this server's {job.device.upper()}: {ahead} run(s) ahead of it{when}"


def activity(job) -> str:
    """What an unfinished job is doing, as words to follow its label: its place in the queue, or
    where it runs (or waits to start) on the cluster."""
    if job.state == "queued":
        return place(job)
    at = where(job)
    return f"is {at}" if at == ray_cluster.WAITING else f"is running {at}"


def duration(seconds: float) -> str:
    """Seconds as a wait is said before it starts: ``40 s``, ``3 min``."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def with_time_left(job, text: str) -> str:
    """A running job's progress text with about how long it still takes ("… · about 3 min left"),
    as every progress bar says it; `text` alone while that is not known."""
    left = left_words(job.left())
    return f"{text} · {left}" if left else text


def job_status(job, fraction: float, running: str, finished: str, stop_label: str = "Stop") -> None:
    """Where a queued job stands, one element: waiting (and behind how many), a progress bar with
    `running` and the time left while it runs, `finished` when done, the stop or error message, and
    its Stop button."""
    state, _, message = job.snapshot()
    if state == "queued":
        st.info(f"**{job.label}** {place(job)}.", icon=":material/hourglass:")
    elif state == "running":
        st.progress(min(1.0, max(0.0, fraction)), text=with_time_left(job, running))
    elif state == "done":
        st.success(finished, icon=":material/check:")
    elif state == "stopped":
        st.warning(message or "Stopped.", icon=":material/stop_circle:")
    else:
        st.error(message, icon=":material/error:")
    if not job.finished and st.button(stop_label, key=f"stop_{job.id}"):
        job.stop()
