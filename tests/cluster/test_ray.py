"""The Ray backend against a real local Ray cluster (2 CPUs, no dashboard): one run and a sweep end
to end, the event stream's order, stop, checkpoints landing here, a killed worker, the CLI and the
Train DANN page. Skipped without Ray, except where EXPLORER_REQUIRE_RAY=1 (CI) makes that a failure."""

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from explorer.dann.config import TrainConfig
from explorer.dann.predict import checkpoint_submission, load_for_prediction
from explorer.devices import pick
from explorer.execution import ray_cluster as cluster
from explorer.execution import ray_runs
from explorer.execution.backends import Request
from explorer.execution.events import Done, Epoch, RunEvent, Started
from explorer.execution.grid import Grid
from explorer.execution.keep import Keep
from explorer.execution.ray_runs import RayCluster
from explorer.execution.sweep import Sweep
from explorer.store import checkpoints, runs
from explorer.store.home import subdir

pytestmark = pytest.mark.ray
ROOT = Path(__file__).resolve().parents[2]
BASE = TrainConfig(width=0.125, image_size=16, batch_size=32, epochs=3)
RUN_FILES = {"config.json", "metrics.jsonl", "last.pt", "epoch_0000.pt", "epoch_0001.pt", "best-im.pt"}


@pytest.fixture(scope="module")
def ray_local():
    if os.environ.get("EXPLORER_REQUIRE_RAY") == "1":
        import ray
    else:
        ray = pytest.importorskip(
            "ray", reason="Ray is not installed (pip install -r requirements-cluster.txt)"
        )
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        yield cluster.connect("local")  # joins the cluster this process started
    finally:
        cluster._clusters.clear()
        ray.shutdown()


def config(**changes) -> TrainConfig:
    return TrainConfig(**(BASE.to_dict() | changes))


def run(cl, cfg, data, folder, stop=None):
    """One run on the cluster through the Ray back-end; its typed events as flat dicts (the trainer's
    fields, with the event's kind and where it trained), which the assertions below read."""
    for e in RayCluster(cl).train([Request(0, cfg, Path(folder))], data, stop or threading.Event(), Keep()):
        assert isinstance(e, RunEvent) and e.index == 0
        body = (
            e.start
            if isinstance(e, Started)
            else e.epoch
            if isinstance(e, Epoch)
            else e.summary
            if isinstance(e, Done)
            else {k: v for k, v in vars(e).items() if k not in ("index", "where")}
        )
        yield body | {"kind": e.kind, "where": e.where}


def epochs_of(events):
    return [e["epoch"] for e in events if e["kind"] == "epoch"]


def test_one_run_streams_its_events_in_order_and_its_checkpoints_land_here_and_load(
    ray_local, data16, tmp_path
):
    folder = tmp_path / "run"
    # waiting: a worker slow to start
    events = [e for e in run(ray_local, BASE, data16, folder) if e["kind"] != "waiting"]
    assert [e["kind"] for e in events] == ["start", "epoch", "epoch", "epoch", "done"]
    assert epochs_of(events) == [1, 2, 3]
    assert all(e["where"].startswith("ray node ") for e in events)
    assert events[0]["dir"] == str(folder) and events[0]["run_id"] == BASE.run_id(data16.fingerprint, "cpu")
    assert RUN_FILES | {"epoch_0003.pt"} <= {p.name for p in folder.iterdir()}
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no half-written files
    lines = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    assert lines == [{k: v for k, v in e.items() if k != "where"} for e in events if e["kind"] == "epoch"]
    last = checkpoints.load(folder / "last.pt")
    assert last["epoch"] == 3 and last["metrics"] == lines
    models, ckpt = load_for_prediction(folder / "best-im.pt", pick("cpu"))
    assert (
        len(checkpoint_submission(models, ckpt, data16.target, pick("cpu")).splitlines())
        == len(data16.target) + 1
    )
    assert runs.read_run(folder).finished


