"""Train DANN's sweep: a grid of lambda, schedule, preprocessing and method values (x seeds) in the
server's queue, its results filling a heat-map as the runs finish.

The default grid fits a first session: the four λ values with what auto chose for this data, one
run each; the row without edges is one tick away. Nothing is named best until every run has ended;
until then the panel ranks the finished runs "so far"."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pandas as pd
import streamlit as st

from app_pages.lib.runpicker import select
from app_pages.lib.serverjobs import duration, job_queue, job_status
from app_pages.lib.session import owner
from explorer.analysis import run_charts
from explorer.dann.config import METHODS, TrainConfig
from explorer.dann.results import percent, percent_value
from explorer.dann.schedules import SHAPES
from explorer.dann.validators import DEFAULT, NAMES, named
from explorer.data.domains import Dataset
from explorer.errors import ExplorerError
from explorer.execution import auto, costs, verdict
from explorer.execution.events import Cached, Epoch, Failed, Retrying, RunEvent
from explorer.execution.grid import Grid, show
from explorer.execution.jobs import CLUSTER, poll_seconds
from explorer.execution.ray_cluster import Cluster
from explorer.execution.sweep import Sweep
from explorer.store import cache, runs
from explorer.store.home import subdir

LAMBDAS = (0.0, 0.03, 0.1, 0.3, 1.0, 3.0)
DEFAULT_LAMBDAS = [0.0, 0.1, 0.3, 1.0]
EDGES = ("auto", "off", "100/200", "150/300")
COLUMNS = {
    "lamb": "λ",
    "lambda_schedule": "λ schedule",
    "canny": "preprocessing",
    "selected_epoch": "selected epoch",
    "target_acc": "target accuracy (selected epoch)",
    "target_acc_last": "target accuracy (last epoch)",
    "seconds": "training time (s)",
} | {f"val_{n}": named(n) for n in NAMES}
PERCENT = ("target_acc", "target_acc_last", "val_source_acc")  # shown as percentages, like every page
BY_VALIDATOR = f"validator: {named(DEFAULT)}"


def words(key: str) -> str:
    """A grid point as people read it: ``λ=0.1, λ schedule=dann`` for the CLI's
    ``lamb=0.1, lambda_schedule=dann``."""
    return key.replace("lambda_schedule=", "λ schedule=").replace("lamb=", "λ=")


@st.cache_data(max_entries=16, show_spinner=False)
def _estimate(_sweep: Sweep, key: tuple) -> float:
    return costs.seconds(_sweep)


def sweep_form(ds: Dataset, base: TrainConfig, ray: Cluster | None) -> None:
    """The grid's axes, the run count and time estimate, Start; `ray`: the cluster runs go to, if any."""
    st.markdown(
        "Train a grid of settings and see the whole landscape at once: λ too small and the domains never "
        "align, too large and the class accuracy collapses. The other settings come from the form above. "
        f"Once every run has ended, the validator **{named(DEFAULT)}** names the best without target "
        "labels; with labels, the page shows how often it picked right."
    )
    specs, seeds = _axes(base, ds)
    if specs is None:
        st.warning("Choose at least one value for each of λ, schedule, preprocessing and method.")
        return
    try:
        grid = Grid.parse(specs, seeds, base.seed)
        sweep = Sweep(grid, base, ds, subdir("runs"), owner=owner(), cluster=ray)
    except ExplorerError as e:
        st.error(str(e))
        return
    todo = len(sweep.pending())
    size, cap = costs.checkpoint_bytes(sweep), cache.cap_bytes()
    st.caption(
        f"**{len(sweep.runs)} runs** ({len(sweep.runs) - todo} already trained) · about "
        f"**{_how_long(sweep, todo)}** and {size / 2**20:,.0f} MB of checkpoints · {sweep.plan(todo)} · "
        "waits in the same queue as single runs" + (f" · {sweep.auto_note}" if sweep.auto_note else "")
    )
    if size > cap:
        st.warning(
            f"This sweep would write about {size / 2**20:,.0f} MB of checkpoints, more than the server's "
            "cache "
            f"holds ({cap / 2**20:,.0f} MB): its first runs would be removed before it ends. Choose fewer "
            "values, seeds or epochs, or a smaller width."
        )
        return
    if st.button("Start sweep", key="s_start", type="primary"):
        label = f"sweep of {len(sweep.runs)} runs"
        job = job_queue().submit(owner(), label, sweep.backend.lane, sweep.events, _seconds(sweep, todo))
        st.session_state.sweep = {"job": job.id, "sweep": sweep}


