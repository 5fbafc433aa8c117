"""Session state every page shares: the active dataset and this browser session's upload folder."""
from __future__ import annotations

import uuid
from pathlib import Path

import streamlit as st

from explorer.builtin import load_builtin
from explorer.domains import Dataset
from explorer.jobs import JobQueue
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


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue for the whole server: one training run per device at a time, across sessions."""
    return JobQueue()


def owner() -> str:
    """This browser session's id: its jobs and uploads are its own."""
    if "owner" not in st.session_state:
        st.session_state.owner = uuid.uuid4().hex
    return st.session_state.owner