def test_a_two_config_sweep_runs_through_the_cluster_into_the_apps_cache(ray_local, data16):
    sweep = Sweep(
        Grid.parse(["lamb=0,0.3"]),
        config(epochs=2),
        data16,
        subdir("runs"),
        owner="a" * 32,
        cluster=ray_local,
    )
    assert sweep.plan(2).startswith("Ray cluster local: runs spread over its 2 CPUs")
    events = list(sweep.events())
    assert events[-1].kind == "done" and events[-1].runs == 2
    by_run = {
        i: [e for e in events if isinstance(e, RunEvent) and e.index == i and e.kind != "waiting"]
        for i in (0, 1)
    }
    for stream in by_run.values():
        assert (
            stream[0].kind == "start"
            and stream[-1].kind == "done"
            and [e.epoch["epoch"] for e in stream if e.kind == "epoch"] == [1, 2]
        )
    rows = sweep.results()
    assert [r["status"] for r in rows] == ["finished", "finished"]
    assert all(r["where"].startswith("ray node ") for r in rows)
    for r in sweep.runs:  # in the cache, owned, unlocked, loadable
        assert (
            "a" * 32 in runs.owners(r.folder) and checkpoints.load(r.folder / "epoch_0002.pt")["epoch"] == 2
        )


def test_a_stop_request_ends_the_remote_run_and_keeps_its_last_epoch(ray_local, data16, tmp_path):
    stop, events = threading.Event(), []
    for e in run(ray_local, config(epochs=200), data16, tmp_path / "run", stop):
        events.append(e)
        if e["kind"] == "epoch":
            stop.set()
    final = events[-1]
    assert final["kind"] == "stopped" and "Stopped by request" in final["message"]
    assert final["epoch"] == epochs_of(events)[-1] < 200
    assert checkpoints.load(tmp_path / "run" / "last.pt")["epoch"] == final["epoch"]
    again, stop = [], threading.Event()
    # the same run again: it resumes there
    for e in run(ray_local, config(epochs=200), data16, tmp_path / "run", stop):
        again.append(e)
        if e["kind"] != "waiting":
            stop.set()
    start = next(e for e in again if e["kind"] == "start")
    assert start["resumed_from"] == final["epoch"] and again[-1]["kind"] == "stopped"


def test_a_run_still_waiting_for_a_device_is_cancelled_by_a_stop(ray_local, data16, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster.Cluster, "resources", lambda self, config: {"num_cpus": 2, "num_gpus": 0})
    busy_stop, busy = threading.Event(), queue.Queue()
    with ThreadPoolExecutor(1) as pool:  # a long run takes both CPUs; the second run waits for them
        pool.submit(
            lambda: [
                busy.put(e)
                for e in run(ray_local, config(epochs=500, seed=5), data16, tmp_path / "busy", busy_stop)
            ]
        )
        assert busy.get(timeout=120)["kind"] == "start"
        stop = threading.Event()
        threading.Timer(1.0, stop.set).start()
        events = list(run(ray_local, config(seed=6), data16, tmp_path / "waiting", stop))
        busy_stop.set()
    stopped = events[-1]
    assert [e["kind"] for e in events if e["kind"] != "waiting"] == [
        "stopped"
    ] and "Stopped before it started" in stopped["message"]
    assert stopped["where"] == cluster.WAITING and not (tmp_path / "waiting" / "last.pt").exists()
    assert list(busy.queue)[-1]["kind"] == "stopped"


def test_a_gpu_run_on_a_cluster_without_gpus_says_why_it_waits_and_stops(ray_local, data16, tmp_path):
    cfg = config(device="cuda")
    assert ray_local.device_type(cfg) == "cuda" and ray_local.resources(cfg)["num_gpus"] == cluster.GPU_SHARE
    stop, events = threading.Event(), []
    for e in run(ray_local, cfg, data16, tmp_path / "run", stop):
        events.append(e)
        stop.set()  # on the first event: it waits, says why
    assert [e["kind"] for e in events] == ["waiting", "stopped"]
    assert (
        "the cluster has none now" in events[0]["message"]
        and "Stopped before it started" in events[1]["message"]
    )


