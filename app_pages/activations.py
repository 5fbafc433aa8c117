"""Layer Activations: drop an image, see what every conv layer of a CNN makes of it."""

import hashlib
import threading

import streamlit as st
import torch

from app_pages.lib.shared import dataset, owner, pick_weights
from explorer.analysis import activations as A
from explorer.dann.inputs import of_checkpoint
from explorer.dann.predict import load_for_prediction
from explorer.data.images import IMAGE_EXTENSIONS, read_image
from explorer.errors import ExplorerError
from explorer.store import runs
from explorer.transfer.backbones import WEIGHTS

st.title("Layer Activations")
st.caption(
    "Forward hooks catch what each convolution outputs for your image. Early filters respond to edges, "
    "colours and simple textures you can still recognise; deeper layers grow coarser and more abstract."
)
ds = dataset()


@st.cache_resource
def model_lock() -> threading.Lock:
    """Hooks are registered on a shared model for one pass: one pass at a time."""
    return threading.Lock()


@st.cache_resource(max_entries=4, show_spinner=False)
def extractor(path: str, mtime: float) -> tuple[A.LoadedExtractor, int]:
    """A run's feature extractor, loaded once per checkpoint version (not on every rerun)."""
    models, ckpt = load_for_prediction(path, torch.device("cpu"))
    loaded = A.LoadedExtractor(models["feature"], ckpt["arch"]["in_channels"], ckpt["config"]["image_size"], of_checkpoint(ckpt))
    return loaded, ckpt["epoch"]


my_runs = {f"DANN run: {r.label}": r for r in runs.list_runs(ds.fingerprint, owner())}
with st.container(border=True):
    c1, c2 = st.columns([1, 2])
    choice = c1.selectbox("Model", list(WEIGHTS) + list(my_runs), key="a_model")
    loaded, weights_note = None, ""
    try:
        if choice in my_runs:
            run = my_runs[choice]
            path = run.dir / "last.pt"
            loaded, epoch = extractor(str(path), path.stat().st_mtime)
            weights_note = f"the feature extractor of run {run.run_id}, epoch {epoch}"
        else:
            loaded = pick_weights(choice, c2, "a")[2]
            if loaded is not None:
                weights_note = loaded.weights
    except ExplorerError as e:
        st.error(str(e))
    if weights_note:
        st.caption(f"Weights in use: **{weights_note}**")

    c1, c2 = st.columns([2, 1])
    up = c1.file_uploader("Drop an image", type=sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS), key="a_image")
    sample = c2.number_input("…or a source image of the dataset", 0, len(ds.source) - 1, 0, key="a_sample")

if loaded is not None:
    size = loaded.input_size if isinstance(loaded, A.LoadedExtractor) else A.INPUT_SIZE
    image_key = hashlib.blake2b(up.getvalue(), digest_size=8).hexdigest() if up is not None else f"sample {int(sample)}"
    key = (choice, weights_note, image_key, ds.fingerprint)
    if st.session_state.get("a_key") != key:  # the pass runs only when the model or the image changed
        try:
            if up is not None:
                pixels, info = read_image(up.getvalue(), size)
                source = f"{up.name} ({info.width}x{info.height} {info.mode})"
            else:
                pixels, source = A.dataset_pixels(ds.source.images[int(sample)], size), f"source image {int(sample)}"
            x = A.dann_input(pixels, loaded) if isinstance(loaded, A.LoadedExtractor) else A.imagenet_input(pixels)
            model = loaded.model
            with model_lock():
                cap = A.capture(model, x)
            st.session_state.a_last = (pixels, cap, source, weights_note, A.first_conv(model).weight.detach().clone())
            st.session_state.a_key = key
        except ExplorerError as e:
            st.error(
                f"{up.name if up is not None else 'image'}: {str(e).rstrip('.')}."
                + (" The previous result stays below." if "a_last" in st.session_state else "")
            )

if "a_last" not in st.session_state:
    st.stop()
pixels, cap, source, weights_note, kernel = st.session_state.a_last
layers = list(cap.maps)
st.subheader(f"{source} · {weights_note}")

c1, c2 = st.columns([1, 3])
with c1:
    st.image(pixels, caption="the network's input (centre crop, resized)", width="stretch")
    st.image(
        A.kernel_grid(kernel),
        caption=f"{layers[0]} weights: {kernel.shape[0]} kernels of {kernel.shape[-1]}x{kernel.shape[-1]}",
        width="stretch",
    )
with c2:
    layer = st.selectbox(
        "Layer",
        layers,
        key="a_layer",
        format_func=lambda n: f"{n} · {cap.maps[n].shape[0]} maps of {cap.maps[n].shape[1]}x{cap.maps[n].shape[2]}",
    )
    maps = cap.maps[layer]
    pages = max(1, -(-maps.shape[0] // 64))
    first = st.number_input(f"First map (64 per page, {pages} page(s))", 0, maps.shape[0] - 1, 0, step=64, key=f"a_page_{layer}")
    st.image(
        A.map_grid(maps, int(first)),
        caption=f"{layer}: maps {int(first)}–{min(int(first) + 64, maps.shape[0]) - 1}, "
        "each scaled to its own range (viridis: dark = low, yellow = high)",
        width="stretch",
    )

c1, c2 = st.columns([1, 1])
with c1:
    pick = st.number_input("Look at one map", 0, maps.shape[0] - 1, int(first), key=f"a_pick_{layer}")
    st.image(A.single_map(maps, int(pick)), caption=f"{layer}, map {int(pick)}", width="stretch")
with c2:
    st.image(pixels, caption="beside the input", width="stretch")

with st.expander("Layer summary (for this input)", expanded=False):
    st.dataframe(cap.summary, hide_index=True, width="stretch")
    total = sum(r["parameters"] for r in cap.summary)
    st.caption(f"{len(cap.summary)} layers, {total:,} parameters")
