"""AppTest tests of the Canny Tuner's words: whether any threshold pair reaches the target's ink, and
what "edges on both" does to a target that is already strokes; its buttons and the chart of auto's
options."""

import json
import re
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.data.domains import _assemble, pair

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def at():
    return AppTest.from_file(APP, default_timeout=120).run().switch_page("app_pages/canny.py").run()


def captions(at) -> str:
    return " ".join(c.value for c in at.caption) + " ".join(c for i in at.image for c in i.captions)


def test_on_the_default_pair_the_ink_is_in_reach_and_double_outlines_are_named(at):
    assert not at.exception and not at.error
    said = captions(at)
    reach = r"The target's ink \(\d+\.\d%\) is within the slider's reach: "
    assert re.search(reach + r"the closest pair is \d+/\d+, at \d+\.\d%", said)
    assert "Canny draws each stroke's two borders, so every line becomes a double outline" in said
    # the default pair's choice, and its strip says what happened to the target
    assert "auto: edges on both" in at.info[0].value
    assert "target (bottom, Canny'd too: each stroke drawn as its two borders)" in said
    assert re.search(r"distance to the target \d\.\d{3}; the next: .+ at \d\.\d{3}", at.info[0].value)


def domain(images: torch.Tensor, labels: list[int] | None):
    good = [
        ((f"{i}.png", None if labels is None else str(labels[i])), (img.permute(1, 2, 0).numpy(), _Info()))
        for i, img in enumerate(images)
    ]
    return _assemble("d", "d", good, (), [])


class _Info:
    width = height = 32
    mode = "L"


def test_a_flat_source_says_no_pair_reaches_the_target_s_ink():
    flat = torch.full((40, 1, 32, 32), 128, dtype=torch.uint8)
    strokes = torch.zeros(40, 1, 32, 32, dtype=torch.uint8)
    strokes[:, :, :, 10:14] = 255
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["dataset"] = pair(
        domain(flat, [i % 2 for i in range(40)]), domain(strokes, None), "flat → strokes"
    )
    at.run().switch_page("app_pages/canny.py").run()
    assert not at.exception and not at.error
    said = captions(at)
    assert "No threshold pair reaches the target's ink (12.5%); the closest is " in said
    assert (
        "the most Canny draws on these images: its lines are one pixel wide. "
        "Match the shapes, not the amount of ink." in said
    )


def test_keeping_auto_is_the_primary_button_and_the_thresholds_the_secondary(at):
    kinds = {b.label: b.proto.type for b in at.button}
    assert kinds["Use auto for training (the default)"] == "primary"
    assert kinds["Use these thresholds for training instead"] == "secondary"
    at.slider(key="canny_range").set_value((60, 130)).run()
    next(b for b in at.button if b.label.startswith("Use these thresholds")).click().run()
    assert at.session_state["canny"] == (60, 130)
    assert any("Training uses Canny 60/130 on the source." in c.value for c in at.caption)
    next(b for b in at.button if b.label.startswith("Use auto")).click().run()
    assert at.session_state["canny"] == "auto"
    assert any(c.value == "Training uses auto." for c in at.caption)


def test_auto_s_option_names_stand_above_their_bars_never_on_them(at):
    specs = [json.loads(c.proto.spec) for c in at.get("vega_lite_chart")]
    spec = next(s for s in specs if "distance to the target" in json.dumps(s))
    bars, *names = spec["layer"]
    assert bars["mark"]["type"] == "bar" and len(names) == 2
    # a bar's top edge lies below its row's middle; a name's bottom edge sits on that middle
    assert bars["mark"]["yOffset"] - bars["mark"]["size"] / 2 > 0
    for text in names:
        assert text["mark"]["type"] == "text" and text["mark"]["baseline"] == "bottom"
        assert "dy" not in text["mark"] and "yOffset" not in text["mark"]
    assert {t["mark"]["fontWeight"] for t in names} == {"bold", "normal"}  # the chosen one in bold
    from explorer.data.preprocess import candidates

    assert spec["height"] >= 26 * len(candidates())  # room for a name and a bar in every row
