"""Every progress bar of a queued job says about how long it still takes (`serverjobs.job_status`)."""

import time

from streamlit.testing.v1 import AppTest

from explorer.execution.events import Epoch, Started
from explorer.execution.jobs import Job


def _status(job):
    from app_pages.lib.serverjobs import job_status

    job_status(job, 0.5, f"**{job.label}** · epoch 2/4", "finished")


def _running(spent: float, events: list, expected: float | None = None) -> Job:
    began = time.monotonic() - spent
    return Job(
        "o", "run", "cpu", None, state="running", events=events, expected=expected, started=began, began=began
    )


def test_a_running_jobs_progress_bar_says_how_long_is_left():
    started = Started(0, "here", {"epochs": 4, "self_train_epochs": 0, "resumed_from": 0})
    half = _running(100.0, [started, Epoch(0, "here", {"epoch": 1}), Epoch(0, "here", {"epoch": 2})], 60.0)
    at = AppTest.from_function(_status, args=(half,)).run()
    assert not at.exception
    assert at.progress[0].text == "**run** · epoch 2/4 · about 2 min left"  # the pace so far: 100 s more


def test_before_its_first_epoch_it_says_the_queues_estimate_less_the_time_spent_and_nothing_unknown():
    started = Started(0, "here", {"epochs": 4, "self_train_epochs": 0, "resumed_from": 0})
    at = AppTest.from_function(_status, args=(_running(20.0, [started], 60.0),)).run()
    assert at.progress[0].text.endswith("· about 40 s left")
    at = AppTest.from_function(_status, args=(_running(20.0, [started]),)).run()
    assert at.progress[0].text == "**run** · epoch 2/4"  # no estimate: no guess
