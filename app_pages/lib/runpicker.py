"""The one selected run of a browser session: shown by every page that uses a run, changed from any
of them, kept in the session, under its id on the server (a reload or a restart finds it) and in
the address (``?run=``). Only the shared run when the page was opened by a share link.

A run opened from elsewhere (a sweep's cell) replaces the selected run like any choice, and says so:
the run box then names the run it replaced, with one click back to it."""

from __future__ import annotations

import streamlit as st

from app_pages.lib.session import owner
from explorer.data.domains import Dataset
from explorer.store import cache, choices, runs


def my_runs(ds: Dataset) -> list:
    """This session's runs on `ds`, newest first; only the shared run when the page was opened by a
    share link."""
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


def selected_id() -> str | None:
    """The selected run's id: chosen on some page, or started last; from the address or the server on
    a new visit."""
    if "run" not in st.session_state:
        st.session_state.run = st.query_params.get("run") or choices.saved(owner()).get("run")
    return st.session_state.run


def select(run_id: str, opened_from: str | None = None) -> None:
    """Make `run_id` the selected run on every page (a share link's visitor keeps it to this visit).
    `opened_from`: what opened it, in words (``the sweep's cell λ=0.1``); the run box then says which
    run it replaced and offers that one back."""
    before = selected_id()
    st.session_state.pop("run_replaced", None)
    if opened_from and before and before != run_id:
        st.session_state.run_replaced = {"run": run_id, "before": before, "from": opened_from}
    st.session_state.run = run_id
    if not st.session_state.get("shared"):
        choices.remember(owner(), run=run_id)
        st.query_params["run"] = run_id


def keep_in_address() -> None:
    """Read the selected run from the address on a new visit, on whichever page it opens (a page
    switch clears the address), and put it back in the address after a switch."""
    if not st.session_state.get("shared") and (run := selected_id()):
        st.query_params["run"] = run


def selected(records: list):
    """The selected run among `records`, or the newest of them when it is not one (another dataset's,
    or not trained yet)."""
    want = selected_id()
    return next((r for r in records if r.run_id == want), records[0] if records else None)


def pick_run(container, records: list, key: str, label: str = "Selected run"):
    """The selected run's select box: it opens on the session's selected run, and a choice here
    selects it on every page."""
    labels = {r.label: r for r in records}
    st.session_state[key] = selected(records).label

    def chosen() -> None:
        select(labels[st.session_state[key]].run_id)

    run = labels[
        container.selectbox(
            label,
            list(labels),
            key=key,
            on_change=chosen,
            help="the same run on every page: choosing it here chooses it there",
        )
    ]
    _replaced(container, records, key)
    return run


def _replaced(container, records: list, key: str) -> None:
    """Under the run box, while the selected run is one opened from elsewhere: which run it replaced,
    and a button back to that one."""
    note = st.session_state.get("run_replaced")
    if not note or note["run"] != selected_id():
        return
    before = next((r.label for r in records if r.run_id == note["before"]), None)
    container.info(
        f"Opened from {note['from']}: this run is now the selected run on every page, in place of "
        + (f"**{before}**." if before else "the run selected before."),
        icon=":material/swap_horiz:",
    )
    container.button(
        "Back to the run selected before", key=f"{key}_back", on_click=select, args=(note["before"],)
    )
