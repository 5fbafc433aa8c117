"""Layer Activations: drop an image, see what every conv layer of a CNN makes of it."""

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import streamlit as st
import torch

from app_pages.lib import pictures
from app_pages.lib.datasets import dataset
from app_pages.lib.runpicker import my_runs, others_data, select, selected
from app_pages.lib.session import session_dir
from app_pages.lib.weights import cached_backbone, imagenet, missing_line, pick_weights
from explorer.analysis import activations as A
from explorer.dann.inputs import of_checkpoint
from explorer.dann.predict import load_for_prediction
from explorer.data.images import IMAGE_EXTENSIONS, read_image
from explorer.errors import ExplorerError
from explorer.transfer import saved
from explorer.transfer.backbones import WEIGHTS, WeightsMissing, hub_file

st.title("Layer Activations")
st.caption(
    "Forward hooks catch what each convolution outputs for your image. Early filters respond to edges, "
    "colours and simple textures you can still recognise; deeper layers grow coarser and more abstract."
)
ds = dataset()


@st.cache_resource
def model_locks() -> tuple[threading.Lock, dict]:
    """Hooks are registered on a shared model for one pass: one pass at a time on each model."""
    return threading.Lock(), {}


def model_lock(model: torch.nn.Module) -> threading.Lock:
    guard, locks = model_locks()
    with guard:
        return locks.setdefault(id(model), threading.Lock())


def locked_capture(model: torch.nn.Module, lock: threading.Lock, x: torch.Tensor) -> A.Capture:
    with lock:
        return A.capture(model, x)


@st.cache_resource
def passes() -> ThreadPoolExecutor:
    """Two models' passes run side by side (bench/bench_activations.py: 1.5x one pass, against 1.9x
    one after the other)."""
    return ThreadPoolExecutor(4, thread_name_prefix="activations")


def backbone(name: str, weights: str, container):
    if weights == "imagenet":
        imagenet(name, container)
    return cached_backbone(name, weights, "")


@st.cache_resource(max_entries=4, show_spinner=False)
def extractor(path: str, mtime: float) -> tuple[A.LoadedExtractor, int]:
    """A run's feature extractor, loaded once per checkpoint version (not on every rerun)."""
    models, ckpt = load_for_prediction(path, torch.device("cpu"))
    loaded = A.LoadedExtractor(
        models["feature"], ckpt["arch"]["in_channels"], ckpt["config"]["image_size"], of_checkpoint(ckpt)
    )
    return loaded, ckpt["epoch"]


def run_extractor(path) -> A.LoadedExtractor:
    loaded, _ = extractor(str(path), path.stat().st_mtime)
    return loaded


def model_input(pixels, loaded, domain: str) -> tuple[torch.Tensor, str]:
    """The model's input tensor, and in words what was done to the picture to make it."""
    if not isinstance(loaded, A.LoadedExtractor):
        return A.imagenet_input(
            pixels
        ), f"{A.INPUT_SIZE}x{A.INPUT_SIZE}, centre crop, resized, normalised with ImageNet's mean and std"
    p, size = loaded.preprocess, loaded.input_size
    step = A.input_step(p, domain, loaded.in_channels == 3)
    note = f"{size}x{size}, {step}, as the run's preprocessing of {domain} images"
    return A.dann_input(pixels, loaded, domain), note + (", chosen by auto" if p.evidence else "")


def fine_tuned_here() -> dict[str, str]:
    """The models this session fine-tuned (Transfer Fine-tune keeps them in its folder), by label,
    newest first; of two with the same label, the newer."""
    found: dict[str, str] = {}
    for label, path in saved.saved(session_dir() / "finetuned"):
        found.setdefault(f"fine-tuned here: {label}", str(path))
    return found


run_choices = {f"DANN run: {r.label}": r for r in my_runs(ds)}
shared = bool(st.session_state.get("shared"))  # opened by a share link: that run and nothing else
finetuned = {} if shared else fine_tuned_here()  # a share link shows its run only
models = list(run_choices) if shared else list(WEIGHTS) + list(run_choices)
# The default: the session's selected run against its own start (the run every page shows); with no
# run, resnet18 (ImageNet against random where the file is here; else random weights, labelled so, the
# weights radio saying in one line what ImageNet needs and offering the download).
mine = selected(list(run_choices.values()))  # the session's selected run, the same on every page
if shared and mine is None:
    st.error(
        "This shared run is no longer on the server (removed from the checkpoint cache).",
        icon=":material/link_off:",
    )
    st.stop()
default = f"DANN run: {mine.label}" if mine is not None else "resnet18"
if st.session_state.get("a_model") not in models or (
    st.session_state.a_model in run_choices and mine and st.session_state.a_model != f"DANN run: {mine.label}"
):
    st.session_state.a_model = default  # first show; or another page selected another run: follow it


def chosen() -> None:
    if st.session_state.a_model in run_choices:  # a run chosen here is the selected run on every page
        select(run_choices[st.session_state.a_model].run_id)


