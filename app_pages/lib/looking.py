"""Feature Space's "Where it looks" view: class-activation maps of a run and its source-only twin,
side by side on the same target and source images, with the two numbers per model beside them.

The maps are computed once per (checkpoints, method, layer) for `MOST` images of each domain and
kept for the server; the images shown are the first N of those, so changing N, or coming back to
the page, recomputes nothing.
"""

from __future__ import annotations

import math
import threading

import pandas as pd
import streamlit as st
import torch

from app_pages.lib import measuring, pictures
from app_pages.lib.judging import twin_jobs, twin_of, twin_progress
from app_pages.lib.serverjobs import cluster, job_queue
from app_pages.lib.session import owner
from explorer.analysis import cam as C
from explorer.analysis import cam_metrics as M
from explorer.analysis.cam_picture import cam_grid, side_by_side
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.store import cache, runs

MOST = 32  # images per domain computed once; the slider shows the first N of them
METHOD_NAMES = {"gradcam": "Grad-CAM", "scorecam": "Score-CAM"}
DOMAINS = ("target", "source")


@st.cache_resource(max_entries=8, show_spinner=False)
def _classifier(run_dir: str, checkpoint: str, mtime: float) -> tuple[C.Classifier, dict[str, str]]:
    """The classifier and its blocks, found by a pass with hooks before any session shares the model."""
    loaded = C.load_classifier(run_dir, checkpoint)
    return loaded, block_outputs(loaded)


def classifier(run: runs.RunRecord) -> tuple[C.Classifier, dict[str, str]]:
    """The run's classifier at its selected checkpoint and its blocks (`block_outputs`), loaded once
    per checkpoint version."""
    path, _ = C.selected_checkpoint(run.dir)
    return _classifier(str(run.dir), str(path), path.stat().st_mtime)


@st.cache_resource
def _one_at_a_time() -> threading.Lock:
    """The models are shared by every session: a CAM extractor's hooks on one must not catch another session's pass."""
    return threading.Lock()


@st.cache_resource(max_entries=16, show_spinner="Computing the maps…")
def _looks(key: tuple, _models: dict, _ds: Dataset, method: str, layer: str | None) -> dict:
    """{(model name, domain): Look} for the first `MOST` images of each domain (a fixed sample)."""
    out = {}
    with _one_at_a_time():
        for domain in DOMAINS:
            images, labels = M.sample(getattr(_ds, domain), MOST)
            for name, model in _models.items():
                out[name, domain] = M.look(model, images, domain, labels, method, layer, name)
    return out


def looks(models: dict[str, C.Classifier], ds: Dataset, method: str, layer: str | None) -> dict:
    return _looks(identity(models, ds, method, layer), models, ds, method, layer)


def identity(models: dict[str, C.Classifier], ds: Dataset, *what) -> tuple:
    """What the maps depend on: each model's run and checkpoint (its epoch), the data, and `what`."""
    return (
        *((n, m.config.get("run_id"), m.name, m.checkpoint) for n, m in models.items()),
        ds.fingerprint,
        *what,
    )


def first(lk: M.Look, n: int) -> M.Look:
    """The Look of the first `n` images."""
    return M.Look(
        lk.model,
        lk.domain,
        lk.inputs[:n],
        C.Cams(lk.cams.maps[:n], lk.cams.predicted[:n], lk.cams.probs[:n], lk.cams.layer),
        lk.glyph[:n],
        lk.strokes[:n],
        lk.glyph_area[:n],
        lk.faithfulness[:n],
        None if lk.labels is None else lk.labels[:n],
    )


def block_outputs(model: C.Classifier) -> dict[str, str]:
    """The layers worth a map, by name, in words: each conv block's output (its ReLU, before the
    pooling) with the map's resolution; for a torchvision ResNet its four stages. Other models: every
    layer with a picture-shaped output."""
    shapes = C.layer_shapes(model.model, model.input_shape)
    named = C.layer_names(model.model, model.input_shape)
    types = dict(model.model.named_modules())
    blocks = [n for n in named if isinstance(types[n], torch.nn.ReLU) and n.startswith("feature.")]
    blocks = (
        blocks
        or [n for n in named if n.rsplit(".", 1)[-1] in ("layer1", "layer2", "layer3", "layer4")]
        or named
    )
    return {
        n: f"{'block' if n.startswith('feature.') else n.rsplit('.', 1)[-1]} {i}: {n} · {shapes[n][1]}x{shapes[n][2]} map"
        for i, n in enumerate(blocks, start=1)
    }


def _pct(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.0%}"


def numbers(shown: dict) -> pd.DataFrame:
    """One row per model and domain: attention on strokes beside an even spread's (the chance
    level), faithfulness, and accuracy where the labels are known. Six columns fit a narrow window."""
    rows = []
    for (name, domain), lk in shown.items():
        s = lk.summary()
        rows.append(
            {
                "model": name,
                "images": domain,
                "on strokes": _pct(s["strokes"]),
                "even spread": _pct(s["glyph_area"]),
                "faithfulness": "–" if s["faithfulness"] is None else f"{s['faithfulness']:+.2f}",
                "accuracy": _pct(s["accuracy"]),
            }
        )
    return pd.DataFrame(rows).sort_values(["images", "model"], ascending=[False, True], kind="stable")


