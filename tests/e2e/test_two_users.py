"""Two people at once: own uploads, own runs, one CPU shared in turn, and one closing early."""

import json
import time

from tests.e2e.conftest import go, no_errors, open_zip, photo_zip, settle, start_run, table_cells, text


def test_two_sessions_upload_train_wait_in_turn_and_stay_apart(browser, app):
    earlier = {d.name for d in (app.home / "sessions").glob("*")}  # other tests' sessions, ended or not
    contexts = [browser.new_context(viewport={"width": 1400, "height": 900}) for _ in range(2)]
    a, b = (c.new_page() for c in contexts)
    for p, classes, name in (
        (a, ("apple", "banana"), "orchard.zip"),
        (b, ("cherry", "damson"), "garden.zip"),
    ):
        p.set_default_timeout(60_000)
        p.goto(app.url)
        settle(p)
        open_zip(p, photo_zip(classes, n=40), name)
        no_errors(p)
    assert "orchard" in text(a) and "garden" in text(b)
    sessions = {d.name for d in (app.home / "sessions").iterdir()} - earlier
    assert len(sessions) == 2  # one upload folder each

    start_run(a, 100)
    a.wait_for_selector("text=/epoch [1-9]\\d*\\/100/", timeout=120_000)
    start_run(b, 20)
    # visibly in line
    b.wait_for_selector("text=/is waiting for this server's CPU: 1 run\\(s\\) ahead of it/", timeout=30_000)
    assert a.locator("text=/epoch \\d+\\/100/").count() == 1  # a still trains

    # Neither sees the other's data or runs.
    for p, theirs in (
        (a, ("cherry", "damson", "garden", "· 20 epochs")),
        (b, ("apple", "banana", "orchard")),
    ):
        go(p, "Data")
        shown = text(p)
        assert not any(t in shown for t in theirs), theirs
        go(p, "Train DANN")
    assert "epoch" in a.locator("[data-testid='stProgress']").inner_text()
    assert "Also" not in text(b) and a.url.split("sid=")[1] != b.url.split("sid=")[1]

    # a closes the browser in the middle of its run: b is not disturbed and runs next.
    contexts[0].close()
    # b's 20 epochs take about two seconds here, which a page polling every few seconds can show only
    # as finished: either proves it ran after a's
    b.wait_for_selector("text=/epoch [1-9]\\d*\\/20|finished: 20 epochs/", timeout=180_000)
    b.wait_for_selector("text=/finished: 20 epochs/", timeout=180_000)
    settle(b)
    no_errors(b)
    # b's comparison and Feature Space know one run: its own (a's finished by now, on a's data and a's id)
    # the comparison table, below the validators'
    b.locator("[data-testid='stDataFrame']").last.scroll_into_view_if_needed()
    b.wait_for_function(
        "Array.from(document.querySelectorAll('[data-testid^=glide-cell]'))"
        ".some(e => e.textContent.startsWith('dann'))"
    )
    cells = table_cells(b)
    assert sum(c.startswith("dann λ=0.1 constant") for c in cells) == 1, cells
    go(b, "Feature Space")
    b.locator("[data-testid='stSelectbox']").first.click()
    options = b.get_by_role("option").all_inner_texts()
    b.keyboard.press("Escape")
    assert len(options) == 1, options
    assert app.healthy()

    # a's run went on without its browser and is complete in the cache; b's is its own.
    records = {}
    for d in (app.home / "runs").iterdir():
        info = json.loads((d / "config.json").read_text())
        if info["dataset"] in ("orchard.zip", "garden.zip"):
            records[info["dataset"]] = (
                info,
                (d / "metrics.jsonl").read_text().count("\n"),
                (d / "owners").read_text().split(),
            )
    assert records.keys() == {"orchard.zip", "garden.zip"}
    assert records["orchard.zip"][1] == 100 and records["garden.zip"][1] == 20
    assert records["orchard.zip"][0]["classes"] == ["apple", "banana"] and records["garden.zip"][0][
        "classes"
    ] == ["cherry", "damson"]
    assert records["orchard.zip"][2] != records["garden.zip"][2]

    # a's upload folder goes once its session has ended (the test app's grace: 2 s); b's stays.
    time.sleep(3)
    go(b, "Data")  # any full rerun runs the housekeeping
    left = [d for d in (app.home / "sessions").iterdir() if d.name in sessions]
    assert len(left) == 1 and [z.name.split("-")[0] for z in (left[0] / "unpacked").iterdir()] == ["garden"]
    assert "garden" in text(b)
    contexts[1].close()