def _axes(base: TrainConfig, ds: Dataset) -> tuple[list[str] | None, int]:
    """The grid's axes as the CLI's ``--grid`` specs (None while one of them has no value), and the
    number of seeds."""
    # two rows: five boxes in one squeezed their values out of sight in a 1000 px window
    c1, c2 = st.columns([3, 2])
    c3, c4, c5 = st.columns([3, 2, 1])
    lambdas = c1.multiselect(
        "λ values",
        LAMBDAS,
        default=DEFAULT_LAMBDAS,
        key="s_lambdas",
        format_func=lambda v: f"{v:g}",
        help="λ = 0 trains like source-only: the discriminator learns, the features never hear from it",
    )
    schedules = c2.multiselect(
        "λ schedules", sorted(SHAPES), default=[base.lambda_schedule], key="s_schedules"
    )
    tuned = st.session_state.get("canny")
    tuned = [show(tuple(tuned))] if isinstance(tuned, tuple) and show(tuple(tuned)) not in EDGES else []
    canny = c3.multiselect(
        "Preprocessing",
        [*EDGES, *tuned],
        default=["auto"],
        key="s_canny",
        help="auto: what auto chose for this data (one run per λ); off: no edges; LOW/HIGH: Canny on the "
        "source at those thresholds",
    )
    methods = c4.multiselect(
        "Methods",
        METHODS,
        default=["dann"],
        key="s_methods",
        help="source-only runs once per preprocessing and seed",
    )
    seeds = int(c5.number_input("Seeds", 1, 5, 1, key="s_seeds"))
    if _off_row(base, ds):
        canny = [*canny, "off"]
    if not (lambdas and schedules and canny and methods):
        return None, seeds
    lambdas = ",".join(f"{v:g}" for v in lambdas)
    specs = [f"lamb={lambdas}", f"lambda_schedule={','.join(schedules)}", f"canny={','.join(canny)}"]
    return [*specs, f"method={','.join(methods)}"], seeds


def _off_row(base: TrainConfig, ds: Dataset) -> bool:
    """The tick that adds the row without edges; off (and why) where auto chose no edges itself."""
    chose_none = auto.reuse(replace(base, canny="auto", method="dann"), ds).canny is None
    ticked = st.checkbox(
        "Add a row without edges (off)",
        key="s_off",
        disabled=chose_none,
        help="auto chose no edges on this data: its row already is that row"
        if chose_none
        else "one more run per λ, trained on the images as they are: what auto's preprocessing is worth",
    )
    return ticked and not chose_none


def _how_long(sweep: Sweep, todo: int) -> str:
    """About how long the runs still to train take, in words."""
    if not todo:
        return "0 s"
    if sweep.backend.lane == CLUSTER:
        return "a time that depends on the cluster's free devices"
    seconds = _seconds(sweep, todo)
    return "an unknown time" if seconds is None else duration(seconds)


def _seconds(sweep: Sweep, todo: int) -> float | None:
    """About how many seconds the runs still to train take (the form's estimate, and the queue's);
    None on a cluster, or when the timing probe fails (a busy GPU out of memory costs the estimate,
    not the page)."""
    if sweep.backend.lane == CLUSTER:
        return None
    try:
        return _estimate(sweep, (sweep.dataset.fingerprint, tuple(r.run_id for r in sweep.runs), todo))
    except Exception:
        return None


