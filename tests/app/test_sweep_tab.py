"""Train DANN's Sweep tab: the default grid fits a first session, nothing is named best before every
run has ended, and a run opened from a cell says which selected run it replaced."""

import threading

import pytest
from streamlit.testing.v1 import AppTest

from explorer.dann.validators import DEFAULT, named
from tests.app.conftest import button, page

PREFERS = f"**Without labels**, the validator ({named(DEFAULT)}) prefers"


@pytest.fixture(autouse=True)
def quick_estimate(monkeypatch):
    """The form's estimate without timing the network (the probe is `estimates.step_seconds`)."""
    from explorer.execution import estimates

    monkeypatch.setattr(estimates, "step_seconds", lambda *a: 0.01)


def form_caption(at) -> str:
    return next(c.value for c in at.caption if " runs** (" in c.value)


def test_the_default_sweep_is_one_run_per_lambda_and_the_row_without_edges_is_one_tick_away(at):
    page(at, "train")
    assert at.multiselect(key="s_lambdas").value == [0.0, 0.1, 0.3, 1.0]
    assert at.multiselect(key="s_canny").value == ["auto"]
    assert "**4 runs**" in form_caption(at) and "about **" in form_caption(at)
    at.checkbox(key="s_off").check().run()
    assert "**8 runs**" in form_caption(at)


def _half_done(owner: str):
    """A sweep on the page's data whose first run has finished and whose second has not started."""
    from explorer.dann.config import TrainConfig
    from explorer.data.builtin import load_builtin
    from explorer.execution.events import Done
    from explorer.execution.grid import Grid
    from explorer.execution.sweep import Sweep
    from explorer.store.home import subdir

    base = TrainConfig(epochs=1, width=0.125, canny=None, augment="none")
    grid = Grid.parse(["lamb=0,1", "lambda_schedule=constant", "canny=off", "method=dann"])  # as the form
    sweep = Sweep(grid, base, load_builtin(32), subdir("runs"), workers=1, owner=owner)
    stop = threading.Event()
    for e in sweep.events(stop):
        if isinstance(e, Done):
            stop.set()
    return sweep


def panel(at) -> str:
    return " ".join(m.value for m in [*at.markdown, *at.caption])


def test_the_panel_ranks_so_far_until_every_run_has_ended_then_names_the_best(at):
    sweep = _half_done(at.session_state.owner)
    at.session_state["sweep"] = {"job": "gone", "sweep": sweep}
    page(at, "train")
    assert not at.exception
    text = panel(at)
    assert (
        "**So far, among 1 finished run of 2**, the validator (" + named(DEFAULT) + ") ranks **λ=0** first"
        in text
    ), text
    assert "The verdict comes when all 2 runs have ended." in text
    assert "Without labels" not in text and "the best is" not in text and "winner" not in text
    list(sweep.events())  # the second run trains: every run has ended
    at.run()
    text = panel(at)
    assert PREFERS in text and "So far" not in text


def _opener():
    import streamlit as st

    from app_pages.lib.runpicker import select

    st.session_state.setdefault("run", "a" * 16)
    if st.button("open"):
        select("b" * 16, opened_from="the sweep's cell λ=1")
    if st.button("choose"):
        select("c" * 16)
    st.write(repr(st.session_state.get("run_replaced")))


def test_opening_a_run_from_elsewhere_remembers_the_run_it_replaced():
    at = AppTest.from_function(_opener).run()
    button(at, "open").click().run()
    assert at.session_state.run == "b" * 16
    assert at.session_state.run_replaced == {
        "run": "b" * 16,
        "before": "a" * 16,
        "from": "the sweep's cell λ=1",
    }
    button(at, "choose").click().run()  # a choice in the run box: nothing to offer back any more
    assert at.session_state.run == "c" * 16 and "run_replaced" not in at.session_state


def test_the_run_box_says_which_run_a_sweep_cell_replaced_and_offers_it_back(at):
    from explorer.dann.config import TrainConfig
    from explorer.data.builtin import load_builtin
    from tests.app.test_app_training import fake_run

    fingerprint, me = load_builtin(32).fingerprint, at.session_state.owner
    before, opened = (TrainConfig(epochs=1, lamb=v, canny=None, augment="none") for v in (0.1, 1.0))
    for config in (before, opened):
        fake_run(config, fingerprint, me, [0.5], [0.4])
    ids = [c.run_id(fingerprint, "cpu") for c in (before, opened)]
    # as the sweep's cell leaves it (`runpicker.select(..., opened_from=...)`)
    at.session_state["run"] = ids[1]
    at.session_state["run_replaced"] = {"run": ids[1], "before": ids[0], "from": "the sweep's cell λ=1"}
    page(at, "train")
    note = next(i.value for i in at.info if i.value.startswith("Opened from"))
    assert "the sweep's cell λ=1: this run is now the selected run on every page, in place of **" in note
    assert ids[0][:6] in note  # the replaced run, by its label
    next(b for b in at.button if b.label == "Back to the run selected before").click().run()
    assert at.session_state.run == ids[0]
    assert not any(i.value.startswith("Opened from") for i in at.info)
