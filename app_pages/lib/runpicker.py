"""This session's runs and the select box that picks one: only the shared run when the page was
opened by a share link, and the run looked at last remembered under the session id."""

from __future__ import annotations

import streamlit as st

from app_pages.lib.session import owner
from explorer.data.domains import Dataset
from explorer.store import cache, runs, sessions


def my_runs(ds: Dataset) -> list:
    """This session's runs on `ds`, newest first; only the shared run when the page was opened by a share link."""
    grant = st.session_state.get("shared")
    if grant:
        record = runs.read_run(cache.run_dir(grant["run_id"]))
        return [record] if record and record.metrics else []
    return runs.list_runs(ds.fingerprint, owner())


def others_data() -> bool:
    """True when this page was opened by a share link to a run on its owner's own images: those are
    not shown or exported (the embedded default's are)."""
    grant = st.session_state.get("shared")
    return bool(grant) and grant["dataset"].get("kind") != "builtin"


def pick_run(container, records: list, key: str, label: str = "Run"):
    """A run select box that starts on the run this session looked at last (kept under its id) and remembers the choice."""
    labels = {r.label: r for r in records}
    saved = sessions.choices(owner()).get("run")
    if st.session_state.get(key) not in labels:
        st.session_state[key] = next((name for name, r in labels.items() if r.run_id == saved), next(iter(labels)))
    run = labels[container.selectbox(label, list(labels), key=key)]
    if run.run_id != saved and not st.session_state.get("shared"):
        sessions.remember(owner(), run=run.run_id)
    return run