def sweep_results() -> None:
    """The current sweep: progress and Stop while it runs, the heat-map, the table and the curves."""
    state = st.session_state.get("sweep")
    if not state:
        return
    job = next((j for j in job_queue().jobs(owner()) if j.id == state["job"]), None)
    sweep: Sweep = state["sweep"]
    running = job is not None and not job.finished

    @st.fragment(run_every=poll_seconds([job]) if running else None)
    def live():
        st.caption(f"{len(sweep.runs)} runs on **{sweep.dataset.name}** · {sweep.plan(len(sweep.runs))}")
        if job is not None:
            _progress(job, sweep)
        rows = sweep.results()
        points = pd.DataFrame(sweep.by_point(rows))
        labelled = sweep.dataset.target.labelled
        colour = "target accuracy" if labelled else BY_VALIDATOR
        if labelled:
            colour = (
                st.segmented_control(
                    "Colour by", ["target accuracy", BY_VALIDATOR], default=colour, key="s_colour"
                )
                or colour
            )
        c1, c2 = st.columns([3, 2])
        with c1:
            event = st.altair_chart(
                run_charts.sweep_map(_cells(points, colour), colour),
                on_select="rerun",
                key="s_map",
                width="stretch",
            )
            st.caption(
                "Click a cell to open its run in Feature Space (the seed the validator scores highest): it "
                "becomes the selected run on every page, and Feature Space offers the one before back."
            )
        with c2:
            _verdict(sweep, rows)
        _open_clicked(event, points, sweep)
        as_percent = {COLUMNS[c]: st.column_config.NumberColumn(format="%.1f%%") for c in PERCENT}
        st.dataframe(_table(rows), hide_index=True, width="stretch", column_config=as_percent)
        seeds = len({p.config.seed for p in sweep.runs}) > 1
        records = {
            f"{words(p.key)} · seed {p.config.seed}" if seeds else words(p.key): runs.read_run(p.folder)
            for p in sweep.runs
            if p.folder.is_dir()
        }
        trained = {label: r.metrics for label, r in records.items() if r and r.metrics}
        if trained:
            st.vega_lite_chart(spec=run_charts.training_curves(runs.curves(trained)), width="content")
        if running and job.finished:
            st.rerun()

    live()


def _table(rows: list[dict]) -> pd.DataFrame:
    """The sweep's runs, one row each, in the words and units of the other pages."""
    table = pd.DataFrame(rows).drop(columns=["folder", "run_id"])
    for c in PERCENT:
        table[c] = [percent_value(x) if pd.notna(x) else None for x in table[c]]
    return table.round(3).rename(columns=lambda c: COLUMNS.get(c, c))


def _progress(job, sweep: Sweep) -> None:
    _, events, _ = job.snapshot()
    runs_events = [e for e in events if isinstance(e, RunEvent)]
    epochs = sum(1 for e in runs_events if isinstance(e, Epoch))
    epochs += sum(len(e.history) for e in runs_events if isinstance(e, Cached))
    latest = {e.index: e for e in runs_events}  # each run's latest event: where it is now
    places = Counter(e.where for e in latest.values() if not isinstance(e, Cached) and not e.final)
    where = (
        ", ".join(f"{w} ({n} run{'s' if n > 1 else ''})" for w, n in sorted(places.items())) or "between runs"
    )
    job_status(
        job,
        epochs / max(sweep.total_epochs, 1),
        f"**{job.label}** · epoch {epochs} of {sweep.total_epochs} · {where}",
        f"Sweep finished: {len(sweep.runs)} runs.",
        stop_label="Stop sweep",
    )
    for e in runs_events:
        if isinstance(e, Failed | Retrying):
            st.warning(f"Run {e.index + 1} ({words(sweep.runs[e.index].key)}): {e.message}")


