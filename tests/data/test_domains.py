from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import ImageFolder

from explorer.data.domains import find_pair, load_domain, open_dataset, pair
from explorer.errors import DataError
from tests.conftest import make_homework_layout, make_image_folder, png_bytes, write_image, zip_folder


def test_image_folder_matches_torchvision_order_and_labels(tmp_path):
    root = make_image_folder(tmp_path / "src", classes=("dog", "cat", "bird"), per_class=4)
    (root / "cat" / "sub").mkdir()
    write_image(root / "cat" / "sub" / "zz.png")
    d = load_domain(root, size=16)
    ref = ImageFolder(str(root))
    assert d.classes == tuple(ref.classes) == ("bird", "cat", "dog")
    assert list(d.files) == [str(Path(p).relative_to(root)) for p, _ in ref.samples]
    assert d.labels.tolist() == [y for _, y in ref.samples]
    assert d.images.shape == (13, 3, 16, 16) and d.images.dtype == torch.uint8
    assert d.labelled and d.channels == 3


def test_homework_layout(tmp_path):
    root = make_homework_layout(tmp_path / "real_or_drawing", per_class=2, n_target=5)
    ds = open_dataset(root)
    assert ds.classes == tuple(str(i) for i in range(10))
    assert ds.source.images.shape == (20, 3, 32, 32)
    assert not ds.target.labelled  # test_data/0 is one folder: unlabelled
    assert ds.target.images.shape == (5, 1, 32, 32)  # grey, resized from 28 to the chosen 32
    assert set(map(tuple, ds.target.sizes.tolist())) == {(28, 28)}
    assert ds.target.files == tuple(f"0/{i:05d}.bmp" for i in range(5))
    assert ds.notes == ()


def test_homework_layout_as_a_zip_with_a_wrapper_folder(tmp_path):
    root = make_homework_layout(tmp_path / "real_or_drawing")
    z = zip_folder(root, tmp_path / "hw.zip", prefix="real_or_drawing/")
    ds = open_dataset(z)
    assert len(ds.source) == 20 and len(ds.target) == 5
    assert ds.name == "real_or_drawing"


def test_source_target_layout_and_separate_paths(tmp_path):
    make_image_folder(tmp_path / "pair" / "source", ("a", "b"))
    make_image_folder(tmp_path / "pair" / "target", ("a", "b"), mode="L")
    assert find_pair(tmp_path / "pair") is not None
    ds = open_dataset(tmp_path / "pair")
    ds2 = open_dataset(tmp_path / "pair" / "source", tmp_path / "pair" / "target")
    assert ds.fingerprint == ds2.fingerprint
    assert ds.target.labelled


def test_target_labels_are_renumbered_to_source_classes(tmp_path):
    src = load_domain(make_image_folder(tmp_path / "s", ("a", "b", "c", "d")))
    tgt = load_domain(make_image_folder(tmp_path / "t", ("b", "d"), per_class=2))
    ds = pair(src, tgt)
    assert ds.target.classes == ("a", "b", "c", "d")
    assert ds.target.labels.tolist() == [1, 1, 3, 3]


def test_mismatched_target_classes_make_it_unlabelled_with_a_note(tmp_path):
    src = load_domain(make_image_folder(tmp_path / "s", ("cat", "dog")))
    tgt = load_domain(make_image_folder(tmp_path / "t", ("cat", "horse")))
    ds = pair(src, tgt)
    assert not ds.target.labelled
    assert any("horse" in n and "unlabelled" in n for n in ds.notes)


def test_flat_folder_is_unlabelled_and_cannot_be_the_source(tmp_path):
    for i in range(3):
        write_image(tmp_path / "flat" / f"{i}.png")
    d = load_domain(tmp_path / "flat")
    assert not d.labelled and len(d) == 3
    with pytest.raises(DataError, match="must be labelled"):
        pair(d, d)


def test_single_class_source_gets_a_note(tmp_path):
    src = load_domain(make_image_folder(tmp_path / "s", ("only",)))
    ds = pair(src, load_domain(make_image_folder(tmp_path / "t", ("x",))))
    assert any("only one class" in n for n in ds.notes)


