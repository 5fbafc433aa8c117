"""Altair charts of data and features (class counts, pixel intensity, the t-SNE pairs, the movie), built
from `explorer` data frames; the charts of training runs are in `run_charts.py`. The pages only display
them."""

from __future__ import annotations

import warnings

import altair as alt
import pandas as pd

from explorer.analysis import palette

DOMAIN_COLOURS = alt.Scale(domain=["source", "target"], range=list(palette.DOMAIN))


def class_colours(names) -> alt.Scale:
    """Vega's tableau10 (tableau20 beyond ten classes), as in the movie's GIF."""
    return alt.Scale(range=list(palette.classes(len(set(names)))))


# a legend under a chart leaves a narrow column its plot's width
BELOW = alt.Legend(orient="bottom", title=None)


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


def feature_space(df: pd.DataFrame, title: str, size: int = 280) -> alt.HConcatChart:
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