def _cells(points: pd.DataFrame, colour: str) -> pd.DataFrame:
    """One cell per grid point: column = method and lambda, row = preprocessing."""

    def column(p) -> str:
        if p.get("method", "dann") == "source-only":
            return "source-only"
        schedule = f" {p['lambda_schedule']}" if points["lambda_schedule"].nunique() > 1 else ""
        return f"λ={p['lamb']:g}{schedule}"

    value = points["target_acc"] if colour == "target accuracy" else points["score"]
    low, high = value.min(), value.max()
    dark = [pd.notna(v) and high > low and (v - low) / (high - low) < 0.45 for v in value]
    return pd.DataFrame(
        {
            "ink": ["white" if d else "black" for d in dark],
            "column": [column(p) for _, p in points.iterrows()],
            "row": [show(c if isinstance(c, str | tuple) else None) for c in points["canny"]],
            "value": value,
            "text": [_cell_text(v, colour) for v in value],
            "seeds": [f"{f} of {n} finished" for f, n in zip(points["finished"], points["runs"])],
            "status": [
                "finished" if f == n else ("so far" if t else "waiting")
                for f, t, n in zip(points["finished"], points["trained"], points["runs"])
            ],
        }
    )


def _cell_text(value: float, colour: str) -> str:
    if pd.isna(value):
        return "…"
    return percent(value) if colour == "target accuracy" else f"{value:.2f}"


def _verdict(sweep: Sweep, rows: list[dict]) -> None:
    """The verdict once every run has ended; until then the ranking so far, among the finished runs."""
    final = sweep.best(rows)
    if final["best"]:
        _final(final)
        return
    if verdict.ended(rows):
        st.caption("Every run has ended, and none trained an epoch to judge: see the messages above.")
        return
    now = sweep.so_far(rows)
    everyone = f"The verdict comes when all {now['runs']} runs have ended."
    if not now["leader"]:
        st.caption(f"No run has finished yet. {everyone}")
        return
    lead, o = now["leader"], now["oracle"]
    acc = "" if lead["target_acc"] is None else f", target accuracy {percent(lead['target_acc'])}"
    among = f"{now['finished']} finished run{'s' if now['finished'] > 1 else ''} of {now['runs']}"
    st.markdown(
        f"**So far, among {among}**, the validator ({named(DEFAULT)}) ranks **{words(lead['point'])}** "
        f"first (score {lead['score']:.2f}{acc})."
    )
    if o:
        st.markdown(
            f"So far, the target's labels rank **{words(o['point'])}** first ({percent(o['target_acc'])})."
        )
    st.caption(f"A run still training or waiting may overtake it. {everyone}")


def _final(final: dict) -> None:
    b, o, agree = final["best"], final["oracle"], final["agreement"]
    acc = "" if b["target_acc"] is None else f", target accuracy **{percent(b['target_acc'])}**"
    st.markdown(
        f"**Without labels**, the validator ({named(DEFAULT)}) prefers **{words(b['point'])}** "
        f"(score {b['score']:.2f}{acc})."
    )
    if o:
        st.markdown(
            f"**With the target's labels**, the best is **{words(o['point'])}** ({percent(o['target_acc'])})."
        )
    if agree:
        st.markdown(
            "Seed by seed, the validator's favourite was also the most accurate run for "
            f"**{agree['matched']} of "
            f"{agree['seeds']}** seed(s); following it cost **{agree['regret'] * 100:.1f}** points of target "
            "accuracy on average."
        )
        st.caption(
            "Model selection without labels is a guess from the predictions' shape; a real unlabelled target "
            "gives no way to check it."
        )


def _open_clicked(event, points: pd.DataFrame, sweep: Sweep) -> None:
    """A clicked cell: its run (the seed the validator prefers) opens in Feature Space."""
    clicked = (event.selection.get("cell") or [None])[0] if event else None
    if not clicked:
        return
    cells = _cells(points, "target accuracy")
    match = cells[(cells.column == clicked.get("column")) & (cells.row == clicked.get("row"))]
    pick_index = points.loc[match.index[0], "pick"] if len(match) else None
    if pick_index is None or pd.isna(pick_index):
        st.toast("That cell has no finished run yet.")
        return
    planned = sweep.runs[int(pick_index)]
    record = runs.read_run(planned.folder)
    # the selected run on every page; the run picker says so and offers the one before back
    select(record.run_id, opened_from=f"the sweep's cell {words(planned.key)}")
    st.switch_page("app_pages/features.py")