with st.container(border=True):
    # full width: a run's label is long
    choice = st.selectbox("Model", models, key="a_model", on_change=chosen)
    wbox = st.container()
    loaded, weights_note, partners, kind = None, "", {"nothing": None}, "run"
    try:
        if choice in run_choices:
            run = run_choices[choice]
            loaded, epoch = extractor(str(run.dir / "last.pt"), (run.dir / "last.pt").stat().st_mtime)
            weights_note = f"the feature extractor of run {run.label}, epoch {epoch}"
            if (run.dir / "epoch_0000.pt").is_file():
                partners["its epoch 0 (random start)"] = lambda run=run: (
                    run_extractor(run.dir / "epoch_0000.pt"),
                    "the same run at epoch 0 (its random start)",
                )
            why = "the same network before and after DANN training on your data"
        else:
            kind, _, loaded = pick_weights(choice, wbox, "a")
            weights_note = loaded.weights if loaded is not None else ""
            if kind != "imagenet":
                partners["ImageNet weights"] = lambda: (backbone(choice, "imagenet", wbox), "ImageNet")
            if kind != "random":
                partners["random weights"] = lambda: (
                    backbone(choice, "random", wbox),
                    "random (not pretrained)",
                )
            partners |= {
                k: (lambda p=p, k=k: (backbone(choice, p, wbox), k))
                for k, p in finetuned.items()
                if k.split(": ")[1].startswith(choice)
            }
            why = "what training did to the same architecture's filters"
    except ExplorerError as e:
        st.error(str(e))
    if weights_note:
        st.caption(f"Weights in use: **{weights_note}**")
    first_choice = next(
        (k for k in partners if k != "nothing" and (k != "ImageNet weights" or hub_file(choice).is_file())),
        "nothing",
    )
    c1, c2, c3 = st.columns([2, 1, 3])
    up = c1.file_uploader(
        "Drop an image", type=sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS), key="a_image"
    )
    sample = (
        0
        if others_data()
        else c2.number_input("…or source image no.", 0, len(ds.source) - 1, 0, key="a_sample")
    )
    # a dataset image is a source image; a dropped one may be either, where the run prepared them differently
    domain = "source"
    if (
        up is not None
        and isinstance(loaded, A.LoadedExtractor)
        and (loaded.preprocess.edges == "source" or loaded.preprocess.invert)
    ):
        domain = c1.radio(
            "Prepare it as the run prepared its",
            ["source", "target"],
            horizontal=True,
            key="a_domain",
            format_func=lambda d: (
                f"{d} images: {A.input_step(loaded.preprocess, d, loaded.in_channels == 3)}"
            ),
        )
    other_choice = c3.selectbox(
        "Compare with",
        list(partners),
        index=list(partners).index(first_choice),
        key=f"a_other_{choice}_{kind}",
        help="a second model of the same architecture, on the same image and layer",
    )
    other, other_note = None, ""
    if up is None and others_data():
        loaded = None  # a shared run on its owner's images: drop an image of your own
        st.info(
            "Drop an image of your own: this run was trained on its owner's images, "
            "which a share link does not show."
        )
    if loaded is not None and partners.get(other_choice):
        try:
            other, other_note = partners[other_choice]()
        except WeightsMissing as e:
            st.warning(missing_line(choice, e), icon=":material/cloud_off:")
        except ExplorerError as e:
            st.warning(str(e), icon=":material/cloud_off:")
    if other is not None:
        picked = (
            "the most informative pair on this machine: "
            if other_choice == first_choice and choice == default
            else ""
        )
        st.caption(f"Side by side: **{weights_note}** and **{other_note}**, {picked}{why}.")

if loaded is not None:
    size = loaded.input_size if isinstance(loaded, A.LoadedExtractor) else A.INPUT_SIZE
    image_key = (
        hashlib.blake2b(up.getvalue(), digest_size=8).hexdigest()
        if up is not None
        else f"sample {int(sample)}"
    )
    key = (choice, weights_note, other_note, image_key, domain, ds.fingerprint)
    if st.session_state.get("a_key") != key:  # the passes run only when a model or the image changed
        try:
            if up is not None:
                pixels, info = read_image(up.getvalue(), size)
                source = f"{up.name} ({info.width}x{info.height} {info.mode})"
            else:
                pixels, source = (
                    A.dataset_pixels(ds.source.images[int(sample)], size),
                    f"source image {int(sample)}",
                )
            x, seen_note = model_input(pixels, loaded, domain)
            pair = [m for m in (loaded, other) if m is not None]
            # the locks taken here: the pool's threads have no Streamlit context
            locks = [model_lock(m.model) for m in pair]
            # side by side: 1.5x one pass, not 2x
            caps = list(passes().map(lambda m, lock: locked_capture(m.model, lock, x), pair, locks))
            # what the run sees
            seen = (
                (x[0] * 255).byte().permute(1, 2, 0).numpy()
                if isinstance(loaded, A.LoadedExtractor)
                else pixels
            )
            st.session_state.a_last = (
                seen,
                seen_note,
                caps[0],
                source,
                weights_note,
                A.first_conv(loaded.model).weight.detach().clone(),
            )
            st.session_state.a_other = (
                (caps[1], other_note, A.first_conv(other.model).weight.detach().clone()) if other else None
            )
            st.session_state.a_key = key
        except ExplorerError as e:
            st.error(
                f"{up.name if up is not None else 'image'}: {str(e).rstrip('.')}."
                + (" The previous result stays below." if "a_last" in st.session_state else "")
            )

