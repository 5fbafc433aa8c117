"""Pretrained weights for a torchvision backbone, honestly labelled: the loaded model (kept for the
whole server), the weights radio (ImageNet, an uploaded state_dict, or random), and the ImageNet
download into the torch hub cache with a progress bar when the sidebar allows it."""

from __future__ import annotations

import hashlib

import streamlit as st

from explorer.errors import ExplorerError
from explorer.transfer import download
from explorer.transfer.backbones import WeightsMissing, ensure_imagenet, hub_file, load_backbone, load_state_file


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def cached_backbone(name: str, weights: str, digest: str, _state=None):
    """`load_backbone`, kept for the whole server: one model per (name, weights, digest of the uploaded state)."""
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
            return "imagenet", None, cached_backbone(name, "imagenet", "")
        if kind.startswith("Random"):
            return "random", None, cached_backbone(name, "random", "")
        up = container.file_uploader(f"A {name} state_dict (.pth)", type=["pth", "pt"], key=f"{key}_state")
        if up is None:
            return None, None, None
        data = up.getvalue()
        state = load_state_file(data)
        return "file", state, cached_backbone(name, "file", hashlib.blake2b(data, digest_size=8).hexdigest(), state)
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
