"""The training movie: aligned frames, numbers per frame, the cache, exports, `embed --all-epochs`,
bad runs."""

import json
import shutil
import threading
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from explorer.analysis import movie as M
from explorer.analysis import movie_export as X
from explorer.analysis import warmstart as W
from explorer.analysis.embedding import embed, sample_features
from explorer.cli import main
from explorer.dann.config import TrainConfig
from explorer.dann.trainer import Trainer, train
from explorer.data.builtin import load_builtin
from explorer.errors import ExplorerError

N = 150  # points per domain


@pytest.fixture(scope="module")
def data():
    return load_builtin(32)


@pytest.fixture(scope="module")
def dann_run(data, tmp_path_factory):
    """DANN on the embedded pair, where adaptation works: epochs 0, 1, 2, 3, 5 are kept. The plain
    eager step: the steadiness margin below was measured on it (on the channels-last path this
    5-epoch run's aligned frames were only 1.03x steadier than independent maps; bench_movie's
    4,000 points are the real measure)."""
    trainer, _ = train(
        TrainConfig(width=0.25, image_size=32, batch_size=64, epochs=5, fast="off"),
        data,
        run_dir=tmp_path_factory.mktemp("dann"),
    )
    return trainer.dir


def test_frames_share_points_and_mixing_rises_where_adaptation_works(dann_run, data):
    mv = M.movie(dann_run, data, N)
    assert [f.epoch for f in mv.frames] == [0, 1, 2, 3, 5] and not mv.skipped and mv.note is None
    rows = X.table(mv)
    assert list(rows.columns) == ["epoch", "index", "domain", "label", "predicted", "x", "y"]
    assert len(rows) == 5 * 2 * N
    per_frame = [g[["index", "domain", "label"]].to_numpy().tolist() for _, g in rows.groupby("epoch")]
    # the same sampled points, in the same order, in every frame
    assert all(p == per_frame[0] for p in per_frame)
    assert mv.frames[-1].mixing > mv.frames[0].mixing + 0.1
    assert not mv.frames[0].changed.any()
    changed = mv.frames[-1].pred != mv.frames[-2].pred
    assert np.array_equal(mv.frames[-1].changed, changed)
    accs = [f.target_acc for f in mv.frames]
    assert all(0 <= a <= 1 for a in accs) and accs[-1] > accs[0]


def test_progress_counts_the_frames_there_will_be(dann_run, data):
    # a finished run: it holds epoch 5, which epoch_0005.pt shows already
    assert (dann_run / "last.pt").is_file()
    calls = []
    mv = M.movie(dann_run, data, N, progress=lambda done, total: calls.append((done, total)))
    assert len(mv.frames) == 5 and {total for _, total in calls} == {5} and calls[-1] == (5, 5)


def test_aligned_frames_are_steadier_than_independent_maps(dann_run, data):
    mv = M.movie(dann_run, data, N)
    independent = [
        embed(sample_features(p, data, N).features, seed=e)
        for e, p in enumerate(M.epoch_checkpoints(dann_run))
    ]
    # 1.5x on these 300 points and 5 frames of a tiny model (1.9x with older torch/openTSNE builds);
    # 6.3x at 4,000 points (bench/bench_movie.py)
    assert W.jitter([f.coords for f in mv.frames]) * 1.25 < W.jitter(independent)
    # Procrustes: the least-squares fit, never worse than no turn
    pca = M.movie(dann_run, data, N, method="pca")
    assert W.jitter([f.coords for f in pca.frames]) <= W.jitter(
        [embed(sample_features(p, data, N).features, "pca") for p in M.epoch_checkpoints(dann_run)]
    )


def test_procrustes_undoes_a_rotation_and_a_reflection(rng):
    ref = rng.normal(size=(50, 2)).astype(np.float32)
    # a reflection after a rotation
    turn = np.array([[0.0, 1.0], [1.0, 0.0]]) @ np.array([[0.6, -0.8], [0.8, 0.6]])
    assert np.allclose(W.procrustes(ref @ turn + 3.0, ref), ref, atol=1e-4)


def test_mixing_is_near_zero_for_source_only_on_disjoint_domains(data, tmp_path):
    # black strokes on white
    inverted = replace(data, target=replace(data.target, images=255 - data.target.images))
    trainer, _ = train(
        TrainConfig(method="source-only", width=0.125, image_size=32, batch_size=64, epochs=2, canny=None),
        inverted,
        run_dir=tmp_path / "run",
    )
    mv = M.movie(trainer.dir, inverted, N)
    assert all(f.mixing < 0.15 and f.a_distance > 1.8 for f in mv.frames), [
        (f.mixing, f.a_distance) for f in mv.frames
    ]


