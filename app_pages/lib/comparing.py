"""Train DANN's "Compare runs": this session's runs on the dataset overlaid (a run appears there as
soon as it has trained an epoch), the selected run (the one every page shows), each DANN run's
source-only twin with its progress beside its button, downloads and the share link of the selected run."""

from __future__ import annotations

import streamlit as st

from app_pages.lib.judging import twin_panel
from app_pages.lib.runpicker import pick_run, selected
from app_pages.lib.session import owner
from app_pages.lib.sharing import share_panel
from explorer.analysis import run_charts
from explorer.dann import results, runfolder
from explorer.dann import validators as V
from explorer.dann.predict import checkpoint_submission, load_for_prediction
from explorer.dann.validators import DEFAULT, NAMES, PLAIN, named
from explorer.data.domains import Dataset
from explorer.devices import pick
from explorer.errors import ExplorerError
from explorer.store import cache, runs

OVERLAID = 4  # the newest runs overlaid when the page first opens
# the comparison's columns: accuracies in percent, as every panel of the page shows them
COLUMNS = {
    "target accuracy": st.column_config.NumberColumn(
        format="%.1f%%", help=f"the checkpoint the run ships: the epoch selected by {PLAIN[DEFAULT]}"
    ),
    "at epoch": st.column_config.NumberColumn(help=f"the epoch selected by {PLAIN[DEFAULT]}"),
    "target accuracy, last epoch": st.column_config.NumberColumn(format="%.1f%%"),
    "training time (s)": st.column_config.NumberColumn(
        format="%.1f",
        help="this run's own training time; a run auto measured also waited while the other options "
        "trained beside it",
    ),
}


def listed() -> set:
    """The run ids the overlay has listed so far: a run not among them is new, and joins the overlay."""
    return st.session_state.setdefault("t_listed", set())


def compare(ds: Dataset) -> None:
    st.subheader("Compare runs")
    cached = _cache_box(ds)
    if not cached:
        st.caption(
            "Your runs on this dataset appear here as soon as they have trained an epoch, also after the app "
            "restarts "
            "(reopen this page's address: it carries your session id)."
        )
        return
    labels = {r.label: r for r in cached}
    # auto's other options: listed, not added by themselves
    shipped = {r.label: r for r in cached if not runs.is_option(r)}
    now = selected(cached)
    if "t_compare" not in st.session_state:
        first = list(shipped)[:OVERLAID]
        st.session_state.t_compare = first + ([now.label] if now.label not in first else [])
    else:  # runs that appeared since the last look join the overlay: a new run is seen at once
        kept = [c for c in st.session_state.t_compare if c in labels]
        st.session_state.t_compare = kept + [
            lab for lab, r in shipped.items() if r.run_id not in listed() and lab not in kept
        ]
    listed().update(r.run_id for r in shipped.values())
    picked = [
        labels[c]
        for c in st.multiselect(
            "Runs to overlay",
            list(labels),
            key="t_compare",
            help="your runs on this dataset, newest first; the options that measured auto "
            "tried and did not ship are here too, not added by themselves",
        )
    ]
    if picked:
        curves = runs.curves({r.label: r.metrics for r in picked})
        st.vega_lite_chart(spec=run_charts.training_curves(curves), width="content")
        st.dataframe(results.compare_table(picked), hide_index=True, width="stretch", column_config=COLUMNS)
        st.caption(
            f"Target accuracy: the checkpoint each run ships, at the epoch selected by {PLAIN[DEFAULT]}. "
            "The training time is each run's own (a run auto measured also waited while the other options "
            "trained beside it); the curves above show every epoch."
        )
        if partial := [r for r in picked if not r.finished]:
            st.caption(_as_of(partial))
        for r in picked:
            twin_panel(r, ds)
    st.markdown(
        "**The selected run**: the one Feature Space, Layer Activations, the downloads and the share link "
        "show."
    )
    c1, c2 = st.columns(2)
    run = pick_run(c1, cached, "t_download_run")
    _downloads(run, ds, c2)
    share_panel(run, ds)


