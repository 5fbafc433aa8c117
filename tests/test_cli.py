"""`python -m explorer`: train end to end on the builtin data (short), predict, and bad input."""

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from explorer.cli import main
from tests.conftest import make_homework_layout

ROOT = Path(__file__).resolve().parents[1]
FAST = "--epochs 2 --width 0.125 --batch-size 64 --augment rotate".split()  # set by hand: auto would measure


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def read_csv(path):
    with open(path) as f:
        return list(csv.reader(f))


def test_train_builtin_then_predict(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--data", "builtin", "--out", str(out), "--canny", "100", "200", *FAST]) == 0
    captured = capsys.readouterr()
    summary = last_json(captured.out)
    assert {"target_acc", "source_acc", "epochs", "seconds", "img_per_s"} <= summary.keys()
    assert summary["epochs"] == 2 and 0 <= summary["target_acc"] <= 1
    assert "epoch 2/2" in captured.err
    assert sorted(p.name for p in out.iterdir()) == [
        *(f"best-{name}.pt" for name in ("bnm", "entropy", "im", "snd", "source_acc")),
        "checkpoint.pt",
        "config.json",
        "epoch_0000.pt",
        "epoch_0001.pt",
        "epoch_0002.pt",
        "last.pt",
        "metrics.jsonl",
        "submission.csv",
    ]
    metrics = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["epoch"] for m in metrics] == [1, 2]
    config = json.loads((out / "config.json").read_text())
    assert config["canny"] == [100, 200] and config["epochs"] == 2
    rows = read_csv(out / "submission.csv")
    assert rows[0] == ["id", "label"] and len(rows) == 1 + 899
    assert [int(r[0]) for r in rows[1:]] == list(range(899))
    assert {r[1] for r in rows[1:]} <= {str(d) for d in range(10)}

    # predict on a homework-style unlabelled folder, one file of which is broken
    hw = make_homework_layout(tmp_path / "real_or_drawing", n_target=6)
    (hw / "test_data" / "0" / "00002.bmp").write_bytes(b"broken")
    sub = tmp_path / "sub.csv"
    assert (
        main(
            [
                "predict",
                "--checkpoint",
                str(out / "checkpoint.pt"),
                "--target",
                str(hw / "test_data"),
                "--out",
                str(sub),
            ]
        )
        == 0
    )
    rows = read_csv(sub)
    assert [r[0] for r in rows[1:]] == ["0", "1", "3", "4", "5"]  # ids keep their place in the sorted order
    result = last_json(capsys.readouterr().out)
    assert result.pop("epoch") in (1, 2) and result == {"out": str(sub), "images": 5, "skipped": 1}


def homework(hw) -> list[str]:
    """The CLI's arguments for the homework's two folders under `hw`."""
    return ["--source", str(hw / "train_data"), "--target", str(hw / "test_data")]


