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
