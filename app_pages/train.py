"""Train DANN: short in-process runs with live curves, stop/resume and comparison."""

import streamlit as st
import torch

from app_pages.lib import measuring
from app_pages.lib.comparing import compare, listed
from app_pages.lib.datasets import dataset
from app_pages.lib.judging import tiles, validators_panel
from app_pages.lib.runpicker import select
from app_pages.lib.serverjobs import activity, cluster, job_queue, job_status, where
from app_pages.lib.session import owner
from app_pages.lib.sweeping import sweep_form, sweep_results
from app_pages.lib.twin import twin_runs
from explorer.analysis import run_charts
from explorer.dann.config import AUGMENTS, METHODS, OPTIMIZERS, UPDATES, TrainConfig
from explorer.dann.schedules import SHAPES, LambdaSchedule
from explorer.dann.speed import FAST
from explorer.devices import describe, pick
from explorer.errors import ExplorerError
from explorer.execution.events import Epoch, Retrying, Started
from explorer.execution.jobs import WAITING_POLL, poll_seconds
from explorer.execution.start import RunHandle, start_run
from explorer.store import runs

st.title("Train DANN")
st.caption(
    "Domain-adversarial training: a domain classifier learns to tell source features from target features, "
    "and the feature extractor learns to fool it (weighted by **λ**) while still classifying the source. "
    "Compare with **source-only**, the same network with λ = 0."
)
ds = dataset()
queue = job_queue()
ray = cluster()
d = TrainConfig()


def submit(cfg: TrainConfig, remeasure: bool = False) -> None:
    """Queue a run as auto plans it (measure the options, reuse the choice, or train as set), in the
    lane of its back-end; either way it trains into the cache, under its lock and cap, as this
    session's. It becomes the selected run on every page (a measuring run: once it has chosen)."""
    started = start_run(cfg, ds, queue, owner(), ray, remeasure)
    st.session_state.current_run = started
    if started.run_id:
        select(started.run_id)


with st.container(border=True):
    c1, c2, c3 = st.columns(3)
    method = c1.radio("Method", METHODS, horizontal=True, key="t_method")
    update = c1.radio(
        "Update",
        UPDATES,
        horizontal=True,
        key="t_update",
        help="two-step: the homework's two optimiser steps; grl: one pass through a gradient reversal layer",
    )
    only = method == "source-only"  # λ = 0: the domain classifier learns, the features never hear from it
    why = "source-only trains with λ = 0" if only else None
    schedule = c2.selectbox(
        "λ schedule",
        sorted(SHAPES),
        index=sorted(SHAPES).index(d.lambda_schedule),
        key="t_schedule",
        disabled=only,
        help=why,
    )
    lamb = c2.number_input(
        "λ (the schedule's maximum)",
        value=d.lamb,
        step=0.05,
        format="%.3f",
        key="t_lamb",
        disabled=only,
        help=why,
    )
    with c3:
        if lamb >= 0:
            lam = LambdaSchedule(schedule, 0.0 if method == "source-only" else lamb)
            st.vega_lite_chart(spec=run_charts.lambda_curve(lam.curve(51)), width="stretch")
    c1, c2, c3, c4 = st.columns(4)
    optimizer = c1.selectbox("Optimizer", OPTIMIZERS, key="t_opt")
    lr = c1.number_input("Learning rate", value=d.lr, format="%.4f", step=1e-4, key="t_lr")
    epochs = c2.number_input("Epochs", 1, 5000, d.epochs, key="t_epochs")
    batch = c2.number_input("Batch size", 2, 4096, d.batch_size, key="t_batch")
    width = c3.select_slider(
        "Width", [0.125, 0.25, 0.5, 1.0], d.width, key="t_width", help="1 = the homework's network"
    )
    self_train = c3.number_input("Self-training epochs", 0, 1000, 0, key="t_self")
    seed = c4.number_input("Seed", 0, 2**31 - 1, d.seed, key="t_seed")
    cuda = ray is not None or torch.cuda.is_available()  # a cluster may add GPU nodes when runs ask for them
    device = c4.selectbox("Device", ["auto", "cpu", "cuda"] if cuda else ["auto", "cpu"], key="t_device")
    fast = c4.selectbox(
        "Fast step",
        FAST,
        key="t_fast",
        help="auto: the step's fastest memory layout and precision on this machine (channels-last, bf16 "
        "where the CPU multiplies it natively), timed once; off: the plain fp32 step, for teaching and "
        "debugging",
    )
    tuned = st.session_state.get("canny", "auto")
    options = ["auto: chosen from the data", "off: no edges"]
    if isinstance(tuned, tuple):
        options.insert(1, f"Canny {tuned[0]}/{tuned[1]} on the source (from the Canny Tuner)")
    c1, c2 = st.columns(2)
    prep = c1.radio(
        "Preprocessing",
        options,
        index=1 if isinstance(tuned, tuple) else 0,
        key="t_prep",
        horizontal=True,
        help="auto: the first run on this data trains the shortlist (the statistics' top two, and no edges; "
        "each with "
        "and without rotation) side by side and keeps what the validator prefers; later runs reuse it",
    )
    canny = "auto" if prep.startswith("auto") else (None if prep.startswith("off") else tuple(tuned))
    augment = c2.radio(
        "Augmentation",
        ["auto", *AUGMENTS],
        key="t_augment",
        horizontal=True,
        help="auto: measured with the preprocessing; rotate: up to ±15°; flip-rotate also mirrors (a "
        "mirrored 2 is no "
        "longer a 2)",
    )
    on = f"the **{ray.describe()}**" if ray is not None else f"**{describe(pick(device))}**"
    st.caption(
        f"Runs on {on} · data: {ds.name} · {len(ds.source):,} source, {len(ds.target):,} target images at "
        f"{ds.source.images.shape[-1]} px"
    )

    def config() -> TrainConfig:
        cfg = TrainConfig(
            method=method,
            update=update,
            lambda_schedule=schedule,
            lamb=float(lamb),
            optimizer=optimizer,
            lr=float(lr),
            batch_size=int(batch),
            epochs=int(epochs),
            width=float(width),
            canny=canny,
            augment=augment,
            image_size=ds.source.images.shape[-1],
            self_train_epochs=int(self_train),
            seed=int(seed),
            device=device,
            fast=fast,
        )
        cfg.check(ds)
        return cfg

    one, grid = st.tabs(["One run", "Sweep"])
    b1, b2 = one.columns([2, 3], vertical_alignment="center")
    remeasure = b2.checkbox(
        "Measure again",
        key="t_remeasure",
        disabled=canny != "auto" and augment != "auto",
        help="auto keeps what it measured on this data; tick to train the options again and choose anew",
    )
    if b1.button("Start training", type="primary", key="t_start"):
        try:
            submit(config(), remeasure)
        except ExplorerError as e:
            one.error(str(e))
    with grid:
        try:
            sweep_form(ds, config(), ray)
        except ExplorerError as e:
            st.error(str(e))


