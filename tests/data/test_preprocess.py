"""`canny: auto`: preprocessing chosen from unlabelled statistics of the two domains."""

import numpy as np
import torch

from explorer.data import preprocess as P
from explorer.data.builtin import _upscale, load_builtin, outline


def strokes(n=120, seed=0, thick=False):
    """(n, 1, 32, 32) white digit strokes on black, from scikit-learn's digits."""
    from sklearn.datasets import load_digits

    digits = load_digits().images[seed * n : (seed + 1) * n]
    x = _upscale(digits, 24, 32)
    if thick:
        import cv2

        x = np.stack([cv2.dilate(d, np.ones((2, 2), np.uint8)) for d in x])
    return torch.from_numpy(x)[:, None]


def test_clean_strokes_against_strokes_get_no_edges():
    chosen = P.choose(strokes(seed=0), strokes(seed=1))  # two halves of the same style: leave them alone
    assert chosen.edges == "none" and not chosen.invert
    assert chosen.evidence[0][0] == chosen.label and len(chosen.evidence) == len(P.candidates())


def test_opposite_polarity_is_inverted():
    chosen = P.choose(strokes(seed=0), 255 - strokes(seed=1))
    assert chosen.invert and chosen.edges == "none"


def test_photos_against_line_drawings_get_edges():
    ds = load_builtin(32)  # digits blended into photos -> white outline drawings
    chosen = P.choose(ds.source.images, ds.target.images)
    assert chosen.edges in ("source", "both")
    assert P.explain(chosen).startswith(f"auto: {chosen.label} (distance ")


def test_the_decision_is_deterministic_and_round_trips():
    src, tgt = (
        strokes(seed=0),
        torch.from_numpy(np.stack([outline(d) for d in strokes(seed=1)[:, 0].numpy()]))[:, None],
    )
    a, b = P.choose(src, tgt), P.choose(src, tgt)
    assert a == b and a.evidence == b.evidence
    assert P.Preprocess.from_dict(a.to_dict()) == a


def test_applying_keeps_channels_equal_and_colour_only_without_edges():
    colour = torch.randint(0, 255, (4, 3, 16, 16), dtype=torch.uint8)
    s, t = P.Preprocess("none").apply(colour, colour)
    assert s.shape[1] == t.shape[1] == 3
    s, t = P.Preprocess("source", 50, 100).apply(colour, colour)
    assert s.shape[1] == t.shape[1] == 1 and set(s.unique().tolist()) <= {0, 255}
    s, _ = P.Preprocess("none", invert=True).apply(colour[:, :1], colour[:, :1])
    assert torch.equal(s, 255 - colour[:, :1])
