"""Session state every page shares: the active dataset, this browser session's upload folder and
id, the server's job queue and housekeeping."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from pathlib import Path

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from app_pages.lib.jobs import CLUSTER, JobQueue
from app_pages.lib.uploads import adopt, check_server_path, new_session, sweep_sessions, touch
from explorer.dann import cluster as ray_cluster
from explorer.data.builtin import load_builtin
from explorer.data.domains import Dataset, open_dataset
from explorer.errors import ExplorerError
from explorer.store import cache, runs, sessions
from explorer.store.home import env_number
from explorer.transfer import download
from explorer.transfer.backbones import WeightsMissing, ensure_imagenet, hub_file, load_backbone, load_state_file


@st.cache_resource(show_spinner="Building the embedded dataset…")
def builtin(size: int = 32) -> Dataset:
    """Shared by all sessions: the embedded default is read-only."""
    return load_builtin(size)


def dataset() -> Dataset:
    """The active dataset: a shared run's; else the one this session chose (kept on the server under
    its id, so a reload, a new tab or a restart finds it again); else the embedded default."""
    if "dataset" not in st.session_state:
        grant = st.session_state.get("shared")
        st.session_state.dataset = open_recipe(grant["dataset"]) if grant else _restored()
    return st.session_state.dataset


def open_recipe(recipe: dict) -> Dataset:
    """A dataset from its recipe: the embedded default at a size, or two folders opened again."""
    if recipe.get("kind") != "folders":
        return builtin(int(recipe.get("size", 32)))
    for path in (recipe["source"], recipe.get("target")):
        if path and not Path(path).exists():
            raise ExplorerError(f"{path} is no longer there")
        if path and recipe.get("what") == "folder pair on this server":
            check_server_path(path)  # the server's rules may have changed since
    return open_dataset(recipe["source"], recipe.get("target"), size=int(recipe["size"]), name=recipe.get("name"))


def _restored() -> Dataset:
    recipe = sessions.choices(owner()).get("dataset")
    if not recipe:
        return builtin()
    try:
        if recipe.get("what") in ("uploaded zip", "dropped images"):  # this session's folder keeps them from now on
            recipe = recipe | {k: adopt(recipe.get(k), session_dir()) for k in ("source", "target")}
            sessions.remember(owner(), dataset=recipe)
        return open_recipe(recipe)
    except (ExplorerError, OSError) as e:
        st.session_state.dataset_lost = (
            f"The dataset this session chose ({recipe.get('what', 'folders')}: {recipe.get('source')}) could not be opened again: "
            f"{str(e).rstrip('.')}. Showing the embedded default instead; choose another on the Data page."
        )
        sessions.remember(owner(), dataset=None)
        return builtin()


def choose_dataset(ds: Dataset, recipe: dict) -> None:
    """Make `ds` the active dataset and keep its recipe under the session id."""
    st.session_state.dataset = ds
    st.session_state.pop("dataset_lost", None)
    sessions.remember(owner(), dataset=recipe)


def restore_choices() -> None:
    """Once per browser session: the widgets' saved choices (image size, Canny for training)."""
    if st.session_state.get("restored"):
        return
    st.session_state.restored = True
    saved = sessions.choices(owner())
    if recipe := saved.get("dataset"):
        st.session_state.data_size = int(recipe.get("size", 32))
        st.session_state.data_choice = {"folder pair on this server": "Folder on this server", "uploaded zip": "Upload a zip",
                                        "dropped images": "Drop images"}.get(recipe.get("what"), "Embedded default")  # fmt: skip
    if (canny := saved.get("canny")) is not None:
        st.session_state.canny = canny if canny == "auto" else tuple(canny)


def remember_canny(choice) -> None:
    st.session_state.canny = choice
    sessions.remember(owner(), canny=choice if choice == "auto" else list(choice))


def my_runs(ds: Dataset) -> list:
    """This session's runs on `ds`, newest first; only the shared run when the page was opened by a share link."""
    grant = st.session_state.get("shared")
    if grant:
        record = runs.read_run(cache.run_dir(grant["run_id"]))
        return [record] if record and record.metrics else []
    return runs.list_runs(ds.fingerprint, owner())


def others_data() -> bool:
    """True when this page was opened by a share link to a run on its owner's own images: those are
    not shown or exported (the embedded default's are)."""
    grant = st.session_state.get("shared")
    return bool(grant) and grant["dataset"].get("kind") != "builtin"


