import re

import numpy as np

from explorer.analysis import charts
from explorer.data import grids, overview
from explorer.data.builtin import load_builtin


def test_summary_counts_and_histograms():
    ds = load_builtin()
    table = overview.summary(ds)
    assert table["domain"].tolist() == ["source", "target"]
    assert table["images"].tolist() == [len(ds.source), len(ds.target)]
    assert table["original size"].tolist() == ["32x32", "28x28"]
    assert table["original mode"].tolist() == [f"RGB ({len(ds.source)})", f"L ({len(ds.target)})"]
    counts = overview.class_counts(ds)
    assert counts.groupby("domain")["images"].sum().tolist() == [len(ds.source), len(ds.target)]
    hist = overview.intensity_histogram(ds)
    assert np.allclose(hist.groupby("domain")["fraction"].sum(), 1.0)
    # the domain shift in one number: drawings are mostly black background, photos are not
    first = hist[hist.intensity == 0].set_index("domain")["fraction"]
    assert first["target"] > 0.5 > first["source"]
    for chart in (charts.class_counts(counts), charts.intensity(hist)):
        assert chart.to_dict()["data"]


def test_unlabelled_target_is_one_bar(tmp_path):
    from dataclasses import replace

    ds = load_builtin()
    ds = replace(ds, target=replace(ds.target, labels=None, classes=()))
    counts = overview.class_counts(ds)
    assert counts[counts.domain == "target"]["class"].tolist() == ["unlabelled"]


def test_grids():
    ds = load_builtin()
    rows = grids.class_rows(ds.source.images, ds.source.labels, ds.classes, per_class=8, scale=2)
    assert rows.shape[0] == 10 * (64 + 2) and rows.shape[2] == 3
    sample = grids.sample(ds.target.images, 20, cols=10, scale=1)
    assert sample.shape == (2 * 32 + 2, 10 * 32 + 9 * 2, 3)


def test_the_embedded_pair_keeps_its_own_notes():
    said = " ".join(overview.notes(load_builtin()))
    assert "Photos spread over the whole intensity range" in said and "`test_data/0/`" in said


def test_notes_about_other_data_come_from_its_own_numbers(tmp_path):
    from explorer.data.domains import open_dataset
    from tests.conftest import make_image_folder, write_image

    source = make_image_folder(tmp_path / "s", ("cat", "dog"), per_class=3, size=(40, 40))
    for i in range(4):  # uneven classes: 7 cats, 3 dogs
        write_image(source / "cat" / f"extra{i}.png", (200, 200, 200), (40, 40))
    target = make_image_folder(tmp_path / "t", ("x",), per_class=5, mode="L", size=(20, 24))
    first, pixels, labels = overview.notes(open_dataset(source, target, size=32))
    assert first.startswith(
        "**Two domains, one task.** The source has 10 images in 2 classes; the target has 5"
    )
    assert (
        "Both are shown at 32x32 pixels; originally the source's images were 40x40 and the target's 20x24"
        in first
    )
    assert "The source is in colour and the target in grey" in first
    assert "The source's classes are uneven, from 3 to 7 images each" in first
    assert "overlap by " in pixels and "% (100% would be the same mix of shades)" in pixels
    assert "of the target's pixels are near black" in pixels  # a flat, dark grey target
    assert labels.startswith("**The target is unlabelled.**")
    said = " ".join((first, pixels, labels)).lower()
    assert "photo" not in said and "drawing" not in said and "test_data" not in said
    assert not re.search(r"\d\.\d{3}", said)  # numbers as a teacher says them


def test_alike_domains_are_said_to_be_alike_and_a_labelled_target_to_only_measure(tmp_path):
    from explorer.data.domains import open_dataset
    from tests.conftest import make_image_folder

    source = make_image_folder(tmp_path / "s", ("cat", "dog"), per_class=3)
    target = make_image_folder(tmp_path / "t", ("cat", "dog"), per_class=2)
    first, pixels, labels = overview.notes(open_dataset(source, target, size=16))
    assert "Both are in colour" in first and "uneven" not in first
    assert "In brightness the two domains are alike" in pixels
    assert labels.startswith("**The target's labels are not used for training.**")


def test_the_histogram_s_axes_fit_its_chart():
    spec = charts.intensity(overview.intensity_histogram(load_builtin())).to_dict()
    y, x = spec["encoding"]["y"], spec["encoding"]["x"]
    # a one-line title is longer than the plot is high and was cut off
    assert isinstance(y["title"], list) and max(map(len, y["title"])) <= 20
    # the last tick is the scale's end, so its label stands flush inside the chart
    assert x["axis"]["values"][-1] == x["scale"]["domain"][-1] == 255 and x["axis"]["labelFlush"]
    # the last bin is drawn as wide as the others (a step-after area needs its end point)
    (rows,) = spec["datasets"].values()
    ends = {d: max(r["intensity"] for r in rows if r["domain"] == d) for d in ("source", "target")}
    assert ends == {"source": 256.0, "target": 256.0}
