"""Train DANN in a browser with the app configured for a Ray cluster (a private local one): two
runs placed on the cluster side by side, each saying where it trains, the cluster's free devices,
and Stop reaching the remote runs."""

import os
import re

import pytest

from tests.e2e.conftest import App, by_hand, go, no_errors, set_number, settle, shoot, wait_epoch

pytestmark = pytest.mark.ray


@pytest.fixture
def app(tmp_path):
    """This module's own app (the suite's `page` fixture opens it), configured for a private local cluster."""
    if os.environ.get("EXPLORER_REQUIRE_RAY") != "1":
        pytest.importorskip("ray", reason="Ray is not installed (pip install -r requirements-cluster.txt)")
    a = App(tmp_path / "home", tmp_path / "app.log", EXPLORER_RAY_ADDRESS="local").start()
    yield a
    a.stop()
    assert not a.tracebacks(), "the app logged a traceback:\n" + "\n---\n".join(a.tracebacks())


def test_runs_go_to_the_cluster_and_the_queue_says_where_each_is(page, app):
    go(page, "Train DANN")
    page.wait_for_selector("text=/Runs on the Ray cluster local: 1 node · \\d+ of 2 CPUs free/")
    set_number(page, "Epochs", 300)
    by_hand(page)
    page.get_by_role("button", name="Start training").click()
    wait_epoch(page, 1)
    set_number(page, "Seed", 1)
    by_hand(page)
    page.get_by_role("button", name="Start training").click()
    # the second run, now this page's current one, trains beside the first (past its first epoch: a
    # page looks every second or so, and an epoch here can take less)
    past_first = re.compile(r"seed 1 · epoch (?:[2-9]|\d{2,})/300")
    progress = page.locator("[data-testid='stProgress']").filter(has_text=past_first)
    progress.first.wait_for(timeout=120_000)
    assert "on ray node" in page.locator("[data-testid='stProgress']").inner_text()
    page.wait_for_selector("text=/Also .*: is running on ray node \\d+\\.\\d+\\.\\d+\\.\\d+/")
    page.wait_for_selector("text=/Ray cluster local: 1 node · 0 of 2 CPUs free/")
    no_errors(page)
    shoot(page, "train_cluster", part=".st-key-this_run")
    page.get_by_role("button", name="Stop", exact=True).last.click()  # the current run's Stop
    page.wait_for_selector(
        "text=/Stopped by request during epoch \\d+; the checkpoint of epoch \\d+ is kept/", timeout=60_000
    )
    page.get_by_role("button", name="Stop", exact=True).first.click()  # the earlier run's
    page.wait_for_function("!/Also .*: is running/.test(document.body.innerText)", timeout=60_000)
    settle(page)
    no_errors(page)
    runs = [d for d in (app.home / "runs").iterdir() if (d / "last.pt").is_file()]
    assert len(runs) == 2  # both stopped runs' checkpoints came back into the app's cache