def test_a_killed_worker_is_retried_from_the_last_checkpoint_it_returned(ray_local, data16, tmp_path):
    events, killed = [], False
    for e in run(ray_local, config(epochs=5, seed=7), data16, tmp_path / "run"):
        events.append(e)
        if e["kind"] == "epoch" and e["epoch"] == 2 and not killed:
            os.kill(next(s["pid"] for s in events if s["kind"] == "start"), signal.SIGKILL)
            killed = True
    events = [e for e in events if e["kind"] != "waiting"]  # a new worker may take seconds to start
    kinds = [e["kind"] for e in events]
    assert kinds.count("retry") == 1 and kinds[-1] == "done"
    retry = kinds.index("retry")
    returned = epochs_of(events[:retry])[-1]
    assert f"trains again from epoch {returned}" in events[retry]["message"]
    assert events[retry + 1]["kind"] == "start" and events[retry + 1]["resumed_from"] == returned
    assert epochs_of(events) == [1, 2, 3, 4, 5]  # nothing lost, nothing trained twice
    assert runs.read_run(tmp_path / "run").finished


def test_a_run_lost_more_often_than_allowed_fails_clearly_and_keeps_what_it_returned(
    ray_local, data16, tmp_path, monkeypatch
):
    monkeypatch.setattr(ray_runs, "STRIKES", 1)
    events = []
    for e in run(ray_local, config(epochs=50, seed=8), data16, tmp_path / "run"):
        events.append(e)
        if e["kind"] == "epoch" and e["epoch"] == 1:
            os.kill(next(s["pid"] for s in events if s["kind"] == "start"), signal.SIGKILL)
    final = events[-1]
    returned = epochs_of(events)[-1]
    assert (
        final["kind"] == "error"
        and "given up" in final["message"]
        and f"epoch {returned}" in final["message"]
    )
    assert checkpoints.load(tmp_path / "run" / "last.pt")["epoch"] == returned


def test_the_cli_trains_and_sweeps_on_a_cluster_given_by_address(ray_local, tmp_path):
    import ray

    address = ray.get_runtime_context().gcs_address
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    small = [
        "--data",
        "builtin",
        "--image-size",
        "16",
        "--width",
        "0.125",
        "--batch-size",
        "32",
        "--epochs",
        "2",
        "--no-canny",
        "--augment",
        "rotate",
        "--ray",
        address,
    ]

    def explorer(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "explorer", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )

    out = explorer("train", *small, "--out", str(tmp_path / "t"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"Ray cluster {address}: 1 node" in out.stderr and "(ray node " in out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["epochs"] == 2 and summary["where"].startswith("ray node ")
    assert (tmp_path / "t" / "submission.csv").is_file() and (tmp_path / "t" / "epoch_0002.pt").is_file()
    env["EXPLORER_RAY_ADDRESS"] = address  # the environment names the cluster; --ray is not needed
    out = explorer("sweep", *small[:-2], "--grid", "lamb=0,1", "--out", str(tmp_path / "s"))
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1])["failed"] == 0
    rows = (tmp_path / "s" / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",finished," in r and ",ray node " in r for r in rows[1:])


def test_train_dann_page_sends_runs_to_the_cluster_and_says_where_they_are(ray_local, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.app.conftest import small_run, wait_for

    monkeypatch.setenv("EXPLORER_RAY_ADDRESS", "local")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at = at.switch_page("app_pages/train.py").run()
    assert any(c.value.startswith("Runs on the **Ray cluster local: 1 node") for c in at.caption)
    # the Sweep tab's default grid: lambda 0, 0.1, 0.3, 1 with auto's choice
    plan = next(c.value for c in at.caption if c.value.startswith("**4 runs**"))
    assert (
        "depends on the cluster's free devices" in plan
        and "Ray cluster local: runs spread over its 2 CPUs" in plan
    )
    small_run(at, epochs=3)
    next(b for b in at.button if b.label == "Start training").click().run()
    wait_for(at, lambda at: any("finished: 3 epochs" in s.value for s in at.success))
    done = next(s.value for s in at.success if "finished: 3 epochs" in s.value)
    assert "on ray node " in done and not at.exception
    table = next(d.value for d in at.dataframe if "epochs" in d.value.columns)
    assert table["epochs"].tolist()[0] == 3
