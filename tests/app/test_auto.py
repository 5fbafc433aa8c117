"""Measured auto on the pages: a run left to auto trains its shortlist side by side and shows the
options' curves and the validator's pick; the next run reuses it and says so; the Canny Tuner shows
the options and the winner. Here only augmentation is left to auto (two options, one epoch each): the
whole default shortlist is measured in tests/execution/test_auto.py and in the browser's first
session (tests/e2e/test_first_session.py)."""

from tests.app.conftest import button, page, unexplained, wait_for


def test_a_run_left_to_auto_measures_then_the_next_reuses_the_choice(at):
    page(at, "train")
    assert at.radio(key="t_prep").value.startswith("auto") and at.radio(key="t_augment").value == "auto"
    at.radio(key="t_prep").set_value("off: no edges")  # by hand: auto measures the two augmentations
    at.number_input(key="t_epochs").set_value(1)
    at.select_slider(key="t_width").set_value(0.125)
    at.number_input(key="t_seed").set_value(0)
    button(at, "Start training").click().run()
    wait_for(at, lambda a: any("auto chose" in s.value for s in a.success), timeout=300)
    assert not at.exception and not at.error
    assert any(c.value.startswith("auto: measuring 2 options") for c in at.caption)
    chose = next(s.value for s in at.success if "auto chose" in s.value)
    assert "no target label was used" in chose
    tried = next(d.value for d in at.dataframe if "validator score" in d.value.columns)
    assert len(tried) == 2 and {"validator score", "at epoch", "target accuracy (labels, not used)"} <= set(
        tried.columns
    )
    # the builtin target has labels: the chosen option's accuracy, as the table has it, is the one it ships
    (check,) = [c.value for c in at.caption if "This target is labelled, so we can check" in c.value]
    chosen = tried[tried["option"] == chose.split("auto chose ")[1].split(".**")[0]].iloc[0]
    assert f"ships {chosen['target accuracy (labels, not used)']:.1f}% target accuracy at epoch" in check
    # the options' chart: one panel per question, one line per option; every number one click away
    assert any(e.label.startswith("Every number of every option") for e in at.expander)
    assert not unexplained(at), unexplained(at)

    at.number_input(key="t_seed").set_value(1)
    button(at, "Start training").click().run()
    wait_for(at, lambda a: any("finished: 1 epochs" in s.value for s in a.success), timeout=300)
    # one option trained, and the page says why
    assert any("measured on this data on" in c.value for c in at.caption)

    page(at, "canny")
    assert not at.exception and any("measured on this data on" in c.value for c in at.caption)
    assert any("option" in d.value.columns and len(d.value) == len(tried) for d in at.dataframe)
