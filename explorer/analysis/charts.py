"""Altair charts built from `explorer` data frames; the pages only display them."""

from __future__ import annotations

import copy
import functools
import warnings

import altair as alt
import pandas as pd

from explorer.analysis import palette
from explorer.dann.validators import named

DOMAIN_COLOURS = alt.Scale(domain=["source", "target"], range=list(palette.DOMAIN))


def class_colours(names) -> alt.Scale:
    """Vega's tableau10 (tableau20 beyond ten classes), as in the movie's GIF."""
    return alt.Scale(range=list(palette.classes(len(set(names)))))


# a legend under a chart leaves a narrow column its plot's width
BELOW = alt.Legend(orient="bottom", title=None)
# the training curves' metrics as the legend says them (the metrics files keep the raw keys)
METRICS = {
    "class_loss": "class loss",
    "domain_loss": "domain loss",
    "source_acc": "source accuracy (training batches)",
    "target_acc": "target accuracy",
    "domain_acc": "domain classifier accuracy",
    "lambda": "λ",
}


def class_counts(df: pd.DataFrame) -> alt.Chart:
    """Grouped bars: images per class, one colour per domain. A few short class names stand under
    upright bars; many or long ones label horizontal bars, one row per class, so every name shows."""
    names = df["class"].astype(str).unique()
    bars = alt.Chart(df).mark_bar()
    colour = alt.Color("domain:N", scale=DOMAIN_COLOURS, legend=BELOW)
    tooltip = ["domain", "class", alt.Tooltip("images:Q", format=",")]
    if len(names) <= 12 and max(map(len, names)) <= 3:
        x = alt.X("class:N", sort=None, title="class", axis=alt.Axis(labelAngle=0, labelOverlap=False))
        return bars.encode(
            x=x, xOffset="domain:N", y=alt.Y("images:Q", title="images"), color=colour, tooltip=tooltip
        ).properties(height=300)
    y = alt.Y("class:N", sort=None, title=None, axis=alt.Axis(labelLimit=140, labelOverlap=False))
    return bars.encode(
        y=y, yOffset="domain:N", x=alt.X("images:Q", title="images"), color=colour, tooltip=tooltip
    ).properties(height=max(120, 18 * len(names)))


def intensity(df: pd.DataFrame) -> alt.Chart:
    """Overlaid step histograms of pixel luminance, one colour per domain."""
    # each domain's last bin closed at its end, or a step-after area draws it as a hairline
    last = df.sort_values("intensity").groupby("domain").tail(1)
    closed = pd.concat([df, last.assign(intensity=last.intensity_end)], ignore_index=True)
    return (
        alt.Chart(closed)
        .mark_area(opacity=0.45, interpolate="step-after", line=True, clip=True)
        .encode(
            # ticks that end on the range's last value: its label stands flush inside the chart
            x=alt.X(
                "intensity:Q",
                title="luminance (0 black, 255 white)",
                scale=alt.Scale(domain=[0, 255]),
                axis=alt.Axis(values=[0, 50, 100, 150, 200, 255], labelFlush=True),
            ),
            # sqrt: a drawing's background bin holds most pixels and would flatten everything else.
            # The title on two lines: on one, it is longer than the plot is high and is cut off
            y=alt.Y(
                "fraction:Q",
                title=["share of pixels", "(square-root scale)"],
                stack=None,
                scale=alt.Scale(type="sqrt"),
                axis=alt.Axis(format="%"),
            ),
            color=alt.Color("domain:N", scale=DOMAIN_COLOURS, legend=BELOW),
            tooltip=[
                "domain",
                alt.Tooltip("intensity:Q", title="from"),
                alt.Tooltip("intensity_end:Q", title="to"),
                alt.Tooltip("fraction:Q", title="share of pixels", format=".1%"),
            ],
        )
        .properties(height=300)
    )


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
                strokeDash=alt.StrokeDash(
                    "metric:N", legend=alt.Legend(orient="bottom", title=None, columns=1, labelLimit=260)
                ),
                tooltip=["run:N", "metric:N", "epoch:Q", alt.Tooltip("value:Q", format=".3f")],
            )
            .properties(width=180, height=200, title=title)
        )
    return (
        alt.hconcat(*panels, data=alt.NamedData(name="curves"))
        .resolve_scale(color="shared", strokeDash="independent")
        .to_dict()
    )