def _as_of(partial: list) -> str:
    """What the overlay shows of runs not finished: where they were when the page was drawn, not live."""
    where = "; ".join(f"{r.label}: {len(r.metrics)} of {r.config['epochs']} epochs" for r in partial)
    return (
        f"As of this page's last redraw ({where}). The overlay does not follow a run while it trains, so "
        "that a class "
        "watching adds no polling here: its live curves are under *This run*, and it catches up here the "
        "next time the "
        "page is drawn (any click on it)."
    )


def _cache_box(ds: Dataset) -> list:
    """The checkpoint cache's use and the button that clears this session's runs; returns the runs on `ds`."""
    used, cap = cache.usage(), cache.cap_bytes()
    c1, c2 = st.columns([3, 2], vertical_alignment="center")
    c1.caption(
        f"Checkpoint cache: {used / 2**20:,.1f} MB of {cap / 2**20:,.0f} MB on this server (all users). When "
        "it is full, "
        "the runs written least recently are removed first; a run being trained never is."
    )
    mine = cache.owned(owner())
    with c2.popover("Clear my cached runs", disabled=not mine):
        st.markdown(
            f"Remove your **{len(mine):,}** cached run(s), on every dataset, with their checkpoints and "
            "Feature Space "
            "pictures? Runs still training are kept. This cannot be undone."
        )
        if st.button("Remove them", type="primary", key="t_clear"):
            removed, kept = cache.clear(owner())
            st.toast(
                f"Removed {removed:,} run(s)" + (f"; {kept:,} still training, kept" if kept else "") + "."
            )
    return runs.list_runs(ds.fingerprint, owner())


@st.cache_data(max_entries=8, show_spinner="Predicting the target…")
def _submission(path: str, mtime: float, fingerprint: str, _ds: Dataset) -> str:
    dev = pick("auto")
    models, ckpt = load_for_prediction(path, dev)
    return checkpoint_submission(models, ckpt, _ds.target, dev)


def _downloads(run, ds: Dataset, column) -> None:
    """The selected run's checkpoint (the default validator's pick, or another) and its submission CSV."""
    select = column.selectbox(
        "Checkpoint: the epoch picked by",
        ["last", *NAMES],
        index=1 + NAMES.index(DEFAULT),
        key="t_select",
        format_func=lambda s: "nothing: the last epoch" if s == "last" else named(s),
        help=f"the validator that picks the epoch the downloads use; the run ships the pick of "
        f"{PLAIN[DEFAULT]}",
    )
    ship = runfolder.shipped(run.dir, select, run.metrics)
    epoch, ckpt = ship.epoch, ship.path
    acc = V.row_at(run.metrics, epoch).get("target_acc")
    reached = "" if acc is None else f" · target accuracy {results.percent(acc)}"
    column.caption(f"Epoch {epoch} of {run.metrics[-1]['epoch']}{reached}.")
    if not ckpt.is_file():
        return
    b1, b2 = st.columns(2)
    # its checkpoints change every epoch: predicting the target each time would slow its training
    if cache.busy(run.dir):
        b1.caption("The submission CSV is offered once this run has stopped training.")
    else:
        _csv(run, ckpt, epoch, ds, b1)
    b2.download_button(
        "Checkpoint (.pt)",
        lambda path=ckpt: path.read_bytes(),
        f"dann-{run.short_id}.pt",
        "application/octet-stream",
        on_click="ignore",
    )


def _csv(run, ckpt, epoch: int, ds: Dataset, b1) -> None:
    """The submission CSV, predicted when the button is clicked (not on every draw of the page: each
    finished run would cost a class's server a pass over the target)."""

    def predict() -> str:
        try:
            return _submission(str(ckpt), ckpt.stat().st_mtime, ds.fingerprint, ds)
        except FileNotFoundError:
            return (
                "This run's checkpoint was removed from the cache (cleared, or over the size cap): "
                "train it again.\n"
            )
        except ExplorerError as e:
            return f"No submission: {e}\n"

    b1.download_button(
        "Submission CSV (id,label)",
        predict,
        f"submission-{run.short_id}-e{epoch}.csv",
        "text/csv",
        on_click="ignore",
    )
