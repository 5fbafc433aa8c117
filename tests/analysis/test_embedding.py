"""Feature extraction, t-SNE/PCA, alignment numbers, the cache, projector export and `embed`."""

import io
import json
import zipfile

import numpy as np
import pytest

from explorer.analysis import alignment, projector
from explorer.analysis import embedding as E
from explorer.cli import main
from explorer.dann.config import TrainConfig
from explorer.dann.trainer import train
from explorer.data.builtin import load_builtin
from explorer.errors import ExplorerError

SMALL = dict(width=0.125, image_size=16, batch_size=64, epochs=2)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    data = load_builtin(16)
    trainer, _ = train(TrainConfig(**SMALL), data, run_dir=tmp_path_factory.mktemp("runs"))
    return data, trainer.dir


def test_features_shapes_and_eval_mode(run, monkeypatch):
    data, d = run
    f = E.sample_features(d / "epoch_0002.pt", data, 50)
    assert f.features.shape == (100, 64) and f.features.dtype == np.float32
    assert (f.domain == 0).sum() == 50 and (f.label >= 0).all() and f.epoch == 2
    monkeypatch.setattr(E, "BATCH", 7)  # other batches: identical features only in eval mode
    assert np.allclose(E.sample_features(d / "epoch_0002.pt", data, 50).features, f.features, atol=1e-5)


def test_a_distance_and_knn_on_separable_and_mixed_features():
    rng = np.random.default_rng(0)
    same = rng.normal(size=(400, 32))
    dom = np.r_[np.zeros(200), np.ones(200)].astype(int)
    assert alignment.proxy_a_distance(same, dom) < 0.4
    apart = same + dom[:, None] * 4.0
    assert alignment.proxy_a_distance(apart, dom) > 1.9
    assert alignment.knn_class_agreement(apart, dom) > 0.99
    assert alignment.knn_class_agreement(same, rng.integers(0, 10, 400)) < 0.3
    assert alignment.knn_class_agreement(same, np.full(400, -1)) is None
    dom14 = np.r_[np.zeros(8), np.ones(6)].astype(int)
    # a network that learnt nothing
    assert alignment.proxy_a_distance(np.full((14, 64), 0.5, np.float32), dom14) == 0.0
    nearly = np.full((14, 64), 0.5, np.float32) + rng.normal(0, 1e-9, (14, 64)).astype(np.float32)
    # was NaN inside: a traceback on Feature Space
    assert 0.0 <= alignment.proxy_a_distance(nearly, dom14) <= 2.0


def test_embedding_is_cached_and_keyed_by_parameters(run):
    data, d = run
    first = E.embedding(d / "epoch_0002.pt", data, 60, "tsne", perplexity=10)
    again = E.embedding(d / "epoch_0002.pt", data, 60, "tsne", perplexity=10)
    assert not first.cached and again.cached and np.array_equal(first.coords, again.coords)
    assert first.coords.shape == (120, 2)
    assert not E.embedding(d / "epoch_0002.pt", data, 60, "tsne", perplexity=12).cached
    assert E.embedding(d / "epoch_0002.pt", data, 60, "pca").coords.shape == (120, 2)


def test_bad_requests(run):
    data, d = run
    with pytest.raises(ExplorerError, match="Perplexity 100 is too large for 40 points"):
        E.embedding(d / "epoch_0002.pt", data, 20, "tsne", perplexity=100)
    with pytest.raises(ExplorerError, match="Sample size 5,000 is larger than the data"):
        E.sample_features(d / "epoch_0002.pt", data, 5000)
    with pytest.raises(ExplorerError, match="trained on other data"):
        E.sample_features(d / "epoch_0002.pt", load_builtin(32), 10)


def test_projector_files(run):
    data, d = run
    emb = E.embedding(d / "epoch_0000.pt", data, 30, "pca")
    z = zipfile.ZipFile(io.BytesIO(projector.projector_zip(emb, data)))
    assert sorted(z.namelist()) == ["metadata.tsv", "projector_config.pbtxt", "sprite.png", "vectors.tsv"]
    assert len(z.read("vectors.tsv").decode().splitlines()) == 60
    meta = z.read("metadata.tsv").decode().splitlines()
    assert meta[0] == "domain\tclass\tprediction\tfile" and len(meta) == 61
    assert "single_image_dim: 16" in z.read("projector_config.pbtxt").decode()
    csv = projector.coords_csv(emb, data).splitlines()
    assert csv[0] == "x,y,domain,class,class_from,prediction,file" and len(csv) == 61


def test_cli_embed_from_a_train_folder(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "builtin", "--out", str(out), "--epochs", "1", "--width", "0.125"]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "embed",
                "--run",
                str(out),
                "--n",
                "100",
                "--method",
                "pca",
                "--out",
                str(tmp_path / "c.csv"),
                "--projector",
                str(tmp_path / "proj"),
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {"seconds", "a_distance", "n_source", "n_target"} <= summary.keys()
    assert summary["n_source"] == summary["n_target"] == 100 and 0 <= summary["a_distance"] <= 2
    assert (tmp_path / "proj" / "sprite.png").is_file()
    assert main(["embed", "--run", str(out), "--n", "100000", "--out", str(tmp_path / "x.csv")]) == 2
    assert "larger than the data" in capsys.readouterr().err


def test_a_distance_is_not_fooled_by_unequal_domain_sizes():
    rng = np.random.default_rng(1)
    same = rng.normal(size=(1300, 16))
    dom = np.r_[np.zeros(1000), np.ones(300)].astype(int)
    assert alignment.proxy_a_distance(same, dom) < 0.4  # balanced: predicting "source" does not help
    with pytest.raises(ExplorerError, match="at least 2 points from each domain"):
        alignment.proxy_a_distance(same[:11], np.r_[np.zeros(10), np.ones(1)].astype(int))
