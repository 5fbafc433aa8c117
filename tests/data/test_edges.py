"""Canny's ink against the target's: whether any threshold pair in the slider's range reaches it."""

import torch

from explorer.data import edges


def strokes(n: int = 20, size: int = 32, width: int = 3) -> torch.Tensor:
    """White vertical bars on black, `width` pixels wide: about 9% ink at width 3."""
    img = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    img[:, :, :, 8 : 8 + width] = 255
    return img


def test_flat_photos_never_reach_a_drawing_s_ink():
    flat = torch.full((20, 3, 32, 32), 120, dtype=torch.uint8)
    r = edges.ink_reach(flat, strokes())
    assert r.goal > 0.05 and r.most == 0.0 and not r.reachable
    assert 0 <= r.low < r.high <= 500


def test_noisy_photos_reach_it_at_some_pair_and_say_which():
    noisy = torch.randint(
        0, 256, (20, 3, 32, 32), generator=torch.Generator().manual_seed(0), dtype=torch.uint8
    )
    r = edges.ink_reach(noisy, strokes(width=8))  # 25% ink; Canny on noise draws about 15% to 39%
    assert r.least < r.goal < r.most and r.reachable
    assert abs(r.density - r.goal) < 0.05
    # the pair named gives the ink named
    assert abs(edges.edge_density(noisy, r.low, r.high) - r.density) < 1e-6


def test_thick_strokes_are_beyond_one_pixel_lines():
    noisy = torch.randint(
        0, 256, (20, 1, 32, 32), generator=torch.Generator().manual_seed(1), dtype=torch.uint8
    )
    r = edges.ink_reach(noisy, strokes(width=15))  # 47% ink
    assert r.goal > r.most and not r.reachable and r.density == r.most
