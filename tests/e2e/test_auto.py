"""Measured auto in a real browser: the first default run trains the shortlist side by side, the
page shows the options' curves and the validator's pick with whether the labels agree; the Canny
Tuner then shows the options and the winner."""

from tests.e2e.conftest import go, no_errors, settle, shoot
from tests.e2e.test_training import set_number


def measure_default(page) -> None:
    """Train DANN's Start with every option at its default (3 epochs): the first run measures, until auto has chosen."""
    go(page, "Train DANN")
    set_number(page, "Epochs", 3)
    page.get_by_role("button", name="Start training").click()
    page.wait_for_selector("text=auto: measuring", timeout=60_000)
    page.wait_for_selector("[data-testid='stAlertContentSuccess']:has-text('auto chose')", timeout=300_000)


def test_the_first_default_run_measures_and_the_page_shows_the_options_and_the_pick(page):
    measure_default(page)
    settle(page, 1500)
    no_errors(page)
    main = page.locator("[data-testid='stMain']").inner_text()
    assert "no target label was used" in main and "This target is labelled, so we can check" in main
    shoot(page, "train_auto", part=".st-key-this_run")
    go(page, "Canny Tuner")
    page.wait_for_selector("text=What auto measured")
    assert "measured on this data on" in page.locator("[data-testid='stMain']").inner_text()
    no_errors(page)
    shoot(page, "canny_auto")