def progress_view(run: RunHandle) -> None:
    job = run.job
    if run.fingerprint != ds.fingerprint:
        st.caption(
            f"This run trains on **{run.dataset_name}**, not on the dataset chosen now; "
            "its results are listed there."
        )
    if measuring.measuring(job):
        measuring.measuring_view(job, ds.target.labelled)
        return
    state, events, message = job.snapshot()
    epochs = [e.epoch for e in events if isinstance(e, Epoch)]
    start = next((e.start for e in events if isinstance(e, Started)), None)
    total = (start["epochs"] + start["self_train_epochs"]) if start else None
    history = (start or {}).get("history", []) + epochs
    done = history[-1]["epoch"] if history else 0
    at = where(job)
    job_status(
        job,
        done / total if total else 0.0,
        f"**{job.label}** · epoch {done}/{total or '?'} · {at}",
        f"**{job.label}** finished: {done} epochs {at}.",
    )
    if run.note:  # what auto did: reused a measured choice, or fell back to the statistics
        st.caption(run.note)
    for retry in (e for e in events if isinstance(e, Retrying)):
        st.warning(retry.message, icon=":material/restart_alt:")
    if history:
        tiles(history, running=not job.finished)
        curves = runs.curves({job.label: history})
        st.vega_lite_chart(spec=run_charts.training_curves(curves), width="content")
        validators_panel(history)


mine = {j.id: j for j in queue.jobs(owner())}
current: RunHandle | None = st.session_state.get("current_run")
current = current if current is not None and current.job.id in mine else None
# drawn by their own sections
elsewhere = {(st.session_state.get("sweep") or {}).get("job"), *(t.job.id for t in twin_runs().values())}
others = [
    j
    for j in mine.values()
    if not j.finished and j.id not in elsewhere and (current is None or j is not current.job)
]
if current is not None or others:
    with st.container(key="this_run"):
        st.subheader("This run")
        watched = [j for j in [current.job if current else None, *others] if j is not None]
        active = any(not j.finished for j in watched)
        every = poll_seconds(watched)

        @st.fragment(run_every=every)
        def live():
            if ray is not None and active:
                st.caption(f"{ray.describe()}. Each run is placed on a free device as one comes up.")
            for job in others:  # earlier runs of this session still running or waiting
                c1, c2 = st.columns([5, 1])
                c1.caption(f"Also **{job.label}**: {activity(job)}")
                if c2.button("Stop", key=f"stop_{job.id}"):
                    job.stop()
            if current is not None:
                progress_view(current)
            if active and all(j.finished for j in watched):
                if current is not None and (run := current.run_id):
                    select(run)  # a measuring run's winner, now known
                st.rerun()  # the whole page: the comparison below now includes them
            new = current.run_id if current is not None and current.job.state == "running" else None
            if (
                new
                and new not in listed()
                and st.session_state.get("t_joined") != new
                and any(isinstance(e, Epoch) for e in current.job.snapshot()[1])
            ):
                st.session_state.t_joined = new
                # its first epoch is in the cache: the whole page, so that it joins the overlay below
                st.rerun()
            if (every == WAITING_POLL) != (poll_seconds(watched) == WAITING_POLL):
                st.rerun()  # a run started: look about once per epoch from now on

        live()


if (sw := st.session_state.get("sweep")) and sw["sweep"].dataset.fingerprint != ds.fingerprint:
    # a sweep's results belong to the dataset it trained on (its runs stay in the cache)
    st.session_state.pop("sweep")
    st.toast(
        "The sweep's results belonged to the previous dataset; they are kept in the cache, not shown here."
    )
if st.session_state.get("sweep"):
    with st.container(key="sweep_results"):
        st.subheader("Sweep")
        sweep_results()

compare(ds)
