"""Charts of training runs, built from `explorer` data frames as vega-lite specs or altair charts: a
λ schedule, a run's curves (loss, accuracy, λ), its validators' scores, measured auto's options side
by side, and a sweep's grid. The specs' structures are built once per process and copied per draw;
the pages only display them.
"""

from __future__ import annotations

import copy
import functools
import textwrap

import altair as alt
import pandas as pd

from explorer.analysis import palette
from explorer.dann.validators import named

# the training curves' metrics as the legend says them (the metrics files keep the raw keys)
METRICS = {
    "class_loss": "class loss",
    "domain_loss": "domain loss",
    "source_acc": "source accuracy (training batches)",
    "target_acc": "target accuracy",
    "domain_acc": "domain classifier accuracy",
    "lambda": "λ",
}


def lambda_curve(points: list[tuple[float, float]]) -> dict:
    """lambda over training progress p: a vega-lite spec, built once per curve (Train DANN draws it
    on every rerun; altair's objects cost a fifth of the page's script time)."""
    # a copy: Streamlit edits the spec it is given
    return copy.deepcopy(_lambda_spec(tuple(map(tuple, points))))


@functools.lru_cache(maxsize=64)
def _lambda_spec(points: tuple[tuple[float, float], ...]) -> dict:
    df = pd.DataFrame(points, columns=["p", "lambda"])
    return (
        alt.Chart(df)
        .mark_line(color="#6a4c93")
        .encode(
            x=alt.X("p:Q", title="training progress p"),
            y=alt.Y("lambda:Q", title="λ"),
            tooltip=["p", "lambda"],
        )
        .properties(height=140)
        .to_dict()
    )


def training_curves(df: pd.DataFrame) -> dict:
    """Three panels (loss, accuracy, lambda) per epoch; colour = run, dash = metric: a vega-lite spec
    for ``st.vega_lite_chart(spec=...)``, `df` its named dataset. The spec's structure is built once
    per process: building altair's objects cost a watched run's server more than drawing it
    (bench/bench_classroom.py)."""
    df = df.assign(metric=df["metric"].map(METRICS).fillna(df["metric"]))
    # a copy: Streamlit edits the spec it is given
    return copy.deepcopy(_training_spec()) | {"datasets": {"curves": df}}


@functools.cache
def _training_spec() -> dict:
    panels = []
    for panel, title in (("loss", "loss"), ("accuracy", "accuracy"), ("lambda", "λ")):
        panels.append(
            alt.Chart()
            .transform_filter(alt.datum.panel == panel)  # one dataset for the three panels
            .mark_line(strokeWidth=2)
            .encode(
                x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d")),
                y=alt.Y(
                    "value:Q",
                    title=None,
                    scale=alt.Scale(domain=[0, 1]) if panel == "accuracy" else alt.Undefined,
                    axis=alt.Axis(format=".0%") if panel == "accuracy" else alt.Undefined,
                ),
                color=alt.Color(
                    "run:N", legend=alt.Legend(orient="bottom", columns=1, labelLimit=400, title=None)
                ),
                # "source accuracy" / "(training batches)": two lines, under a panel no wider
                strokeDash=alt.StrokeDash(
                    "metric:N",
                    legend=alt.Legend(
                        orient="bottom",
                        title=None,
                        columns=1,
                        labelLimit=160,
                        labelExpr="split(replace(datum.label, ' (', '| ('), '|')",
                    ),
                ),
                tooltip=["run:N", "metric:N", "epoch:Q", alt.Tooltip("value:Q", format=".3f")],
            )
            .properties(width=90 if panel == "lambda" else 150, height=200, title=title)
        )
    return (
        alt.hconcat(*panels, data=alt.NamedData(name="curves"))
        .resolve_scale(color="shared", strokeDash="independent")
        .to_dict()
    )


def validator_curves(df: pd.DataFrame, selected: dict[str, int]) -> dict:
    """One small panel per validator (own y scale), headed by its plain name: its score per epoch,
    the epoch it selects marked; a vega-lite spec with its data, the structure built once per process
    (as `training_curves`'s). The raw name stays in the tooltip."""
    df = df.assign(
        selected=[selected.get(v) == e for v, e in zip(df.validator, df.epoch)],
        name=[named(v) for v in df.validator],
    )
    return copy.deepcopy(_validator_spec(tuple(selected))) | {"datasets": {"scores": df}}