if "a_last" not in st.session_state:
    st.stop()
pixels, seen_note, cap, source, weights_note, kernel = st.session_state.a_last
other = st.session_state.get("a_other")
layers = list(cap.maps)
st.subheader(source if other else f"{source} · {weights_note}")
st.caption(f"Input: {seen_note}.")


def kernels(k: torch.Tensor, note: str = "") -> None:
    pictures.show(
        st,
        ("kernels", st.session_state.a_key, note, k.shape, float(k.sum())),
        lambda: A.kernel_grid(k),
        caption=f"{note}{layers[0]} weights: {k.shape[0]} kernels of {k.shape[-1]}x{k.shape[-1]}",
        width="stretch",
    )


def side_by_side_kernels(k: torch.Tensor, k0: torch.Tensor, note: str, note0: str) -> None:
    """Both models' first-layer kernels, their difference at one scale, and how far they moved: the
    number that the two grids, each kernel at its own scale, cannot show."""
    moved = A.kernel_change(k, k0) if k.shape == k0.shape else None
    titles, grids = st.columns(3), st.columns(3)  # titles in their own row: the grids start level
    for col, title in zip(titles, (note, note0, "the difference, left − right" if moved else "")):
        col.markdown(f"**{title}**" if title else "")
    for col, w in zip(grids, (k, k0)):
        with col:
            kernels(w)
    if moved is None:
        return
    picture, scale = A.difference_grid(k, k0)
    grids[2].image(
        picture,
        width="stretch",
        output_format="PNG",
        caption=f"one scale for all {k.shape[0]}: grey = unchanged, lighter = up, darker = down "
        f"(±{scale:.3g} at the ends)",
    )
    i, most = moved.most
    st.markdown(
        f"How far each {layers[0]} kernel moved, ‖W − W₀‖ / ‖W₀‖ (W left, W₀ right): "
        f"median **{moved.median:.1%}**, "
        f"max **{most:.1%}** (filter {i}); the whole layer {moved.whole:.1%}."
    )


def grid(c: A.Capture, note: str = "") -> None:
    m = c.maps[layer]
    pictures.show(
        st,
        ("maps", st.session_state.a_key, note, layer, int(first)),
        lambda: A.map_grid(m, int(first)),
        width="stretch",
        caption=f"{note}{layer}: maps {int(first)}–{min(int(first) + 64, m.shape[0]) - 1}, "
        "each scaled to its own range (viridis: dark = low, yellow = high)",
    )


c1, c2 = st.columns([1, 3])
with c1:
    st.image(pixels, caption="the model's input", width="stretch", output_format="PNG")
    if not other:
        kernels(kernel)
with c2:
    layer = st.selectbox(
        "Layer",
        layers,
        key="a_layer",
        format_func=lambda n: (
            f"{n} · {cap.maps[n].shape[0]} maps of {cap.maps[n].shape[1]}x{cap.maps[n].shape[2]}"
        ),
    )
    maps = cap.maps[layer]
    pages = max(1, -(-maps.shape[0] // 64))
    first = st.number_input(
        f"First map (64 per page, {pages} page(s))", 0, maps.shape[0] - 1, 0, step=64, key=f"a_page_{layer}"
    )
    if not other:
        grid(cap)
if other:
    other_cap, other_note, other_kernel = other
    side_by_side_kernels(kernel, other_kernel, weights_note, other_note)
    for col, (c, note) in zip(st.columns(2), ((cap, weights_note), (other_cap, other_note))):
        with col:
            grid(c, f"{note} · ")

c1, c2 = st.columns([1, 1])
with c1:
    pick = st.number_input("Look at one map", 0, maps.shape[0] - 1, int(first), key=f"a_pick_{layer}")
    pictures.show(
        st,
        ("map", st.session_state.a_key, layer, int(pick)),
        lambda: A.single_map(maps, int(pick)),
        caption=f"{layer}, map {int(pick)}",
        width="stretch",
    )
with c2:
    st.image(pixels, caption="beside the input", width="stretch", output_format="PNG")

with st.expander("Layer summary (for this input)", expanded=False):
    st.dataframe(cap.summary, hide_index=True, width="stretch")
    total = sum(r["parameters"] for r in cap.summary)
    st.caption(f"{len(cap.summary)} layers, {total:,} parameters")
