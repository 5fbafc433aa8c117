"""This Streamlit session (one browser tab's connection): its owner, whether its browser is local,
its upload folder, and the server's housekeeping that removes what ended sessions left behind.

Two ids, two lifetimes. The owner (``?sid=`` in the address) owns runs, saved choices and share
links, and outlives the session: a reload or a new tab is a new Streamlit session with the same
owner. The upload folder belongs to the Streamlit session and goes some time after it ends.

Every other helper here that needs either imports it from this module, which imports none of them.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from pathlib import Path

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from explorer.store import cache, upload_folders
from explorer.store.home import env_number


def owner() -> str:
    """The owner id of this browser (32 hex characters): its jobs, runs and choices are its own.

    It is kept in the page address (``?sid=...``), so reopening the same address after the app
    restarts finds the same runs in the checkpoint cache; a browser without it gets a new id and
    sees none of them."""
    if "owner" not in st.session_state:
        sid = st.query_params.get("sid", "")
        st.session_state.owner = sid if len(sid) == 32 and sid.isalnum() else uuid.uuid4().hex
    st.query_params["sid"] = st.session_state.owner
    return st.session_state.owner


def browser_is_local() -> bool:
    """Whether this browser runs on the server machine itself: its connection comes from the loopback
    address and through no proxy (a proxy on the server would make every browser look local)."""
    headers = {k.lower() for k in st.context.headers.keys()}
    return st.context.ip_address is None and not headers & {"x-forwarded-for", "forwarded", "x-real-ip"}


def session_dir() -> Path:
    """This Streamlit session's upload folder, named by its session id, made on first use."""
    if "session_dir" not in st.session_state:
        ctx = get_script_run_ctx()
        st.session_state.session_dir = upload_folders.for_session(ctx.session_id if ctx else None)
    # in use (made again if it was swept while the browser was away)
    upload_folders.touch(st.session_state.session_dir)
    return st.session_state.session_dir


@st.cache_resource
def _housekeeping_state() -> dict:
    return {"at": 0.0, "lock": threading.Lock()}


def housekeeping() -> None:
    """At most once a minute, for the whole server: remove the upload folders of Streamlit sessions
    that have ended, the leftovers of checkpoint writes cut short, and cache entries over the cap.
    One session does it while the others go on; a failure is logged, never shown to the user."""
    state = _housekeeping_state()
    grace = env_number("EXPLORER_SESSION_GRACE_S", 600)
    if time.time() - state["at"] < min(60.0, grace) or not state["lock"].acquire(blocking=False):
        return
    try:
        state["at"] = time.time()
        if Runtime.exists():  # not under AppTest, which has no server
            upload_folders.sweep_ended(Runtime.instance().is_active_session, grace)
        cache.sweep()
        cache.enforce()
    except OSError:
        logging.getLogger(__name__).exception("housekeeping failed; it is tried again in a minute")
    finally:
        state["lock"].release()
