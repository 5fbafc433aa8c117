"""AppTest tests of the Canny Tuner's words: whether any threshold pair reaches the target's ink, and
what "edges on both" does to a target that is already strokes."""

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
