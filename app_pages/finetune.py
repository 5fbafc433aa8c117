"""Transfer Fine-tune: a pretrained backbone with a new head, frozen or not, runs compared."""

from dataclasses import replace
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st
import torch

from app_pages.lib.datasets import dataset
from app_pages.lib.serverjobs import job_queue, with_time_left
from app_pages.lib.session import owner, session_dir
from app_pages.lib.weights import pick_weights
from explorer.devices import describe, pick
from explorer.errors import ExplorerError
from explorer.execution.events import FinetuneDone, FinetuneEpoch, FinetuneStarted
from explorer.execution.jobs import WAITING_POLL, poll_seconds
from explorer.transfer import saved
from explorer.transfer.backbones import WEIGHTS
from explorer.transfer.finetune import FinetuneConfig, FineTuner
from explorer.transfer.freezing import parameter_table, replace_head, stages

st.title("Transfer Fine-tune")
st.caption(
    "Take a torchvision network with its ImageNet weights (or with random ones, to see what ImageNet is "
    "worth), "
    "replace its last layer with one for your classes, and choose how much "
    "of it may change. Training only the new head reuses the backbone's features as they are, and is fast "
    "because those features are computed once; unfreezing lets the features adapt, at the full price per "
    "epoch."
)
ds = dataset()
src = ds.source
queue = job_queue()
THOUSANDS = st.column_config.NumberColumn(format="localized")  # 11,181,642 parameters, not 11181642
SECONDS = st.column_config.NumberColumn(format="%.2f")
RUN_COLUMNS = {
    "val acc": st.column_config.NumberColumn(format="%.3f"),
    "s / epoch (first)": SECONDS,
    "s / epoch (later)": SECONDS,
    "trainable params": THOUSANDS,
}


@st.cache_resource(max_entries=3)
def skeleton(name: str, classes: int) -> torch.nn.Module:
    """An untrained copy, only for counting parameters before training."""
    from torchvision import models

    return replace_head(getattr(models, name)(weights=None), name, classes)


with st.container(border=True):
    st.markdown(
        f"**Data:** the labelled source of *{ds.name}* ({len(src):,} images, {len(src.classes)} classes, "
        f"{src.images.shape[-1]} px), split 80/20 into train and validation with a fixed seed. "
        "Choose other data on the Data page."
    )
    c1, c2 = st.columns([1, 2])
    name = c1.selectbox("Backbone", list(WEIGHTS), key="ft_backbone")
    weights, state, loaded = pick_weights(name, c2, "ft")
    if loaded is not None:
        random = (
            " (its features are random: a head alone learns little on them)" if weights == "random" else ""
        )
        c2.caption(f"Weights in use: **{loaded.weights}**{random}")
    c1, c2, c3 = st.columns(3)
    mode = c1.radio("Train", ["only the new head", "from a stage on", "everything"], key="ft_mode")
    names = list(stages(skeleton(name, len(src.classes)), name))
    stage = c2.selectbox(
        "First stage that learns",
        names,
        index=len(names) - 1,
        key="ft_stage",
        disabled=mode != "from a stage on",
    )
    scale = c3.select_slider(
        "Backbone lr (x head lr)", [0.01, 0.1, 1.0], 0.1, key="ft_scale", disabled=mode != "everything"
    )
    freeze = {"only the new head": "head", "from a stage on": f"from:{stage}", "everything": "none"}[mode]
    c1, c2, c3, c4 = st.columns(4)
    epochs = c1.number_input("Epochs", 1, 200, 5, key="ft_epochs")
    lr = c2.number_input("Learning rate", value=1e-3, format="%.4f", step=1e-4, key="ft_lr")
    per_class = c3.number_input("Labelled images per class (0 = all)", 0, 100_000, 0, key="ft_per_class")
    batch = c4.number_input("Batch size", 2, 1024, 64, key="ft_batch")

    try:
        counts = parameter_table(skeleton(name, len(src.classes)), name, freeze)
    except ExplorerError as e:
        st.error(str(e))
    else:
        table = pd.DataFrame([counts]).rename(columns=lambda c: f"{c} parameters")
        st.dataframe(table, hide_index=True, column_config=dict.fromkeys(table.columns, THOUSANDS))
    device = pick("auto")
    st.caption(f"Runs on **{describe(device)}**, in the same queue as Train DANN.")

    if st.button("Start fine-tuning", type="primary", disabled=loaded is None, key="ft_start"):
        try:
            cfg = FinetuneConfig(
                backbone=name,
                weights=weights,
                freeze=freeze,
                epochs=int(epochs),
                lr=float(lr),
                backbone_lr_scale=float(scale),
                batch_size=int(batch),
                per_class=int(per_class) or None,
            )
        except ExplorerError as e:
            st.error(str(e))
        else:
            # train head / from layer3 / everything
            what = {"head": "head", "none": "everything"}.get(freeze, freeze.replace(":", " "))
            label = f"{name} · {loaded.weights.split(' ')[0]} · train {what}" + (
                f" · {int(per_class)}/class" if per_class else ""
            )
            out = session_dir() / "finetuned"

            def start(stop, cfg=cfg, domain=src, state=state, label=label):
                tuner = FineTuner(cfg, domain, state)
                for event in tuner.events(stop):
                    if isinstance(event, FinetuneDone):  # kept for Layer Activations and the download below
                        event = replace(event, model_path=str(saved.save(tuner.model, out, label)))
                    yield event

            job = queue.submit(owner(), label, device.type, start)
            st.session_state.setdefault("ft_jobs", []).append(job.id)


