"""Measured auto on the pages: the first default run on Train DANN trains the shortlist side by side
and shows the options' curves and the validator's pick; the next run reuses it and says so; the
Canny Tuner shows the options and the winner."""

import time

from tests.app.test_app_training import at, button, page, wait_for  # noqa: F401 (at: the fixture)


def test_the_first_default_run_measures_then_the_next_reuses_the_choice(at):  # noqa: F811
    page(at, "train")
    assert at.radio(key="t_prep").value.startswith("auto") and at.radio(key="t_augment").value == "auto"
    at.number_input(key="t_epochs").set_value(1)
    at.select_slider(key="t_width").set_value(0.125)
    at.number_input(key="t_seed").set_value(int(time.time() * 1000) % 100000)
    button(at, "Start training").click().run()
    wait_for(at, lambda a: any("auto chose" in s.value for s in a.success), timeout=300)
    assert not at.exception and not at.error
    chose = next(s.value for s in at.success if "auto chose" in s.value)
    assert "no target label was used" in chose
    tried = next(d.value for d in at.dataframe if "option" in d.value.columns)
    assert len(tried) >= 4 and {"im score", "at epoch", "target acc (labels, not used)"} <= set(tried.columns)
    assert any(
        "This target is labelled, so we can check" in c.value for c in at.caption
    )  # the builtin target has labels
    assert any(c.value.startswith("auto: measuring") for c in at.caption)

    at.number_input(key="t_seed").set_value(at.number_input(key="t_seed").value + 1)
    button(at, "Start training").click().run()
    wait_for(at, lambda a: any("finished: 1 epochs" in s.value for s in a.success), timeout=300)
    assert any(
        "measured on this data on" in c.value for c in at.caption
    )  # one option trained, and the page says why

    page(at, "canny")
    assert not at.exception and any("measured on this data on" in c.value for c in at.caption)
    assert any("option" in d.value.columns and len(d.value) == len(tried) for d in at.dataframe)
