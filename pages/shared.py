"""Session state every page shares: the active dataset and this browser session's upload folder."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from explorer.builtin import load_builtin
from explorer.domains import Dataset
from explorer.uploads import new_session


@st.cache_resource(show_spinner="Building the embedded dataset…")
def builtin(size: int = 32) -> Dataset:
    """Shared by all sessions: the embedded default is read-only."""
    return load_builtin(size)


def dataset() -> Dataset:
    """The active dataset; the embedded default until the Data page chooses another."""
    if "dataset" not in st.session_state:
        st.session_state.dataset = builtin()
    return st.session_state.dataset


def session_dir() -> Path:
    """This browser session's own upload folder, made on first use."""
    if "session_dir" not in st.session_state:
        st.session_state.session_dir = new_session()
    return st.session_state.session_dir
