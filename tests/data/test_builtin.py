import numpy as np
import torch

from explorer.data import builtin
from explorer.data.builtin import load_builtin


def test_shapes_labels_and_domains():
    ds = load_builtin()
    assert ds.classes == tuple(str(i) for i in range(10))
    assert ds.source.images.shape[1:] == (3, 32, 32) and ds.target.images.shape[1:] == (1, 32, 32)
    assert len(ds.source) + len(ds.target) == 1797
    assert ds.target.labelled  # kept for evaluation only
    assert set(ds.source.labels.tolist()) == set(range(10)) == set(ds.target.labels.tolist())
    assert set(map(tuple, ds.target.sizes.tolist())) == {(28, 28)}
    assert ds.notes == ()


def test_halves_are_disjoint_and_fixed():
    raw = builtin.build_raw()
    assert not set(raw["source_index"]) & set(raw["target_index"])
    again = builtin.build_raw()
    assert all(np.array_equal(raw[k], again[k]) for k in raw)


def test_mnist_m_recipe_and_plain_strokes():
    raw = builtin.build_raw()
    src, tgt = raw["source"], raw["target"]
    # colour: channels differ, unlike a grey image
    assert np.abs(src[..., 0].astype(int) - src[..., 2]).mean() > 5
    # drawings: black background, white strokes in the middle, outlines rather than filled shapes
    assert (tgt[:, :2] == 0).all() and set(np.unique(tgt)) == {0, 255}
    square = np.zeros((28, 28), np.uint8)
    square[8:20, 8:20] = 200
    drawn = builtin.outline(square)
    assert drawn[14, 14] == 0 and drawn[8, 14] == 255 and drawn[2, 2] == 0
    patch = np.array([[[10, 200, 30], [10, 200, 30]]], np.uint8)
    stroke = np.array([[0, 255]], np.uint8)
    # no stroke: the photo; full stroke: the inverted photo
    assert builtin.blend(patch, stroke).tolist() == [[[10, 200, 30], [245, 55, 225]]]


def test_disk_cache_is_used_and_rebuilt(explorer_home):
    first = load_builtin()
    cache = explorer_home / builtin.CACHE_NAME
    assert cache.is_file()
    cache.write_bytes(b"corrupt")  # a broken cache is rebuilt, not fatal
    assert load_builtin().fingerprint == first.fingerprint
    assert np.load(cache)["source"].shape == (898, 32, 32, 3)


def test_other_sizes_go_through_the_same_pipeline():
    ds = load_builtin(16)
    assert ds.source.images.shape[-2:] == (16, 16) and ds.source.images.dtype == torch.uint8