def test_train_on_folders_with_an_unlabelled_target(tmp_path, capsys):
    hw = make_homework_layout(tmp_path / "real_or_drawing", per_class=8, n_target=40)
    out = tmp_path / "run"
    options = "--epochs 1 --width 0.125 --batch-size 16 --no-canny --method source-only".split()
    args = ["train", *homework(hw), "--out", str(out), *options]
    assert main(args) == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["target_acc"] is None and summary["epochs"] == 1
    assert len(read_csv(out / "submission.csv")) == 41


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--out", "x"], "Give --data builtin, or --source"),
        (["train", "--data", "builtin", "--out", "x", "--lamb", "-1"], "lambda must be >= 0"),
        (["train", "--data", "builtin", "--out", "x", "--batch-size", "100000"], "larger than the data"),
        (["train", "--data", "builtin", "--out", "x", "--canny", "300", "100"], "low < high"),
        (["train", "--source", "/nonexistent/dir", "--out", "x"], "Not found"),
        (["train", "--data", "builtin", "--out", "x", "--epochs", "many"], "invalid int value"),
        (
            ["predict", "--checkpoint", "/nonexistent.pt", "--target", ".", "--out", "s.csv"],
            "Checkpoint not found",
        ),
        (["fly"], "invalid choice"),
    ],
)
def test_bad_arguments_give_one_line(args, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err


def test_module_entry_point_exits_nonzero_without_traceback(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "explorer",
            "train",
            "--source",
            str(tmp_path / "nope"),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [f"error: Not found: {tmp_path / 'nope'}"]


def test_unwritable_outputs_fail_before_or_without_a_traceback(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["train", "--data", "builtin", "--out", str(f), *FAST]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["train", "--data", "builtin", "--out", "x", "--seed", "99999999999999999999999"]) == 2
    assert "seed must be in" in capsys.readouterr().err


def test_train_again_into_the_same_folder_resumes_and_another_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    options = "--epochs 1 --width 0.125 --no-canny --augment rotate".split()
    args = ["train", "--data", "builtin", "--out", str(out), *options]
    assert main(args) == 0
    first = last_json(capsys.readouterr().out)
    assert main(args) == 0  # finished already: nothing is trained again
    again = last_json(capsys.readouterr().out)
    assert again["target_acc"] == first["target_acc"] and again["seconds"] == first["seconds"]
    assert main([*args, "--seed", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "holds another run" in err


def test_select_picks_the_checkpoint_that_train_and_predict_use(tmp_path, capsys):
    from explorer.dann.validators import DEFAULT, NAMES, selected_epoch
    from explorer.store.checkpoints import load

    out = tmp_path / "run"
    options = "--epochs 4 --width 0.125 --image-size 16 --canny both:150/300 --augment rotate".split()
    assert main(["train", "--data", "builtin", "--out", str(out), *options]) == 0
    summary = last_json(capsys.readouterr().out)
    history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert set(history[-1]["validators"]) == set(NAMES)
    assert summary["selected"]["by"] == DEFAULT and summary["checkpoint_epoch"] == selected_epoch(
        history, DEFAULT
    )
    assert load(out / "checkpoint.pt")["epoch"] == summary["checkpoint_epoch"]
    config = json.loads((out / "config.json").read_text())
    assert config["canny"] == "both:150/300" and config["preprocess"]["label"] == "edges on both 150/300"
    target = tmp_path / "target"
    make_homework_layout(target, n_target=5)
    epochs = {}
    for select in ("last", *NAMES):
        csv_out = tmp_path / f"{select}.csv"
        args = [
            "predict",
            "--run",
            str(out),
            "--select",
            select,
            "--target",
            str(target / "test_data"),
            "--out",
            str(csv_out),
        ]
        assert main(args) == 0
        epochs[select] = last_json(capsys.readouterr().out)["epoch"]
    assert epochs["last"] == 4
    assert all(epochs[name] == selected_epoch(history, name) for name in NAMES)
    assert main(["predict", "--target", str(target), "--out", "x.csv"]) == 2
    assert "--checkpoint FILE or --run DIR" in capsys.readouterr().err


def test_a_target_smaller_than_a_batch_is_a_message(tmp_path, capsys):
    hw = make_homework_layout(tmp_path / "real_or_drawing", per_class=8, n_target=3)
    args = ["train", *homework(hw), "--out", str(tmp_path / "o"), "--batch-size", "16", "--epochs", "1"]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "3 target images" in err and "smaller batch size" in err


def test_old_canny_flags_still_work(tmp_path, capsys):
    # `--canny auto`: test_train_with_auto_measures_the_options_prints_each_and_ships_the_pick_then_reuses_it
    for flags, expected in ((["--canny", "100", "200"], [100, 200]), (["--no-canny"], None)):
        out = tmp_path / str(len(flags)) / str(expected)
        small = "--epochs 1 --width 0.125 --image-size 16 --batch-size 32 --augment rotate".split()
        assert main(["train", "--data", "builtin", "--out", str(out), *small, *flags]) == 0
        capsys.readouterr()
        assert json.loads((out / "config.json").read_text())["canny"] == expected
    assert main(["train", "--data", "builtin", "--out", "x", "--canny", "lots"]) == 2
    assert "--canny takes auto, two whole numbers LOW HIGH" in capsys.readouterr().err


SWEEP = "sweep --data builtin --image-size 16 --width 0.125 --batch-size 32 --epochs 1 --workers 1".split()


def test_sweep_cli_writes_results_and_runs_then_finds_them_cached(tmp_path, capsys):
    out = tmp_path / "sweep"
    args = [*SWEEP, "--out", str(out), "--grid", "lamb=0,1", "canny=off,100/200"]
    assert main(args) == 0
    captured = capsys.readouterr()
    summary = last_json(captured.out)
    assert (
        summary["runs"] == 4 and summary["cached"] == 0 and summary["failed"] == 0 and summary["seconds"] > 0
    )
    assert (
        summary["best"]["by"] == "im"
        and "lamb=" in summary["best"]["point"]
        and 0 <= summary["best"]["target_acc"] <= 1
    )
    assert "sweep: 4 runs" in captured.err and "best by im" in captured.err
    rows = read_csv(out / "results.csv")
    assert rows[0][:3] == ["lamb", "canny", "seed"] and len(rows) == 5
    assert {r[rows[0].index("status")] for r in rows[1:]} == {"finished"}
    assert len(list((out / "runs").iterdir())) == 4
    assert main(args) == 0
    assert last_json(capsys.readouterr().out)["cached"] == 4


@pytest.mark.parametrize(
    "grid, message",
    [
        (["lamb=0,x"], "lamb takes numbers"),
        (["colour=red"], "'colour' is not a training option"),
        (["lamb="], "has no values"),
        (["batch_size=32,100000"], "Batch size 100000 is larger than the data"),
    ],
)
def test_sweep_cli_refuses_a_bad_grid_in_one_line_before_training(tmp_path, capsys, grid, message):
    assert main([*SWEEP, "--out", str(tmp_path / "s"), "--grid", *grid]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s" / "runs").exists()


def test_train_with_auto_measures_the_options_prints_each_and_ships_the_pick_then_reuses_it(tmp_path, capsys):
    # augmentation set by hand: auto measures the preprocessing options only (the whole default
    # shortlist is measured in tests/execution/test_auto.py)
    small = "--data builtin --image-size 16 --epochs 1 --width 0.125 --batch-size 32 --augment rotate".split()
    assert main(["train", *small, "--out", str(tmp_path / "a")]) == 0
    captured = capsys.readouterr()
    options = [line for line in captured.err.splitlines() if line.startswith("option ")]
    assert "auto: measuring" in captured.err and len(options) >= 2 and "auto chose: " in captured.err
    # the validator by its plain name, scores in two decimals, accuracy in percent, as the pages say them
    scored = [line for line in options if "dropped:" not in line]
    said = [*scored, next(line for line in captured.err.splitlines() if line.startswith("auto chose: "))]
    assert all("confidence and balance of the target predictions (IM)" in line for line in said)
    assert not any(re.search(r"\d\.\d{3}", line) for line in said), said
    summary = last_json(captured.out)
    assert (
        summary["selected"]["option"] == summary["auto"]["chosen"]
        and summary["selected"]["checkpoint"] == "checkpoint.pt"
    )
    written = json.loads((tmp_path / "a" / "config.json").read_text())["auto"]
    assert len(written["tried"]) == len(options) == summary["auto"]["options"]
    assert (tmp_path / "a" / "checkpoint.pt").is_file() and len(
        list((tmp_path / "a" / "options").iterdir())
    ) == len(options)

    # the same data: the choice is reused
    assert main(["train", *small, "--seed", "3", "--out", str(tmp_path / "b")]) == 0
    captured = capsys.readouterr()
    assert "measured on this data on" in captured.err and "option 1/" not in captured.err
    assert last_json(captured.out)["selected"]["option"] == summary["auto"]["chosen"]
    assert not (tmp_path / "b" / "options").exists()

    # a run that asks for more training than the choice saw measures again, and says why
    assert main(["train", *small, "--epochs", "2", "--out", str(tmp_path / "longer")]) == 0
    err = capsys.readouterr().err
    assert "auto: measuring" in err and "Measured before at 1 epoch; this 2-epoch run measures again." in err

    # measured again on request; the old flag `--canny auto` asks for what the default does
    assert (
        main(["train", *small, "--canny", "auto", "--auto", "remeasure", "--out", str(tmp_path / "c")]) == 0
    )
    assert "auto: measuring" in capsys.readouterr().err
    assert json.loads((tmp_path / "c" / "config.json").read_text())["auto"]["asked"]["canny"] == "auto"


def test_a_budget_too_short_to_measure_trains_one_option_and_says_so(tmp_path, capsys):
    options = "--data builtin --image-size 16 --width 0.125 --batch-size 32 --time-budget 2".split()
    assert main(["train", *options, "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "auto: too little time to measure the options" in err and "the statistics' choice" in err
    assert "option 1/" not in err and not (tmp_path / "b" / "options").exists()


@pytest.fixture(scope="module")
def cam_runs(tmp_path_factory):
    """A tiny DANN run on the builtin data, its source-only twin, and the home they were trained under."""
    root = tmp_path_factory.mktemp("cam")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPLORER_HOME", str(root / "home"))
        for name, method in (("dann", "dann"), ("twin", "source-only")):
            args = [
                "train",
                "--data",
                "builtin",
                "--out",
                str(root / name),
                "--canny",
                "100",
                "200",
                "--method",
                method,
                *FAST,
                "--epochs",
                "1",
            ]
            assert main(args) == 0
    return root


def test_cam_of_a_run_and_its_twin_draws_the_grid_and_prints_the_numbers(cam_runs, tmp_path, capsys):
    out = tmp_path / "cam.png"
    args = [
        "cam",
        "--run",
        str(cam_runs / "dann"),
        "--twin",
        str(cam_runs / "twin"),
        "--n",
        "4",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    summary = last_json(capsys.readouterr().out)
    assert summary["images"] == 8 and summary["method"] == "gradcam" and summary["layer"] == "feature.conv.18"
    assert 0 < summary["seconds"] < 30
    for key in ("dann", "twin"):
        numbers = summary[key]
        assert set(numbers["strokes"]) == set(numbers["faithfulness"]) == {"target", "source"}
        assert all(v is None or 0 <= v <= 1 for v in numbers["strokes"].values())
        assert all(v is None or -1 <= v <= 1 for v in numbers["faithfulness"].values())
        assert "selected by im" in numbers["checkpoint"] or "epoch" in numbers["checkpoint"]
    assert summary["twin"]["name"] == "source-only" and summary["dann"]["name"].startswith("dann")
    from PIL import Image

    picture = Image.open(out)
    assert picture.mode == "RGB" and picture.width > 2 * 3 * 96 and picture.height > 4 * 96

    # Score-CAM at a named layer, on the data given explicitly; the run alone when no twin is in the cache
    args = [
        "cam",
        "--run",
        str(cam_runs / "dann"),
        "--data",
        "builtin",
        "--n",
        "2",
        "--method",
        "scorecam",
        "--layer",
        "feature.conv.14",
    ]
    assert main([*args, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    summary = last_json(captured.out)
    assert summary["layer"] == "feature.conv.14" and summary["twin"] is None and summary["images"] == 4
    assert "twin is not in the cache" in captured.err


def test_cam_finds_the_twin_in_the_cache(cam_runs, tmp_path, capsys):
    import shutil

    from explorer.execution.keep import source_only_twin

    _, folder = source_only_twin(json.loads((cam_runs / "dann" / "config.json").read_text()))
    shutil.copytree(cam_runs / "twin", folder)
    assert main(["cam", "--run", str(cam_runs / "dann"), "--n", "2", "--out", str(tmp_path / "c.png")]) == 0
    captured = capsys.readouterr()
    assert last_json(captured.out)["twin"]["name"] == "source-only" and "twin from the cache" in captured.err


def test_cam_refuses_bad_input_in_one_line(cam_runs, tmp_path, capsys):
    import shutil

    other = tmp_path / "other"
    shutil.copytree(cam_runs / "twin", other)
    config = json.loads((other / "config.json").read_text())
    (other / "config.json").write_text(json.dumps(config | {"data_fingerprint": "0" * 24}))
    empty = tmp_path / "empty"
    empty.mkdir()
    shutil.copy(cam_runs / "dann" / "config.json", empty / "config.json")
    (empty / "metrics.jsonl").write_text("")
    run, png = str(cam_runs / "dann"), str(tmp_path / "c.png")
    cases = [
        (["--run", run, "--twin", str(other)], "trained on other data"),
        (["--run", str(empty)], "has no checkpoints yet"),
        (["--run", str(tmp_path / "nope")], "Run folder not found"),
        (["--run", run, "--layer", "layer4"], "feature.conv.0, feature.conv.1"),
        (["--run", run, "--n", "0"], "--n must be at least 1"),
    ]
    for extra, message in cases:
        assert main(["cam", *extra, "--out", png]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err, (extra, err)


def test_cam_on_folders_with_a_file_that_is_not_an_image(cam_runs, tmp_path, capsys):
    from tests.conftest import make_image_folder

    classes = tuple(str(d) for d in range(10))
    source = make_image_folder(tmp_path / "src", classes=classes, per_class=1, size=(32, 32))
    target = make_image_folder(tmp_path / "tgt", classes=("0",), per_class=3, mode="L", size=(28, 28))
    (target / "0" / "bad.png").write_bytes(b"this is not a picture")
    png = str(tmp_path / "c.png")
    folders = ["--run", str(cam_runs / "dann"), "--source", str(source), "--target", str(target)]
    assert main(["cam", *folders, "--n", "3", "--out", png]) == 0
    captured = capsys.readouterr()
    assert "skipped 0/bad.png" in captured.err and "not the data the run was trained on" in captured.err
    summary = last_json(captured.out)
    # an unlabelled target: no accuracy
    assert summary["images"] == 6 and summary["dann"]["accuracy"]["target"] is None
    (target / "0").joinpath("000.png").write_bytes(b"broken")
    for f in ("001.png", "002.png"):
        (target / "0" / f).unlink()
    assert main(["cam", *folders, "--out", png]) == 2
    assert "could be read" in capsys.readouterr().err
