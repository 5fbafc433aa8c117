"""The active dataset every page works on, and the owner's saved choices restored when a page opens:
the dataset (rebuilt from its recipe, kept on the server under the owner id) and Canny for training."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.lib.session import browser_is_local, owner, session_dir
from explorer.data import serverfolders
from explorer.data.builtin import load_builtin
from explorer.data.domains import Dataset, open_dataset
from explorer.data.uploads import plain
from explorer.errors import ExplorerError
from explorer.store import choices
from explorer.store.upload_folders import adopt


@st.cache_resource(show_spinner="Building the embedded dataset…")
def builtin(size: int = 32) -> Dataset:
    """Shared by all Streamlit sessions: the embedded default is read-only."""
    return load_builtin(size)


def dataset() -> Dataset:
    """The active dataset: a shared run's; else the one this owner chose (kept on the server under
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
        if path and recipe.get("what") == "folder pair on this server":
            serverfolders.resolve(path, browser_is_local())  # the server's rules may have changed since
        if path and not Path(path).exists():
            raise ExplorerError(f"{plain(serverfolders.scrub(path))} is no longer there")
    return open_dataset(
        recipe["source"], recipe.get("target"), size=int(recipe["size"]), name=recipe.get("name")
    )


def _restored() -> Dataset:
    recipe = choices.saved(owner()).get("dataset")
    if not recipe:
        return builtin()
    try:
        if recipe.get("what") in ("uploaded zip", "dropped images"):
            # this Streamlit session's upload folder keeps them from now on
            recipe = recipe | {k: adopt(recipe.get(k), session_dir()) for k in ("source", "target")}
            choices.remember(owner(), dataset=recipe)
        return open_recipe(recipe)
    except (ExplorerError, OSError) as e:
        name = recipe.get("name") or recipe.get("what", "folders")
        why = plain(serverfolders.scrub(str(e))).rstrip(".")
        st.session_state.dataset_lost = (
            f"The dataset this session chose ({name}) could not be opened again: {why}. "
            "Showing the embedded default instead; choose another on the Data page."
        )
        choices.remember(owner(), dataset=None)
        return builtin()


def domain_names(ds: Dataset) -> tuple[str, str]:
    """What the source and the target are called, from the dataset's own names: the two sides of its
    name (``photos.zip → sketches.zip``; ``builtin: digit photos → digit drawings``), else the names of
    its domains' folders in it (``train_data/ in real_or_drawing``)."""
    name = ds.name.split(": ", 1)[-1]
    if " → " in name:
        src, tgt = name.split(" → ", 1)
        return src, tgt
    src, tgt = (f"{plain(Path(d.origin).name) or d.name}/ in {name}" for d in (ds.source, ds.target))
    return src, tgt


def pair_caption(ds: Dataset) -> str:
    """The Data page's first sentence, about this dataset."""
    src, tgt = domain_names(ds)
    k = len(ds.source.classes)
    labels = "labelled, but its labels only measure accuracy" if ds.target.labelled else "unlabelled"
    return (
        f"Transfer learning starts with two domains: a labelled **source** (here: {src}, "
        f"{len(ds.source):,} images in {k:,} class{'es' if k != 1 else ''}) and a **target** whose labels "
        f"are never used for training (here: {tgt}, {len(ds.target):,} images, {labels}). Everything the "
        "other pages do starts from the dataset chosen here."
    )


def choose_dataset(ds: Dataset, recipe: dict) -> str:
    """Make `ds` the active dataset and keep its recipe under the owner id. Canny thresholds tuned
    on another dataset's photos are dropped (training goes back to auto); returns a note saying so, or ""."""
    old = st.session_state.get("dataset")
    st.session_state.dataset = ds
    st.session_state.pop("dataset_lost", None)
    choices.remember(owner(), dataset=recipe)
    tuned = st.session_state.get("canny")
    if isinstance(tuned, tuple) and (old is None or old.fingerprint != ds.fingerprint):
        remember_canny("auto")
        return (
            f"The Canny thresholds {tuned[0]}/{tuned[1]} were tuned on the previous dataset: "
            "training uses auto again."
        )
    return ""


def restore_choices() -> None:
    """Once per Streamlit session: the widgets' saved choices (image size, Canny for training)."""
    if st.session_state.get("restored"):
        return
    st.session_state.restored = True
    saved = choices.saved(owner())
    if recipe := saved.get("dataset"):
        st.session_state.data_size = int(recipe.get("size", 32))
        st.session_state.data_choice = source_choice()
    if (canny := saved.get("canny")) is not None:
        st.session_state.canny = canny if canny == "auto" else tuple(canny)


def source_choice() -> str:
    """The Data page's "Where the images come from" answer for the dataset this owner chose."""
    recipe = choices.saved(owner()).get("dataset") or {}
    if recipe.get("what") == "folder pair on this server" and not serverfolders.offered(browser_is_local()):
        recipe = {}
    return {
        "folder pair on this server": "Folder on this server",
        "uploaded zip": "Upload a zip",
        "dropped images": "Drop images",
    }.get(recipe.get("what"), "Embedded default")


def remember_canny(choice) -> None:
    st.session_state.canny = choice
    choices.remember(owner(), canny=choice if choice == "auto" else list(choice))