def verdict(shown: dict, run_name: str, twin_name: str | None, n: int) -> str:
    """In words: does the run look more at the target's strokes than its twin?"""
    d = shown[run_name, "target"].summary()
    if twin_name is None:
        return (
            f"On these {n} target images the run puts **{_pct(d['strokes'])}** of its map on the strokes; a map spread "
            f"evenly would put {_pct(d['glyph_area'])} there."
        )
    t = shown[twin_name, "target"].summary()
    if d["strokes"] is None or t["strokes"] is None:
        return "No map had any evidence for its class at this layer: pick another layer."
    gap = d["strokes"] - t["strokes"]
    how = "**more** than" if gap > 0.02 else ("**less** than" if gap < -0.02 else "**about as much** as")
    return (
        f"On these {n} target images the DANN run puts {_pct(d['strokes'])} of its map on the strokes, its source-only twin "
        f"{_pct(t['strokes'])} (an evenly spread map: {_pct(d['glyph_area'])}): DANN looks at the target's strokes {how} "
        f"its twin, on this sample."
    )


def twin_for(run: runs.RunRecord, ds: Dataset) -> runs.RunRecord | None:
    """The run's finished source-only twin; else why not, and the button that trains it (its
    progress shows here and beside the run on Train DANN; this view reruns when it ends)."""
    if run.config.get("method") != "dann":
        st.caption(
            "A source-only run: its maps alone. Pick a DANN run to see it beside its source-only twin."
        )
        return None
    config, twin = twin_of(run)
    if twin is not None and twin.finished:
        return twin
    job = {j.id: j for j in job_queue().jobs(owner())}.get(twin_jobs().get(run.run_id))
    if job is not None and not job.finished:
        twin_progress(job, run)
    elif twin is not None and cache.busy(twin.dir):
        st.caption(
            "Its source-only twin is training now (started elsewhere): its maps join when it ends and the page is opened again."
        )
    else:
        st.info(
            "Did adaptation change *where* the model looks? Its **source-only twin** (the same options with λ = 0) answers "
            "that: train it, and its maps appear beside this run's.",
            icon=":material/compare:",
        )
        if st.button("Train the source-only twin", key=f"cam_twin_{run.run_id}"):
            try:
                twin_jobs()[run.run_id] = measuring.submit(config, ds, cluster()).id
            except ExplorerError as e:
                st.error(str(e))
            else:
                st.rerun()
    return None


def section(run: runs.RunRecord, ds: Dataset) -> None:
    """The view: the controls, the grid of maps (target and source side by side), the numbers."""
    try:
        dann, layers = classifier(run)
    except (ExplorerError, OSError) as e:
        st.error(f"{run.label}: {e}")
        return
    twin = twin_for(run, ds)
    models = {"DANN run" if run.config.get("method") == "dann" else "this run": dann}
    if twin is not None:
        try:
            models["source-only twin"] = classifier(twin)[0]
            C.check_twin(dann, models["source-only twin"])
        except (ExplorerError, OSError) as e:
            st.warning(f"The twin's maps are left out: {e}")
            models.pop("source-only twin", None)
    c1, c2, c3 = st.columns(3)
    n = c1.slider(
        "Images per domain",
        2,
        MOST,
        8,
        step=2,
        key="cam_n",
        help=f"the first N of {MOST} fixed images; the maps are computed once for all {MOST}",
    )
    method = c2.selectbox(
        "Method",
        list(METHOD_NAMES),
        format_func=METHOD_NAMES.get,
        key="cam_method",
        help="Grad-CAM: gradients of the class's score, one backward pass. Score-CAM: no gradients, one forward "
        "pass per channel of the layer, each channel used as a mask on the input",
    )
    layer = c3.selectbox(
        "Layer",
        list(layers),
        index=len(layers) - 1,
        key=f"cam_layer_{run.run_id}",
        format_func=layers.get,
        help="where the map is taken: the last one with a picture-shaped output is the default (the coarsest, "
        "closest to the decision); earlier layers give finer maps",
    )
    try:
        found = looks(models, ds, method, layer)
    except ExplorerError as e:
        st.error(str(e))
        return
    shown = {k: first(v, n) for k, v in found.items()}
    run_name = next(iter(models))
    st.markdown(verdict(shown, run_name, "source-only twin" if len(models) > 1 else None, n))
    st.dataframe(numbers(shown), hide_index=True, width="stretch")
    pictures.show(
        st,
        ("cam", *identity(models, ds, method, layer, n)),
        lambda: _picture(shown, list(models), ds, n),
        width="stretch",
    )
    st.caption(CAPTION)


def _picture(shown: dict, names: list[str], ds: Dataset, n: int):
    images = {d: M.sample(getattr(ds, d), n)[0] for d in DOMAINS}
    classes = tuple(ds.source.classes)
    return side_by_side(
        [cam_grid(images[d], [shown[m, d] for m in names], classes, title=f"{d} images") for d in DOMAINS]
    )


CAPTION = (
    "Each map is drawn over what that model saw (red: where the evidence for the predicted class is, blue: none); a red frame "
    "marks a wrong prediction where the true class is known. **on strokes**: the share of the map's mass on the glyph, found "
    "without labels (Otsu's threshold of the model's input, the background being the border's side); **even spread**: what a "
    "map spread evenly would score, the chance level. **faithfulness**: how much more the predicted class's probability drops "
    "when the map's top 20% of pixels are blurred out than when a random 20% are; above 0, the map points at what the "
    "prediction depends on."
)
