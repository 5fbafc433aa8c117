"""The active dataset every page works on, and a session's saved choices restored when a page opens:
the dataset (rebuilt from its recipe, kept on the server under the session id) and Canny for training."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from app_pages.lib.session import browser_is_local, owner, session_dir
from app_pages.lib.uploads import adopt
from explorer.data import serverfolders
from explorer.data.builtin import load_builtin
from explorer.data.domains import Dataset, open_dataset
from explorer.errors import ExplorerError
from explorer.store import sessions


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
        if path and recipe.get("what") == "folder pair on this server":
            serverfolders.resolve(path, browser_is_local())  # the server's rules may have changed since
        if path and not Path(path).exists():
            raise ExplorerError(f"{serverfolders.scrub(path)} is no longer there")
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
            f"The dataset this session chose ({recipe.get('name') or recipe.get('what', 'folders')}) could not be opened again: "
            f"{serverfolders.scrub(str(e)).rstrip('.')}. Showing the embedded default instead; choose another on the Data page."
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
        if recipe.get("what") == "folder pair on this server" and not serverfolders.offered(browser_is_local()):
            recipe = {}
        st.session_state.data_choice = {"folder pair on this server": "Folder on this server", "uploaded zip": "Upload a zip",
                                        "dropped images": "Drop images"}.get(recipe.get("what"), "Embedded default")  # fmt: skip
    if (canny := saved.get("canny")) is not None:
        st.session_state.canny = canny if canny == "auto" else tuple(canny)


def remember_canny(choice) -> None:
    st.session_state.canny = choice
    sessions.remember(owner(), canny=choice if choice == "auto" else list(choice))