def pick_run(container, records: list, key: str, label: str = "Run"):
    """A run select box that starts on the run this session looked at last (kept under its id) and remembers the choice."""
    labels = {r.label: r for r in records}
    saved = sessions.choices(owner()).get("run")
    if st.session_state.get(key) not in labels:
        st.session_state[key] = next((name for name, r in labels.items() if r.run_id == saved), next(iter(labels)))
    run = labels[container.selectbox(label, list(labels), key=key)]
    if run.run_id != saved and not st.session_state.get("shared"):
        sessions.remember(owner(), run=run.run_id)
    return run


def session_dir() -> Path:
    """This browser session's own upload folder, named by Streamlit's session id, made on first use."""
    if "session_dir" not in st.session_state:
        ctx = get_script_run_ctx()
        st.session_state.session_dir = new_session(ctx.session_id if ctx else None)
    touch(st.session_state.session_dir)  # in use (made again if it was swept while the browser was away)
    return st.session_state.session_dir


@st.cache_resource
def _housekeeping_state() -> dict:
    return {"at": 0.0, "lock": threading.Lock()}


def housekeeping() -> None:
    """At most once a minute, for the whole server: remove the upload folders of browser sessions
    that have ended, the leftovers of checkpoint writes cut short, and cache entries over the cap.
    One session does it while the others go on; a failure is logged, never shown to the user."""
    state = _housekeeping_state()
    grace = env_number("EXPLORER_SESSION_GRACE_S", 600)
    if time.time() - state["at"] < min(60.0, grace) or not state["lock"].acquire(blocking=False):
        return
    try:
        state["at"] = time.time()
        if Runtime.exists():  # not under AppTest, which has no server
            sweep_sessions(Runtime.instance().is_active_session, grace)
        cache.sweep()
        cache.enforce()
    except OSError:
        logging.getLogger(__name__).exception("housekeeping failed; it is tried again in a minute")
    finally:
        state["lock"].release()


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue for the whole server: one training run per device at a time, across sessions."""
    return JobQueue()


@st.cache_resource(show_spinner="Connecting to the Ray cluster…")
def _cluster(address: str) -> tuple[ray_cluster.Cluster | None, str]:
    try:
        return ray_cluster.connect(address), ""
    except ExplorerError as e:  # kept: a cluster that cannot be reached is not tried again on every rerun
        return None, str(e)


def cluster() -> ray_cluster.Cluster | None:
    """The Ray cluster that runs go to ($EXPLORER_RAY_ADDRESS), or None: this server trains them.
    When it is set but cannot be used (Ray not installed, the cluster unreachable), the page says so
    once and runs train on this server."""
    address = ray_cluster.configured()
    if not address:
        return None
    found, problem = _cluster(address)
    if problem:
        st.warning(f"{problem} Runs train on this server until the app is restarted with a working cluster.", icon=":material/cloud_off:")
    return found


def where(job) -> str:
    """Where a job trains, as words to follow its label: on this server, on the cluster node of its
    latest event, or still waiting to start on the cluster."""
    if job.device != CLUSTER:
        return f"on this server's {job.device.upper()}"
    _, events, _ = job.snapshot()
    place = next((e["where"] for e in reversed(events) if e.get("where")), ray_cluster.WAITING)
    return place if place == ray_cluster.WAITING else f"on {place}"


def job_status(job, fraction: float, running: str, finished: str, stop_label: str = "Stop") -> None:
    """Where a queued job stands, one element: waiting (and behind how many), a progress bar with
    `running` while it runs, `finished` when done, the stop or error message, and its Stop button."""
    state, _, message = job.snapshot()
    if state == "queued":
        ahead = job_queue().waiting_ahead(job)
        st.info(f"**{job.label}** is waiting for the {job.device.upper()}: {ahead} run(s) ahead of it.", icon=":material/hourglass:")
    elif state == "running":
        st.progress(min(1.0, max(0.0, fraction)), text=running)
    elif state == "done":
        st.success(finished, icon=":material/check:")
    elif state == "stopped":
        st.warning(message or "Stopped.", icon=":material/stop_circle:")
    else:
        st.error(message, icon=":material/error:")
    if not job.finished and st.button(stop_label, key=f"stop_{job.id}"):
        job.stop()


def owner() -> str:
    """This browser session's id: its jobs and runs are its own.

    It is kept in the page address (``?sid=...``), so reopening the same address after the app
    restarts finds the same runs in the checkpoint cache; a new browser session without it gets a
    new id and sees none of them."""
    if "owner" not in st.session_state:
        sid = st.query_params.get("sid", "")
        st.session_state.owner = sid if len(sid) == 32 and sid.isalnum() else uuid.uuid4().hex
    st.query_params["sid"] = st.session_state.owner
    return st.session_state.owner


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def _backbone(name: str, weights: str, digest: str, _state=None):
    return load_backbone(name, weights, _state)


def downloads_allowed() -> bool:
    """The sidebar's switch (on unless the server forbids downloads: EXPLORER_ALLOW_DOWNLOADS=0)."""
    return download.allowed() and st.session_state.get("allow_downloads", True)


