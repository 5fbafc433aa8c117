"""Feature Space's "Where it looks" view: class-activation maps of a run and its source-only twin,
side by side on the same target and source images, with the two numbers per model beside them.

The maps are computed once per (checkpoints, method, layer) for `MOST` images of each domain and
kept for the server; the images shown are the first N of those, so changing N, or coming back to
the page, recomputes nothing.
"""

from __future__ import annotations

import threading

import pandas as pd
import streamlit as st

from app_pages.lib import pictures
from app_pages.lib.twin import WHAT_IT_IS, finished_twin
from explorer.analysis import cam as C
from explorer.analysis import cam_compare as compare
from explorer.dann.runfolder import shipped
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.store import runs

MOST = 32  # images per domain computed once; the slider shows the first N of them
METHOD_NAMES = {"gradcam": "Grad-CAM", "scorecam": "Score-CAM"}


@st.cache_resource(max_entries=8, show_spinner=False)
def _classifier(run_dir: str, checkpoint: str, mtime: float) -> tuple[C.Classifier, dict[str, str]]:
    """The classifier and its blocks, found by a pass with hooks before any session shares the model."""
    loaded = C.load_classifier(run_dir, checkpoint)
    return loaded, C.block_outputs(loaded)


def classifier(run: runs.RunRecord) -> tuple[C.Classifier, dict[str, str]]:
    """The run's classifier at the checkpoint it ships and its blocks (`block_outputs`), loaded once
    per checkpoint version."""
    path = shipped(run.dir, history=run.metrics).path
    return _classifier(str(run.dir), str(path), path.stat().st_mtime)


@st.cache_resource
def _one_at_a_time() -> threading.Lock:
    """The models are shared by every session: a CAM extractor's hooks on one must not catch another
    session's pass."""
    return threading.Lock()


@st.cache_resource(max_entries=16, show_spinner="Computing the maps…")
def _looks(key: tuple, _models: dict, _ds: Dataset, method: str, layer: str | None) -> dict:
    """{(model name, domain): Look} for the first `MOST` images of each domain (a fixed sample)."""
    with _one_at_a_time():
        return compare.looks(_models, _ds, MOST, method, layer)


def looks(models: dict[str, C.Classifier], ds: Dataset, method: str, layer: str | None) -> dict:
    return _looks(identity(models, ds, method, layer), models, ds, method, layer)


def identity(models: dict[str, C.Classifier], ds: Dataset, *what) -> tuple:
    """What the maps depend on: each model's run and checkpoint (its epoch), the data, and `what`."""
    return (
        *((n, m.config.get("run_id"), m.name, m.checkpoint) for n, m in models.items()),
        ds.fingerprint,
        *what,
    )


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
                "on strokes": compare.percent(s["strokes"]),
                "even spread": compare.percent(s["glyph_area"]),
                "faithfulness": "–" if s["faithfulness"] is None else f"{s['faithfulness']:+.2f}",
                "accuracy": compare.percent(s["accuracy"]),
            }
        )
    return pd.DataFrame(rows).sort_values(["images", "model"], ascending=[False, True], kind="stable")


def twin_for(run: runs.RunRecord, ds: Dataset) -> runs.RunRecord | None:
    """The run's finished source-only twin; else why not, and the button that trains it (its
    progress shows here and beside the run on Train DANN; this view reruns when it ends)."""
    if run.config.get("method") != "dann":
        st.caption(
            "A source-only run: its maps alone. Pick a DANN run to see it beside its source-only twin."
        )
        return None
    return finished_twin(
        run,
        ds,
        ask=f"Did adaptation change *where* the model looks? Its **source-only twin** ({WHAT_IT_IS}) "
        "answers that: train it, and its maps appear beside this run's.",
        elsewhere="Its source-only twin is training now (started elsewhere): its maps join when it ends "
        "and the page is opened again.",
        key=f"cam_twin_{run.run_id}",
    )


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
        help="Grad-CAM: gradients of the class's score, one backward pass. Score-CAM: no gradients, one "
        "forward pass per channel of the layer, each channel used as a mask on the input",
    )
    layer = c3.selectbox(
        "Layer",
        list(layers),
        index=len(layers) - 1,
        key=f"cam_layer_{run.run_id}",
        format_func=layers.get,
        help="where the map is taken: the last one with a picture-shaped output is the default (the "
        "coarsest, closest to the decision); earlier layers give finer maps",
    )
    try:
        found = looks(models, ds, method, layer)
    except ExplorerError as e:
        st.error(str(e))
        return
    shown = compare.first(found, n)
    run_name = next(iter(models))
    st.markdown(compare.verdict(shown, run_name, "source-only twin" if len(models) > 1 else None, n))
    st.dataframe(numbers(shown), hide_index=True, width="stretch")
    pictures.show(
        st,
        ("cam", *identity(models, ds, method, layer, n)),
        lambda: compare.picture(shown, ds),
        width="stretch",
    )
    st.caption(CAPTION)


CAPTION = (
    "Each map is drawn over what that model saw (red: where the evidence for the predicted class is, "
    "blue: none); a red frame marks a wrong prediction where the true class is known. **on strokes**: the "
    "share of the map's mass on the glyph, found without labels (Otsu's threshold of the model's input, the "
    "background being the border's side); **even spread**: what a map spread evenly would score, the "
    "chance level. **faithfulness**: how much more the predicted class's probability drops when the map's "
    "top 20% of pixels are blurred out than when a random 20% are; above 0, the map points at what the "
    "prediction depends on."
)