def test_frames_are_cached_and_a_new_epoch_adds_one_frame(dann_run, data, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(dann_run, run)
    (run / "epoch_0005.pt").unlink()
    (run / "last.pt").unlink()  # as if epoch 3 were the last one trained
    first = M.movie(run, data, N, method="pca")
    again = M.movie(run, data, N, method="pca")
    assert first.computed == 4 and again.computed == 0 and again.seconds == 0
    assert all(np.array_equal(a.coords, b.coords) for a, b in zip(first.frames, again.frames))
    shutil.copy(dann_run / "epoch_0005.pt", run)  # the run saved another epoch
    shutil.copy(dann_run / "last.pt", run)  # (the same epoch: not a frame of its own)
    grown = M.movie(run, data, N, method="pca")
    assert grown.computed == 1 and [f.epoch for f in grown.frames] == [0, 1, 2, 3, 5]


def test_a_stopped_run_ends_on_its_last_epoch(data, tmp_path):
    trainer, stop = (
        Trainer(TrainConfig(width=0.125, image_size=32, batch_size=128, epochs=10), data, tmp_path / "run"),
        threading.Event(),
    )
    for event in trainer.events(stop):
        if event.get("epoch") == 4:
            stop.set()  # as the Stop button does: epoch 4 is kept in last.pt only (not a kept epoch)
    assert event["kind"] == "stopped"
    mv = M.movie(trainer.dir, data, N, method="pca")
    assert [f.epoch for f in mv.frames] == [0, 1, 2, 3, 4] and not mv.skipped


def test_gif_has_one_frame_per_epoch_and_csv_parses(dann_run, data, tmp_path):
    mv = M.movie(dann_run, data, N, method="pca")
    path = tmp_path / "movie.gif"
    path.write_bytes(X.gif(mv))
    with Image.open(path) as im:
        assert im.format == "GIF" and im.n_frames == len(mv.frames) == 5
    lines = X.csv(mv).splitlines()
    assert lines[0] == "epoch,index,domain,label,predicted,x,y" and len(lines) == 1 + 5 * 2 * N


def test_bad_runs(dann_run, data, tmp_path):
    with pytest.raises(ExplorerError, match="no epoch checkpoints"):
        M.movie(tmp_path, data, N)
    with pytest.raises(ExplorerError, match="not a run folder"):
        M.movie(tmp_path / "missing", data, N)
    one = tmp_path / "one"
    one.mkdir()
    shutil.copy(dann_run / "config.json", one)
    shutil.copy(dann_run / "epoch_0002.pt", one)
    mv = M.movie(one, data, N, method="pca")
    assert len(mv.frames) == 1 and "one frame" in mv.note
    # a checkpoint of another architecture, one of other data, and a damaged file: each left out, by name
    mixed = tmp_path / "mixed"
    shutil.copytree(dann_run, mixed)
    other, _ = train(
        TrainConfig(width=0.125, image_size=32, batch_size=64, epochs=1), data, run_dir=tmp_path / "other"
    )
    shutil.copy(other.dir / "epoch_0001.pt", mixed / "epoch_0001.pt")
    grey = load_builtin(32)
    grey = replace(grey, source=replace(grey.source, images=grey.source.images.flip(0)))
    elsewhere, _ = train(
        TrainConfig(width=0.25, image_size=32, batch_size=64, epochs=1), grey, run_dir=tmp_path / "elsewhere"
    )
    shutil.copy(elsewhere.dir / "epoch_0001.pt", mixed / "epoch_0002.pt")
    (mixed / "epoch_0003.pt").write_bytes(b"not a checkpoint")
    shutil.copy(mixed / "epoch_0005.pt", mixed / "epoch_0004.pt")  # renamed by hand
    mv = M.movie(mixed, data, N, method="pca")
    assert [f.epoch for f in mv.frames] == [0, 5]
    assert len(mv.skipped) == 4 and "holds epoch 5, not the epoch its name says" in mv.skipped[3]
    assert "epoch_0001.pt" in mv.skipped[0] and "another architecture" in mv.skipped[0]
    assert "epoch_0002.pt" in mv.skipped[1] and "other data" in mv.skipped[1]
    assert "epoch_0003.pt" in mv.skipped[2] and "not a checkpoint" in mv.skipped[2]


def test_cli_embed_all_epochs(dann_run, tmp_path, capsys):
    out, gif = tmp_path / "movie.csv", tmp_path / "movie.gif"
    assert (
        main(
            [
                "embed",
                "--run",
                str(dann_run),
                "--data",
                "builtin",
                "--all-epochs",
                "--n",
                "100",
                "--method",
                "pca",
                "--out",
                str(out),
                "--gif",
                str(gif),
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (
        summary["frames"] == 5
        and summary["points"] == 200
        and len(summary["mixing"]) == 5
        and summary["seconds"] >= 0
    )
    assert out.read_text().startswith("epoch,index,domain,label,predicted,x,y\n")
    with Image.open(gif) as im:
        assert im.n_frames == 5
    assert main(["embed", "--run", str(tmp_path), "--all-epochs", "--out", str(out)]) == 2
    assert "config.json" in capsys.readouterr().err
    (tmp_path / "config.json").write_text(json.dumps({"data": "builtin", "image_size": 32}))
    assert main(["embed", "--run", str(tmp_path), "--all-epochs", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "no epoch checkpoints" in err and "Traceback" not in err
