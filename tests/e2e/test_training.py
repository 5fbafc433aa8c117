"""The teaching loop in a browser: tune Canny, train DANN and watch it, stop, see the t-SNE."""

import os

from tests.e2e.conftest import (
    by_hand,
    epoch_shown,
    first_selectbox,
    go,
    no_errors,
    set_number,
    settle,
    shoot,
    wait_epoch,
)


def test_tune_canny_train_watch_stop_and_draw_the_tsne(page):
    go(page, "Canny Tuner")
    low = page.get_by_role("slider").first
    low.focus()
    for _ in range(20):
        low.press("ArrowLeft")  # one step each: 100 -> 80
    page.wait_for_selector("text=At 80/200:")  # the edge share is recomputed for the new thresholds
    settle(page)
    page.get_by_role("button", name="Use these thresholds for training instead").click()
    page.wait_for_selector("text=Training uses Canny 80/200 on the source.")
    settle(page)
    no_errors(page)
    shoot(page, "canny")

    go(page, "Train DANN")
    assert page.get_by_text("Canny 80/200 on the source").count() == 1
    set_number(page, "Epochs", 300)
    by_hand(page)
    page.get_by_role("button", name="Start training").click()
    wait_epoch(page, 1)
    # the live curves under "This run" (the overlay below joins the run after its first epoch,
    # and grows only on a full rerun)
    first, chart = epoch_shown(page), page.locator(".st-key-this_run [data-testid='stVegaLiteChart']").first
    before = chart.screenshot()
    # Three more epochs show the curves growing; for the README's screenshots the run goes on to
    # epoch 20, so Feature Space shows the domains merging rather than the first steps.
    until = 20 if os.environ.get("E2E_SCREENSHOTS") else first + 3
    wait_epoch(page, until, timeout=180_000)
    assert epoch_shown(page) >= until
    assert chart.screenshot() != before  # the curves grew
    no_errors(page)
    shoot(page, "train")
    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_selector(
        "text=/Stopped by request during epoch \\d+; the checkpoint of epoch \\d+ is kept/", timeout=60_000
    )
    settle(page)
    no_errors(page)
    assert page.get_by_role("button", name="Clear my cached runs").count() == 1

    go(page, "Feature Space")
    shown = first_selectbox(page)
    assert "dann λ=0.1 constant" in shown, shown
    page.wait_for_function(
        "document.querySelectorAll('[data-testid=\"stMetric\"]').length >= 6", timeout=240_000
    )
    settle(page, 2000)
    no_errors(page)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert main.count("domain separation") == 2 and "source +" in main
    assert page.locator("[data-testid='stVegaLiteChart']").count() == 2  # epoch 0 and the last checkpoint
    shoot(page, "features")

    # The training movie of the same run: Play steps through the frames inside the page.
    page.locator("[data-testid='stButtonGroup']").get_by_text("Training movie", exact=True).click()
    page.wait_for_selector("text=/\\d+ frames · [\\d,]+ points each/", timeout=240_000)
    settle(page)
    no_errors(page)
    page.get_by_role("button", name="Play").click()
    shown = set()
    for _ in range(40):
        shown.add(page.locator("[data-testid='stMetric']").first.inner_text())  # "epoch\nN"
        if len(shown) >= 3:
            break
        page.wait_for_timeout(300)
    assert len(shown) >= 3, shown  # the first frame and at least two more, without a click each
    page.wait_for_selector("button:has-text('Play')", timeout=60_000)  # it stops at the last frame
    settle(page)
    no_errors(page)
    shoot(page, "features_movie")

    # Layer Activations sets the run beside its own random start, the best pair this offline machine has.
    go(page, "Layer Activations")
    page.wait_for_selector("text=the most informative pair on this machine", timeout=60_000)
    settle(page, 1500)
    no_errors(page)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert main.count("kernels of 3x3") == 2 and "epoch 0" in main
    shoot(page, "activations_compare")


def test_sweep_fills_the_heat_map_and_a_cell_opens_its_run(page):
    go(page, "Train DANN")
    set_number(page, "Epochs", 2 if not os.environ.get("E2E_SCREENSHOTS") else 8)
    page.get_by_role("tab", name="Sweep").click()
    page.wait_for_selector("text=/4 runs/")  # the default: one run per λ, auto's choice
    page.get_by_role("button", name="Start sweep").click()
    page.wait_for_selector("text=Sweep finished: 4 runs.", timeout=300_000)
    settle(page, 2000)
    no_errors(page)
    assert "Without labels" in page.locator("[data-testid='stMain']").inner_text()
    heat_map = page.locator("[data-testid='stVegaLiteChart']").filter(has_text="preprocessing").first
    shoot(page, "train_sweep", part=".st-key-sweep_results")
    heat_map.scroll_into_view_if_needed()
    box = heat_map.bounding_box()
    for dx in range(60, int(box["width"]), 25):  # along the first row until a cell takes the click
        page.mouse.click(box["x"] + dx, box["y"] + 25)
        page.wait_for_timeout(800)
        if "/features" in page.url:
            break
    page.wait_for_selector("[data-testid='stMain'] h1:has-text('Feature Space')")
    settle(page)
    shown = first_selectbox(page)
    assert "dann λ=0 constant" in shown, shown  # the first row's first cell: λ = 0
    no_errors(page)
