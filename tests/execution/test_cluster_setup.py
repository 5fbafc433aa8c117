"""The cluster backend's configuration, without Ray: unset means in-process; asked for without Ray
installed, every way in says in one line what to install."""

import sys

import pytest

from explorer.cli import main
from explorer.errors import ExplorerError
from explorer.execution import ray_cluster as cluster
from explorer.execution import ray_runs, ray_task


def test_the_backend_is_chosen_by_configuration(monkeypatch):
    monkeypatch.delenv(cluster.ENV, raising=False)
    # unset: in-process, Ray never imported
    assert cluster.configured() is None and cluster.from_env() is None
    monkeypatch.setenv(cluster.ENV, " 10.0.0.5:6379 ")
    assert cluster.configured() == "10.0.0.5:6379"
    assert cluster.configured("local") == "local"  # --ray wins over the environment
    monkeypatch.setenv(cluster.ENV, "")
    assert cluster.configured() is None


def test_without_ray_each_cluster_option_says_what_to_install(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails as if it were not installed
    monkeypatch.setattr(cluster, "_clusters", {})
    with pytest.raises(ExplorerError, match="pip install -r requirements-cluster.txt"):
        cluster.connect("local")
    for command in (["train"], ["sweep", "--grid", "lamb=0,1"]):
        code = main(
            [
                *command,
                "--data",
                "builtin",
                "--image-size",
                "16",
                "--ray",
                "local",
                "--out",
                str(tmp_path / "o"),
            ]
        )
        err = capsys.readouterr().err.strip().splitlines()
        assert (
            code == 2
            and err[-1]
            == f"error: Training on a Ray cluster needs Ray, which is not installed here: {cluster.INSTALL}"
        )
    monkeypatch.setenv(cluster.ENV, "local")
    assert main(["train", "--data", "builtin", "--image-size", "16", "--out", str(tmp_path / "o")]) == 2


def test_files_returned_by_a_worker_land_atomically_and_only_inside_the_run_folder(tmp_path):
    ray_runs.land(
        tmp_path,
        {"best-im.pt": b"1", "last.pt": b"2", "epoch_0001.pt": "best-im.pt", "metrics.jsonl": b"{}\n"},
    )
    assert [(tmp_path / n).read_bytes() for n in ("best-im.pt", "epoch_0001.pt", "last.pt")] == [
        b"1",
        b"1",
        b"2",
    ]
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["best-im.pt", "epoch_0001.pt", "last.pt", "metrics.jsonl"]
    for bad in (
        {"../evil.pt": b"x"},
        {"/etc/passwd": b"x"},
        {".lock": b"x"},
        {"sub/x.pt": b"x"},
        {"x.pt": "not-sent-before.pt"},
    ):
        with pytest.raises(ExplorerError, match="bad name"):
            ray_runs.land(tmp_path, bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == kept


def test_a_worker_sends_each_distinct_file_once_and_checkpoints_of_one_payload_are_the_same_bytes(tmp_path):
    from explorer.store import checkpoints

    payload = {
        "epoch": 1,
        "config": {},
        "arch": {"in_channels": 1, "classes": ["a"], "width": 0.25},
        "models": {},
    }
    seen = ray_task._snapshot(tmp_path)
    checkpoints.save(tmp_path / "best-im.pt", payload)
    # the same payload under another name: the same bytes
    checkpoints.save(tmp_path / "epoch_0001.pt", payload)
    checkpoints.save(tmp_path / "last.pt", payload | {"epoch": 2})
    (tmp_path / "metrics.jsonl").write_text("{}\n")
    files, seen = ray_task._changed(tmp_path, seen)
    # checkpoints first, metrics last
    assert list(files) == ["best-im.pt", "epoch_0001.pt", "last.pt", "metrics.jsonl"]
    assert files["epoch_0001.pt"] == "best-im.pt" and isinstance(files["last.pt"], bytes)
    assert ray_task._changed(tmp_path, seen)[0] == {}


def test_without_a_cluster_configured_ray_is_never_imported(tmp_path):
    import os
    import subprocess

    code = (
        "import sys\n"
        "from explorer.cli import main\n"
        "assert main(['train', '--data', 'builtin', '--image-size', '16', '--width', '0.125',\n"
        f"             '--batch-size', '32', '--epochs', '1', '--out', {str(tmp_path / 'run')!r}]) == 0\n"
        "assert 'ray' not in sys.modules, 'ray was imported'\n"
    )
    env = {k: v for k, v in os.environ.items() if k != cluster.ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