def pick_weights(name: str, container, key: str):
    """Weights radio for a torchvision backbone: ImageNet (from the torch hub cache, downloaded
    there first when missing, with a progress bar), an uploaded state_dict, or random (labelled).
    Returns (weights, state) for `load_backbone` and the loaded model, or (None, None, None) with
    the reason on the page when there is nothing to use."""
    kind = container.radio("Weights", ["ImageNet", "Upload a state_dict", "Random (not pretrained)"], horizontal=True, key=f"{key}_weights",
                           help="ImageNet: torchvision's weights, downloaded once into the torch hub cache")  # fmt: skip
    try:
        if kind == "ImageNet":
            imagenet(name, container)
            return "imagenet", None, _backbone(name, "imagenet", "")
        if kind.startswith("Random"):
            return "random", None, _backbone(name, "random", "")
        up = container.file_uploader(f"A {name} state_dict (.pth)", type=["pth", "pt"], key=f"{key}_state")
        if up is None:
            return None, None, None
        data = up.getvalue()
        state = load_state_file(data)
        return "file", state, _backbone(name, "file", hashlib.blake2b(data, digest_size=8).hexdigest(), state)
    except WeightsMissing as e:
        container.warning(str(e), icon=":material/cloud_off:")
        container.button("Retry", icon=":material/refresh:", key=f"{key}_retry")  # a click reruns the page: the download again
    except ExplorerError as e:
        container.error(str(e))
    return None, None, None


def imagenet(name: str, container) -> None:
    """`name`'s ImageNet weights into the hub cache, with st.progress, unless they are there."""
    path = hub_file(name)
    if path.is_file():
        return
    bar = container.progress(0.0, text=f"Downloading {path.name} into the torch hub cache…")

    def progress(got, total):
        text = f"Downloading {path.name}: {got / 2**20:.1f}" + (f" of {total / 2**20:.1f} MB" if total else " MB")
        bar.progress(min(got / total, 1.0) if total else 0.0, text=text)

    try:
        ensure_imagenet(name, progress, downloads_allowed())
    finally:
        bar.empty()


def share_url(token: str) -> str:
    """The address that opens a shared run (its read-only Train DANN, the app's first page there),
    on the host this page was opened from."""
    from urllib.parse import urlsplit

    u = urlsplit(st.context.url or "")
    return f"{u.scheme}://{u.netloc}/?share={token}" if u.netloc else f"/?share={token}"


def share_panel(run, ds: Dataset) -> None:
    """Copy link / revoke for a finished run of this session: the link opens that run read-only."""
    with st.expander("Share this run: a read-only link", icon=":material/link:"):
        if not run.finished:
            st.caption("A run can be shared once it has finished.")
            return
        st.caption("Anyone with the link sees this run's curves and numbers, Feature Space and Layer Activations, read-only: "
                   "no other runs, no stop, delete or retrain, none of your uploads. Revoke a link to close it.")  # fmt: skip
        if st.button("Create a link", icon=":material/add_link:", key=f"share_{run.run_id}"):
            recipe = sessions.choices(owner()).get("dataset") or {"kind": "builtin", "size": ds.source.images.shape[-1]}
            sessions.share(run.run_id, owner(), recipe)
        for token in sessions.shares_of(run.run_id, owner()):
            c1, c2 = st.columns([5, 1], vertical_alignment="center")
            c1.code(share_url(token), language=None)
            if c2.button("Revoke", key=f"revoke_{token}"):
                sessions.revoke(token, owner())
                st.rerun()
