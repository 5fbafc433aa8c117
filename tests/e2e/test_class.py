"""A class on one server: three sessions start a run each on the one CPU; each sees its own place in
the queue and an estimate, a stop touches only its own run, and a run whose browser closed finishes
and is found again from its address. (Speed under a class is measured in bench/bench_classroom.py.)"""

import json
import re
import time

from tests.e2e.conftest import no_errors, settle, start_run, text

WAITING = r"is waiting for this server's CPU: (\d) run\(s\) ahead of it, about \d+ (s|min) until it starts"


def place(page) -> int:
    """The number of runs ahead of this session's, as its page says it."""
    page.wait_for_selector(f"text=/{WAITING}/", timeout=30_000)
    return int(re.search(WAITING, text(page)).group(1))


def test_three_sessions_queue_on_one_cpu_each_sees_its_place_and_all_finish(browser, app):
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(3)]
    a, b, c = (ctx.new_page() for ctx in contexts)
    for p in (a, b, c):
        p.set_default_timeout(60_000)
        p.goto(app.url)
        settle(p)
    start_run(a, 300)
    a.wait_for_selector("text=/epoch [1-9]\\d*\\/300/", timeout=120_000)
    for p, seed in ((b, 101), (c, 102)):
        start_run(p, 4, seed=seed)
    assert place(b) == 1 and place(c) == 2  # each its own place: a's run, then b's
    assert "Also" not in text(b) and "Also" not in text(c)  # nobody sees another's run

    c_address = c.url
    contexts[2].close()  # c leaves while its run waits: it still trains, in turn

    a.get_by_role("button", name="Stop").first.click()
    a.wait_for_selector("text=/Stopped/", timeout=60_000)
    b.wait_for_selector("text=/finished: 4 epochs/", timeout=180_000)  # a's stop did not touch b's run
    no_errors(b)

    again = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    again.set_default_timeout(60_000)
    again.goto(c_address)  # c comes back with its address: its run went on without a browser
    settle(again)
    again.locator("[data-testid='stSidebarNav']").get_by_text("Train DANN", exact=True).click()
    end = time.time() + 180
    while time.time() < end and epochs_of(app, 102) < 4:
        time.sleep(1)
    assert epochs_of(app, 102) == 4 and epochs_of(app, 101) == 4
    again.reload()
    settle(again)
    # in its Compare runs
    again.wait_for_function("document.body.innerText.includes('seed 102')", timeout=60_000)
    assert "seed 101" not in text(again)  # b's run is b's
    no_errors(again)
    assert app.healthy()


def epochs_of(app, seed: int) -> int:
    """Epochs written by the run of this seed in the app's cache (the 4-epoch runs of this test)."""
    for d in (app.home / "runs").iterdir():
        info = json.loads((d / "config.json").read_text())
        if info["seed"] == seed and info["epochs"] == 4:
            return (d / "metrics.jsonl").read_text().count("\n")
    return 0
