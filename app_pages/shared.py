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
    """This browser session's id: its jobs and runs are its own.

    It is kept in the page address (``?sid=...``), so reopening the same address after the app
    restarts finds the same runs in the checkpoint cache; a new browser session without it gets a
    new id and sees none of them."""
    if "owner" not in st.session_state:
        sid = st.query_params.get("sid", "")
        st.session_state.owner = sid if len(sid) == 32 and sid.isalnum() else uuid.uuid4().hex
    st.query_params["sid"] = st.session_state.owner
    return st.session_state.owner
