"""Pretrained weights for a torchvision backbone, honestly labelled: the loaded model (kept for the
whole server), the weights radio (ImageNet, an uploaded state_dict, or random), and the ImageNet
download into the torch hub cache with a progress bar when the sidebar allows it.

The radio opens on ImageNet only when its file is already in the hub cache; otherwise on
"Random (not pretrained)", with one line saying what ImageNet needs and, where downloads are
allowed, a Download button beside it."""

from __future__ import annotations

import hashlib

import streamlit as st

from explorer.errors import ExplorerError
from explorer.transfer import download
from explorer.transfer.backbones import (
    WEIGHTS,
    WeightsMissing,
    ensure_imagenet,
    hub_file,
    load_backbone,
    load_state_file,
)

OPTIONS = ("ImageNet", "Upload a state_dict", "Random (not pretrained)")
IMAGENET, UPLOAD, RANDOM = OPTIONS


@st.cache_resource(max_entries=6, show_spinner="Loading the model…")
def cached_backbone(name: str, weights: str, digest: str, _state=None):
    """`load_backbone`, kept for the whole server: one model per name, weights and uploaded state."""
    return load_backbone(name, weights, _state)


def downloads_allowed() -> bool:
    """The sidebar's switch (on unless the server forbids downloads: EXPLORER_ALLOW_DOWNLOADS=0)."""
    return download.allowed() and st.session_state.get("allow_downloads", True)


def missing_line(name: str, error: WeightsMissing | None = None) -> str:
    """One line: what `name`'s ImageNet weights need here (a download, or a file put in the hub
    cache by hand), or why getting them failed. Names the hub cache, never this server's own path."""
    file, size = hub_file(name).name, WEIGHTS[name].meta.get("_file_size")
    put = f"put `{file}` into `$TORCH_HOME/hub/checkpoints/`"
    if error is not None and error.reason not in ("", "server", "session"):
        return (
            f"Downloading the ImageNet weights for {name} failed: {error.reason}. "
            f"Retry, or {put}, or upload a state_dict."
        )
    if not download.allowed():
        return (
            f"ImageNet weights for {name} are not on this machine and this server does not download: {put}."
        )
    if not downloads_allowed():
        return (
            f"ImageNet weights for {name} need a download, off for this session: "
            "turn on *Allow weight downloads* in the sidebar."
        )
    return (
        f"ImageNet weights for {name} need a one-time download"
        + (f" ({size:.0f} MB)" if size else "")
        + " into the torch hub cache."
    )


def where_from(name: str) -> str:
    """The tooltip beside the line: where the file comes from, and what the hub cache is."""
    return (
        f"torchvision's file: {WEIGHTS[name].url} (or the same name under EXPLORER_WEIGHTS_MIRROR). "
        "The torch hub cache is $TORCH_HOME/hub/checkpoints/ (by default ~/.cache/torch/hub/checkpoints/), "
        "where torchvision looks first"
        + ("; this server never downloads (EXPLORER_ALLOW_DOWNLOADS=0)." if not download.allowed() else ".")
    )


def _default(name: str, key: str) -> None:
    """On first show and for a new backbone: ImageNet when its file is here, else random.

    An uploaded state_dict, once chosen, stays chosen."""
    radio, shown = f"{key}_weights", f"{key}_weights_for"
    if st.session_state.get(shown) != name or radio not in st.session_state:
        if st.session_state.get(radio) != UPLOAD:
            st.session_state[radio] = IMAGENET if hub_file(name).is_file() else RANDOM
        st.session_state[shown] = name


def _fetch_if_asked(name: str, container, key: str) -> None:
    """After a click on Download: the file into the hub cache (a progress bar), then ImageNet chosen."""
    if st.session_state.pop(f"{key}_fetch", None) != name:
        return
    try:
        imagenet(name, container)
    except WeightsMissing as e:
        container.warning(missing_line(name, e), icon=":material/cloud_off:")
    else:
        st.session_state[f"{key}_weights"] = IMAGENET


def _offer(name: str, container, key: str) -> None:
    """The one line about ImageNet, and the Download button where downloads are allowed."""
    if not downloads_allowed():
        container.caption(f":material/cloud_off: {missing_line(name)}", help=where_from(name))
        return
    text, button = container.columns([3, 1], vertical_alignment="center")
    text.caption(f":material/cloud_download: {missing_line(name)}", help=where_from(name))
    button.button(
        "Download",
        icon=":material/download:",
        key=f"{key}_download",
        on_click=_ask_fetch,
        args=(key, name),
        help=f"{hub_file(name).name}, hash-checked, into the torch hub cache",
    )


def _ask_fetch(key: str, name: str) -> None:
    """The rerun this click starts downloads `name`, before the radio is drawn."""
    st.session_state[f"{key}_fetch"] = name


def pick_weights(name: str, container, key: str):
    """Weights radio for a torchvision backbone: ImageNet (from the torch hub cache, downloaded
    there first when missing, with a progress bar), an uploaded state_dict, or random (labelled).
    Returns (weights, state) for `load_backbone` and the loaded model, or (None, None, None) with
    the reason on the page when there is nothing to use."""
    _default(name, key)
    _fetch_if_asked(name, container, key)
    kind = container.radio(
        "Weights",
        OPTIONS,
        horizontal=True,
        key=f"{key}_weights",
        help="ImageNet: torchvision's weights, downloaded once into the torch hub cache",
    )
    if kind != IMAGENET and not hub_file(name).is_file():
        _offer(name, container, key)
    try:
        if kind == IMAGENET:
            imagenet(name, container)
            return "imagenet", None, cached_backbone(name, "imagenet", "")
        if kind == RANDOM:
            return "random", None, cached_backbone(name, "random", "")
        up = container.file_uploader(f"A {name} state_dict (.pth)", type=["pth", "pt"], key=f"{key}_state")
        if up is None:
            return None, None, None
        data = up.getvalue()
        state, digest = load_state_file(data), hashlib.blake2b(data, digest_size=8).hexdigest()
        return "file", state, cached_backbone(name, "file", digest, state)
    except WeightsMissing as e:
        container.warning(missing_line(name, e), icon=":material/cloud_off:")
        if downloads_allowed():
            # a click reruns the page: the download again
            container.button("Retry", icon=":material/refresh:", key=f"{key}_retry")
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
        text = f"Downloading {path.name}: {got / 2**20:.1f}" + (
            f" of {total / 2**20:.1f} MB" if total else " MB"
        )
        bar.progress(min(got / total, 1.0) if total else 0.0, text=text)

    try:
        ensure_imagenet(name, progress, downloads_allowed())
    finally:
        bar.empty()