@functools.cache
def _validator_spec(order: tuple[str, ...]) -> dict:
    line = (
        alt.Chart()
        .mark_line(color="#6a4c93")
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("score:Q", title=None, scale=alt.Scale(zero=False)),
            tooltip=["name:N", "validator:N", "epoch:Q", alt.Tooltip("score:Q", format=".3f")],
        )
    )
    dot = (
        alt.Chart()
        .mark_point(filled=True, size=80, color=palette.MARK)
        .encode(x="epoch:Q", y="score:Q")
        .transform_filter("datum.selected")
    )
    # "confidence and balance" / "of the target predictions (IM)": two lines over a narrow panel
    header = alt.Header(
        labelFontSize=12,
        labelLimit=240,
        title=None,
        labelExpr="split(replace(datum.label, ' of the ', '|of the '), '|')",
    )
    return (
        alt.layer(line, dot, data=alt.NamedData(name="scores"))
        .properties(width=230, height=100)
        .facet(facet=alt.Facet("name:N", header=header, sort=[named(v) for v in order]), columns=2)
        .resolve_scale(y="independent")
        .to_dict()
    )


def measuring_curves(df: pd.DataFrame, by: str) -> dict:
    """Measured auto's options side by side, one panel per question: each option's score by the
    validator `by` over the epochs, and (where `df` has it: a labelled target) its target accuracy.
    One line per option, the legend to the right of the lines. `df`: (option, epoch, panel, value)
    rows, panel ``score`` or ``target``; a vega-lite spec with its data."""
    labelled = bool((df["panel"] == "target").any())
    return copy.deepcopy(_measuring_spec(by, labelled)) | {"datasets": {"options": df}}


@functools.cache
def _measuring_spec(by: str, labelled: bool) -> dict:
    colour = alt.Color(
        "option:N",
        sort=None,
        # an option's name on two lines ("edges on both 150/300" / "+ rotate"): the legend beside the
        # lines fits a 1000 px window with the sidebar open
        legend=alt.Legend(
            orient="right",
            title="option",
            labelLimit=170,
            symbolStrokeWidth=3,
            labelExpr="split(replace(replace(datum.label, ' + ', '|+ '), ', ', ',|'), '|')",
        ),
    )
    x = alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d"))
    score = alt.Y("value:Q", title=None, scale=alt.Scale(zero=False))
    panels = [("score", score, ".3f", "validator score", [*textwrap.wrap(named(by), 30), "higher is better"])]
    if labelled:
        y = alt.Y("value:Q", title=None, scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format=".0%"))
        panels.append(("target", y, ".1%", "target accuracy", ["from the labels,", "never used to choose"]))
    charts = [
        alt.Chart()
        .transform_filter(alt.datum.panel == panel)
        .mark_line(strokeWidth=2.5, point=alt.OverlayMarkDef(size=30))
        .encode(
            x=x,
            y=y,
            color=colour,
            tooltip=["option:N", "epoch:Q", alt.Tooltip("value:Q", format=fmt, title=title)],
        )
        .properties(width=150, height=230, title=alt.TitleParams(title, subtitle=subtitle, anchor="start"))
        for panel, y, fmt, title, subtitle in panels
    ]
    return alt.hconcat(*charts, data=alt.NamedData(name="options"), spacing=20).to_dict()


def sweep_map(df: pd.DataFrame, colour_title: str) -> alt.LayerChart:
    """A sweep's grid as coloured cells: columns = the lambda settings, rows = the preprocessing;
    colour = `value` (empty until the cell's runs are trained), the number written in the cell in
    `ink` (white on the dark end of the scale).
    Clicking a cell selects it (selection ``cell``: its ``column`` and ``row``)."""
    pick = alt.selection_point(name="cell", fields=["column", "row"], on="click")
    base = alt.Chart(df).encode(
        x=alt.X(
            "column:N",
            sort=None,
            title="λ (schedule), or source-only",
            axis=alt.Axis(labelAngle=0, labelLimit=160),
        ),
        y=alt.Y("row:N", sort=None, title="preprocessing", axis=alt.Axis(labelLimit=200)),
    )
    cells = (
        base.mark_rect(stroke="white", strokeWidth=2)
        .encode(
            color=alt.Color(
                "value:Q",
                scale=alt.Scale(scheme="viridis"),
                title=colour_title,
                legend=alt.Legend(
                    orient="bottom",
                    direction="horizontal",
                    gradientLength=220,
                    format=".0%" if "accuracy" in colour_title else alt.Undefined,
                ),
            ),
            opacity=alt.condition(pick, alt.value(1.0), alt.value(0.45)),
            tooltip=[
                "column",
                "row",
                alt.Tooltip(
                    "value:Q", format=".1%" if "accuracy" in colour_title else ".2f", title=colour_title
                ),
                "seeds",
                "status",
            ],
        )
        .add_params(pick)
    )
    text = base.mark_text(fontSize=13, fontWeight="bold").encode(
        text="text:N", color=alt.Color("ink:N", scale=None)
    )
    under = base.mark_rect(color="#eeeeee")  # cells not trained yet stay visible, in grey
    return (
        alt.layer(under, cells, text)
        .resolve_scale(color="independent")
        .properties(height=alt.Step(48))  # as wide as its column (shown with width="stretch")
    )