def class_legend(names, width: int, orient: str = "bottom") -> alt.Legend:
    """A legend that fits the class `names` in `width` pixels: below a plot, as many columns as the
    longest name allows; beside it, one column (two past 20 classes). Small symbols; names longer
    than about ten characters are cut with an ellipsis (the tooltip has them whole)."""
    names = [str(n) for n in names]
    longest = min(64, 7 * max(map(len, names), default=1))
    columns = (
        max(1, min(len(names), width // (longest + 26)))
        if orient == "bottom"
        else (1 if len(names) <= 20 else 2)
    )
    return alt.Legend(
        orient=orient, columns=columns, symbolSize=36, labelLimit=64, labelFontSize=11, title=None
    )


def feature_space(df: pd.DataFrame, title: str, size: int = 300) -> alt.HConcatChart:
    """Two linked scatter plots of the same points, `size` pixels square: coloured by class and by
    domain. Dragging a box in either selects the same points in both."""
    brush = alt.selection_interval(name=f"brush_{abs(hash(title)) % 10**6}", resolve="global")
    base = (
        alt.Chart(df)
        .mark_circle(size=16, opacity=0.75)
        .encode(
            x=alt.X("x:Q", axis=None),
            y=alt.Y("y:Q", axis=None),
            tooltip=["file", "domain", "class", "class_from", "prediction"],
        )
        .properties(width=size, height=size)
    )
    grey = alt.value("#dddddd")
    legend = class_legend(df["class"].unique(), size)
    by_class = (
        base.encode(
            color=alt.condition(
                brush, alt.Color("class:N", scale=class_colours(df["class"]), legend=legend), grey
            ),
            shape=alt.Shape("domain:N", scale=alt.Scale(range=["circle", "triangle"]), legend=None),
        )
        .add_params(brush)
        .properties(title="by class")
    )
    by_domain = (
        base.encode(
            color=alt.condition(
                brush,
                alt.Color("domain:N", scale=DOMAIN_COLOURS, legend=alt.Legend(orient="bottom", title=None)),
                grey,
            )
        )
        .add_params(brush)
        .properties(title="by domain")
    )
    with warnings.catch_warnings():
        # the same brush on both views is the point: altair merges it into one shared selection
        warnings.filterwarnings("ignore", message="Automatically deduplicated selection parameter")
        return alt.hconcat(by_class, by_domain, title=title, spacing=24).resolve_scale(color="independent")


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
    header = alt.Header(labelFontSize=12, labelLimit=380, title=None)
    return (
        alt.layer(line, dot, data=alt.NamedData(name="scores"))
        .properties(width=360, height=100)
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
        legend=alt.Legend(orient="right", title="option", labelLimit=300, symbolStrokeWidth=3),
    )
    x = alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1, format="d"))
    score = alt.Y("value:Q", title=None, scale=alt.Scale(zero=False))
    panels = [("score", score, ".3f", "validator score", [named(by), "higher is better"])]
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
        .properties(width=250, height=230, title=alt.TitleParams(title, subtitle=subtitle, anchor="start"))
        for panel, y, fmt, title, subtitle in panels
    ]
    return alt.hconcat(*charts, data=alt.NamedData(name="options"), spacing=28).to_dict()


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
                legend=alt.Legend(orient="bottom", direction="horizontal", gradientLength=220),
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
        .properties(width=alt.Step(110), height=alt.Step(48))
    )


def movie_frame(df: pd.DataFrame, colour: str, x_range: list[float], y_range: list[float]) -> alt.Chart:
    """One frame of the training movie: every point by `colour` (domain or class), on axes fixed for
    the whole movie, points whose prediction changed since the previous frame ringed in black. As
    wide as its container (shown with ``width="stretch"``)."""
    scale = DOMAIN_COLOURS if colour == "domain" else class_colours(df["class"])
    # on the right: a legend below squeezes the plot's height
    legend = (
        class_legend(df[colour].unique(), 0, orient="right") if colour == "class" else alt.Legend(title=None)
    )
    return (
        alt.Chart(df)
        .mark_circle(size=18, opacity=0.8)
        .encode(
            x=alt.X("x:Q", axis=None, scale=alt.Scale(domain=x_range)),
            y=alt.Y("y:Q", axis=None, scale=alt.Scale(domain=y_range)),
            color=alt.Color(f"{colour}:N", scale=scale, legend=legend),
            stroke=alt.condition("datum.changed", alt.value("black"), alt.value(None)),
            strokeWidth=alt.value(1),
            tooltip=["domain", "class", "predicted", "changed"],
        )
        .properties(height=440)
    )


def movie_numbers(df: pd.DataFrame, epoch: int) -> alt.LayerChart:
    """The movie's numbers per frame (long table: epoch, measure, value), the frame shown marked; as
    wide as its container."""
    lines = (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("measure:N", legend=alt.Legend(title=None)),
            tooltip=["measure", "epoch", alt.Tooltip("value:Q", format=".3f")],
        )
    )
    now = (
        alt.Chart(pd.DataFrame({"epoch": [epoch]}))
        .mark_rule(color="#888", strokeDash=[4, 3])
        .encode(x="epoch:Q")
    )
    return alt.layer(lines, now).properties(height=160)