def test_bad_files_are_skipped_and_counted(tmp_path):
    root = make_image_folder(tmp_path / "s", ("a", "b"), per_class=5)
    (root / "a" / "zero.png").write_bytes(b"")
    (root / "a" / "text.png").write_bytes(b"not an image at all")
    (root / "b" / "trunc.png").write_bytes(png_bytes(size=(64, 64))[:40])
    write_image(root / "b" / "tiny.png", size=(1, 1))
    (root / "b" / "notes.txt").write_text("ignored: not an image name")
    d = load_domain(root)
    assert len(d) == 10
    reasons = dict(d.skipped)
    assert set(reasons) == {"a/zero.png", "a/text.png", "b/trunc.png", "b/tiny.png"}
    assert "empty file" in reasons["a/zero.png"] and "too small" in reasons["b/tiny.png"]
    assert any("4 of 14" in n for n in d.notes)


def test_nothing_readable_is_an_error_naming_a_file(tmp_path):
    (tmp_path / "s" / "a").mkdir(parents=True)
    (tmp_path / "s" / "a" / "x.png").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"None of the 1 image file\(s\).*x.png: not an image"):
        load_domain(tmp_path / "s")


def test_empty_class_folders_and_folders_without_images(tmp_path):
    root = make_image_folder(tmp_path / "s", ("a", "b"))
    (root / "empty").mkdir()
    assert any("Empty class folder(s) skipped: empty" in n for n in load_domain(root).notes)
    (tmp_path / "none" / "a").mkdir(parents=True)
    (tmp_path / "none" / "a" / "readme.txt").write_text("hi")
    with pytest.raises(DataError, match="No images in .*found 1 other file"):
        load_domain(tmp_path / "none")


def test_loose_images_beside_class_folders_are_ignored_with_a_note(tmp_path):
    root = make_image_folder(tmp_path / "s", ("a", "b"))
    write_image(root / "stray.png")
    d = load_domain(root)
    assert len(d) == 6 and any("directly in s/ were ignored" in n for n in d.notes)


def test_two_domain_folder_given_as_one_domain(tmp_path):
    root = make_homework_layout(tmp_path / "real_or_drawing")
    with pytest.raises(DataError, match="holds two domains"):
        load_domain(root)


def test_wrong_paths(tmp_path):
    with pytest.raises(DataError, match="Not found"):
        load_domain(tmp_path / "nope")
    make_image_folder(tmp_path / "s")
    with pytest.raises(DataError, match="is not a two-domain folder"):
        open_dataset(tmp_path / "s")
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataError, match="not a folder or a .zip"):
        load_domain(tmp_path / "f.txt")


def test_grey_and_colour_mixed_gives_three_channels(tmp_path):
    write_image(tmp_path / "s" / "a" / "1.png", 128, mode="L")
    write_image(tmp_path / "s" / "a" / "2.png", (1, 2, 3))
    d = load_domain(tmp_path / "s")
    assert d.channels == 3
    assert (d.images[0] == 128).all()  # grey repeated over three channels
    assert d.modes == ("L", "RGB")


def test_size_and_fingerprint(tmp_path):
    root = make_image_folder(tmp_path / "s")
    a, b = load_domain(root, size=16), load_domain(root, size=16)
    assert a.images.shape[-1] == 16 and a.fingerprint == b.fingerprint
    assert load_domain(root, size=24).fingerprint != a.fingerprint
    write_image(root / "cat" / "000.png", (1, 1, 1))
    assert load_domain(root, size=16).fingerprint != a.fingerprint
    with pytest.raises(DataError, match="out of range"):
        load_domain(root, size=4)


def test_all_huge_and_hostile_sizes_in_a_folder(tmp_path):
    from PIL import Image

    root = make_image_folder(tmp_path / "s", ("a",), per_class=2)
    Image.new("L", (10_000, 10_000)).save(root / "a" / "bomb.png")
    d = load_domain(root)
    assert len(d) == 2 and "too large" in dict(d.skipped)["a/bomb.png"]
    assert np.array_equal(d.sizes, [[16, 16], [16, 16]])
