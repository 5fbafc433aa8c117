"""Share links: a finished run of this owner's opened read-only by anyone with its address
(``?share=<token>``), made and revoked from the run's panel."""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from app_pages.lib.session import owner
from explorer.data.domains import Dataset
from explorer.store import choices, shares


def share_url(token: str) -> str:
    """The address that opens a shared run (its read-only Train DANN, the app's first page there),
    on the host this page was opened from."""
    u = urlsplit(st.context.url or "")
    return f"{u.scheme}://{u.netloc}/?share={token}" if u.netloc else f"/?share={token}"


def share_panel(run, ds: Dataset) -> None:
    """Copy link / revoke for a finished run of this owner's: the link opens that run read-only."""
    with st.expander("Share this run: a read-only link", icon=":material/link:"):
        if not run.finished:
            st.caption("A run can be shared once it has finished.")
            return
        st.caption(
            "Anyone with the link sees this run's curves and numbers, Feature Space and Layer Activations, "
            "read-only: no other runs, no stop, delete or retrain, none of your uploads. Revoke a link to "
            "close it."
        )
        if st.button("Create a link", icon=":material/add_link:", key=f"share_{run.run_id}"):
            builtin = {"kind": "builtin", "size": ds.source.images.shape[-1]}
            recipe = choices.saved(owner()).get("dataset") or builtin
            shares.share(run.run_id, owner(), recipe)
        for token in shares.shares_of(run.run_id, owner()):
            c1, c2 = st.columns([5, 1], vertical_alignment="center")
            c1.code(share_url(token), language=None)
            if c2.button("Revoke", key=f"revoke_{token}"):
                shares.revoke(token, owner())
                st.rerun()