def _row(job, state: str, events: list) -> dict:
    """One run's line of the table: its state, epochs, accuracy, and the first epoch's time against
    the later ones'."""
    epochs = [e for e in events if isinstance(e, FinetuneEpoch)]
    start = next((e for e in events if isinstance(e, FinetuneStarted)), None)
    first = epochs[0].seconds if epochs else None
    later = [e.seconds for e in epochs[1:]]
    later_mean = sum(later) / len(later) if later else None
    return {
        "run": job.label,
        "state": state if state != "queued" else f"waiting ({queue.waiting_ahead(job)} run(s) ahead)",
        "epochs": len(epochs),
        "val acc": epochs[-1].val_acc if epochs else None,
        "s / epoch (first)": first,
        "s / epoch (later)": later_mean,
        "first / later epoch": f"{first / later_mean:,.1f}x" if first and later_mean else None,
        "trainable params": start.params["trainable"] if start else None,
    }


def _curve(job, events: list) -> list[dict]:
    return [
        {"run": job.label, "epoch": e.epoch, "validation accuracy": e.val_acc}
        for e in events
        if isinstance(e, FinetuneEpoch)
    ]


def _progress(jobs: list) -> None:
    """The progress bar of the run training now, if one is, with about how long it still takes."""
    running = [j for j in jobs if j.state == "running"]
    if running:
        j = running[0]
        _, events, _ = j.snapshot()
        done = sum(isinstance(e, FinetuneEpoch) for e in events)
        total = next((e.epochs for e in events if isinstance(e, FinetuneStarted)), 1)
        st.progress(done / total, text=with_time_left(j, f"**{j.label}** · epoch {done}/{total}"))


def _accuracy_chart(curves: list[dict]) -> alt.Chart:
    return (
        alt.Chart(pd.DataFrame(curves))
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("validation accuracy:Q", title="val acc", scale=alt.Scale(domain=[0, 1])),
            color=alt.Color("run:N", legend=alt.Legend(orient="right", labelLimit=400)),
            tooltip=["run", "epoch", alt.Tooltip("validation accuracy:Q", format=".3f")],
        )
        .properties(height=260)
    )


def _downloads(jobs: list) -> None:
    """A download button for each finished run's fine-tuned state_dict."""
    for job in jobs:
        done = next((e for e in job.snapshot()[1] if isinstance(e, FinetuneDone)), None)
        if done and done.model_path:
            st.download_button(
                f"state_dict: {job.label}",
                lambda p=done.model_path: Path(p).read_bytes(),
                f"{job.label.split(' ·')[0]}-finetuned.pt",
                "application/octet-stream",
                key=f"ft_dl_{job.id}",
                on_click="ignore",
            )


mine = {j.id: j for j in queue.jobs(owner())}
jobs = [mine[i] for i in st.session_state.get("ft_jobs", []) if i in mine]
if jobs:
    active = any(not j.finished for j in jobs)

    every = poll_seconds(jobs)

    @st.fragment(run_every=every)
    def results():
        rows, curves = [], []
        for job in jobs:
            state_, events, message = job.snapshot()
            rows.append(_row(job, state_, events))
            curves += _curve(job, events)
            if state_ == "error":
                st.error(f"{job.label}: {message}")
            if not job.finished and st.button(f"Stop {job.label}", key=f"ft_stop_{job.id}"):
                job.stop()
        _progress(jobs)
        st.subheader("Runs")
        if curves:
            st.altair_chart(_accuracy_chart(curves), width="stretch")
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", column_config=RUN_COLUMNS)
        st.caption(
            "With only the head learning, the first epoch computes the frozen features once; later epochs "
            "train "
            "the head on them. `first / later epoch` is that speed-up (timings include the page's own "
            "polling)."
        )
        _downloads(jobs)
        if (
            active
            and all(j.finished for j in jobs)
            or (every == WAITING_POLL) != (poll_seconds(jobs) == WAITING_POLL)
        ):
            st.rerun()

    results()
