"""Canny Tuner: find thresholds that make source photos look like target drawings."""

import altair as alt
import pandas as pd
import streamlit as st
import torch

from app_pages.lib import pictures
from app_pages.lib.datasets import dataset, remember_canny
from app_pages.lib.measuring import measured_section
from explorer.analysis import palette
from explorer.data import edges, grids, preprocess
from explorer.data.images import IMAGE_EXTENSIONS, read_image
from explorer.errors import ExplorerError

st.title("Canny Tuner")
st.caption(
    "The homework turns source photos into line drawings with OpenCV's Canny edge detector before training. "
    "A gradient stronger than **high** starts an edge; one stronger than **low** continues it. "
    "Move the thresholds until the source's edges look like the target's strokes."
)

ds = dataset()
tuned = st.session_state.get("canny")
low, high = st.slider(
    "Canny thresholds (low, high)",
    0,
    500,
    tuned if isinstance(tuned, tuple) else (100, 200),
    key="canny_range",
)
if high <= low:
    st.error("The high threshold must be above the low one: move the handles apart.")
    st.stop()

N = 12
gen = torch.Generator().manual_seed(0)
pick = torch.randperm(len(ds.source), generator=gen)[:N]
tpick = torch.randperm(len(ds.target), generator=gen)[:N]
left, right = st.columns([3, 2])
with left:
    st.markdown("**Source**: original, grey, Canny")
    pictures.show(
        st,
        ("canny views", ds.fingerprint, low, high),
        lambda: grids.tile(torch.cat(edges.views(ds.source.images[pick], low, high)), N, scale=2),
        width="stretch",
    )
with right:
    st.markdown("**Target**: what the edges should look like")
    pictures.show(
        st,
        ("canny target", ds.fingerprint),
        lambda: grids.tile(ds.target.images[tpick], N // 2, scale=2),
        width="stretch",
    )


@st.cache_data(max_entries=16, show_spinner=False)
def curve(fingerprint: str, ratio: float, _src, _tgt):
    return edges.density_curve(_src, _tgt, ratio)


@st.cache_data(max_entries=64, show_spinner=False)
def ink(fingerprint: str, low: int, high: int, _src, _tgt) -> tuple[float, float]:
    """The source's edge density at low/high and the target's stroke density."""
    return edges.edge_density(_src, low, high), edges.foreground_density(_tgt)


@st.cache_data(max_entries=64, show_spinner=False)
def density_chart(fingerprint: str, ratio: float, high: int, _df) -> dict:
    """Source edge density against target stroke density over the high threshold, a rule at `high`:
    a vega-lite spec, built once per setting (altair's objects cost more than drawing them)."""
    line = (
        alt.Chart(_df)
        .mark_line(point=True)
        .encode(
            x=alt.X("high:Q", title=f"high threshold (low = {ratio:.2f} x high)"),
            y=alt.Y("density:Q", title="fraction of pixels", axis=alt.Axis(format="%")),
            color=alt.Color(
                "series:N",
                scale=alt.Scale(range=list(palette.DOMAIN)),
                legend=alt.Legend(orient="bottom", direction="vertical", title=None),
            ),
            tooltip=["series", "high", alt.Tooltip("density:Q", format=".1%")],
        )
    )
    rule = alt.Chart({"values": [{"high": high}]}).mark_rule(strokeDash=[4, 4]).encode(x="high:Q")
    return (line + rule).properties(height=340).to_dict()


@st.cache_data(max_entries=8, show_spinner="Scanning the thresholds…")
def reach(fingerprint: str, _src, _tgt) -> edges.Reach:
    return edges.ink_reach(_src, _tgt)


def reach_words(r: edges.Reach) -> str:
    """Whether any threshold pair gives the source as much ink as the target, in one plain sentence."""
    closest = f"{r.low}/{r.high}, at {r.density:.1%}"
    if r.reachable:
        return (
            f"The target's ink ({r.goal:.1%}) is within the slider's reach: the closest pair is "
            f"{closest}. Equal ink is a hint, not the goal: very low thresholds also draw the photos' "
            "texture, so compare the shapes too."
        )
    why = (
        "the most Canny draws on these images: its lines are one pixel wide"
        if r.goal > r.most
        else "the least it draws on these images"
    )
    return (
        f"No threshold pair reaches the target's ink ({r.goal:.1%}); the closest is {closest}, {why}. "
        "Match the shapes, not the amount of ink."
    )


def homework_pairs(one: torch.Tensor):
    views = [one.repeat(1, 3 // one.shape[1], 1, 1)] + [
        edges.views(one, lo, hi)[2] for lo, hi in edges.HOMEWORK_PAIRS
    ]
    return grids.tile(torch.cat(views), 4, scale=4)


c1, c2 = st.columns(2)
with c1:
    st.markdown("**How much ink?** Source edge density against target stroke density")
    sample = torch.randperm(len(ds.source), generator=gen)[:300]
    ratio = round(low / high, 2)
    df = curve(ds.fingerprint, ratio, ds.source.images[sample], ds.target.images[:300])
    st.vega_lite_chart(spec=density_chart(ds.fingerprint, ratio, high, df), width="stretch")
    now, goal = ink(ds.fingerprint, low, high, ds.source.images[sample], ds.target.images[:300])
    st.caption(f"At {low}/{high}: source edges cover {now:.1%} of pixels; target strokes cover {goal:.1%}.")
    st.caption(reach_words(reach(ds.fingerprint, ds.source.images[sample], ds.target.images[:300])))
with c2:
    st.markdown("**The homework's three pairs**, on one source image")
    idx = st.number_input("Source image", 0, len(ds.source) - 1, int(pick[0]), key="canny_index")
    pictures.show(
        st,
        ("canny pairs", ds.fingerprint, idx),
        lambda: homework_pairs(ds.source.images[idx : idx + 1]),
        caption="original · 50/100 · 150/200 · 250/300",
        width="stretch",
    )


@st.cache_data(max_entries=8, show_spinner="Comparing the options…")
def auto_choice(fingerprint: str, _src, _tgt) -> preprocess.Preprocess:
    return preprocess.choose(_src, _tgt)


DOUBLE_OUTLINES = (
    "**edges on both** runs Canny on the target too. On a target that is already made of strokes, Canny "
    "draws each stroke's two borders, so every line becomes a double outline. auto may still pick it: by "
    "these statistics, double outlines can be closer to Canny'd photos than the plain strokes are."
)


def auto_words(chosen: preprocess.Preprocess) -> str:
    """The chosen option's distance and the next two, in words."""
    (_, d), *rest = chosen.evidence or ((chosen.label, 0.0),)
    others = ", ".join(f"{label} at {dist:.3f}" for label, dist in rest[:2])
    return f"distance to the target {d:.3f}" + (f"; the next: {others}" if others else "")


st.markdown(
    "**What `auto` would choose** for this dataset: the option whose transformed source is closest to the "
    "target, by the energy distance between simple image statistics (brightness, gradient strength, ink). "
    "Unlabelled images only: no target label is used."
)
chosen = auto_choice(ds.fingerprint, ds.source.images, ds.target.images)


# one row per option: its name on top, its bar below, so a narrow column keeps both whole
OPTION_ROW = 32


@st.cache_data(max_entries=8, show_spinner=False)
def option_bars(fingerprint: str, _chosen: preprocess.Preprocess) -> dict:
    """The options' distances to the target as bars, the chosen one coloured and its name in bold;
    each name above its bar, never on it. A vega-lite spec, built once per dataset."""
    dist = pd.DataFrame(_chosen.evidence, columns=["option", "distance"]).assign(
        chosen=lambda d: d.option == _chosen.label
    )
    rows = alt.Chart(dist).encode(
        y=alt.Y("option:N", sort=None, title=None, axis=None, scale=alt.Scale(paddingInner=0, paddingOuter=0))
    )
    bars = rows.mark_bar(size=9, yOffset=8).encode(
        x=alt.X(
            "distance:Q", title="distance to the target (lower = more alike)", axis=alt.Axis(tickCount=5)
        ),
        color=alt.Color(
            "chosen:N", scale=alt.Scale(domain=[True, False], range=[palette.TARGET, "#c8c8c8"]), legend=None
        ),
        tooltip=["option", alt.Tooltip("distance:Q", format=".3f")],
    )
    names = [
        rows.mark_text(align="left", baseline="bottom", fontSize=11, color="#222", fontWeight=weight)
        .encode(x=alt.datum(0), text="option:N")
        .transform_filter(which)
        for weight, which in (("bold", "datum.chosen"), ("normal", "!datum.chosen"))
    ]
    # the height holds the rows and, below them, the x axis's labels and title
    return alt.layer(bars, *names).properties(height=OPTION_ROW * len(dist) + 40).to_dict()


c1, c2 = st.columns([3, 2])
c1.vega_lite_chart(spec=option_bars(ds.fingerprint, chosen), width="stretch")
c1.caption(DOUBLE_OUTLINES)
c2.info(f"**auto: {chosen.label}**  \n{auto_words(chosen)}", icon=":material/auto_awesome:")
below = (
    "target (bottom, Canny'd too: each stroke drawn as its two borders)"
    if chosen.edges == "both"
    else "target (bottom)"
)
pictures.show(
    c2,
    ("canny seen", ds.fingerprint, chosen.label),
    lambda: grids.tile(
        torch.cat(chosen.apply(ds.source.images[pick[:6]], ds.target.images[tpick[:6]])), 6, scale=2
    ),
    caption=f"what the networks would see: source (top), {below}",
    width="stretch",
)
# auto is what the README and the defaults recommend: the primary button; the thresholds are the exception
if c2.button("Use auto for training (the default)", type="primary", key="canny_auto", wrap=True):
    remember_canny("auto")
    st.toast("Train DANN will choose the preprocessing from the data")
if c2.button("Use these thresholds for training instead", key="canny_thresholds", wrap=True):
    remember_canny((low, high))
    st.toast(f"Train DANN will use Canny {low}/{high} on the source")
choice = st.session_state.get("canny", "auto")
c2.caption(f"Training uses {'auto' if choice == 'auto' else f'Canny {choice[0]}/{choice[1]} on the source'}.")
measured_section(ds)

st.markdown("**Your own photo** through the same pipeline")
up = st.file_uploader(
    "Drop a photo", type=sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS), key="canny_upload"
)
if up is not None:
    try:
        pixels, info = read_image(up.getvalue(), 256)
    except ExplorerError as e:
        st.error(f"{up.name}: {e}")
    else:
        views = torch.cat(edges.views(edges.from_array(pixels), low, high))
        st.image(
            grids.tile(views, 3, scale=1, gap=4),
            caption=f"{up.name} ({info.width}x{info.height} {info.mode}): "
            f"original · grey · Canny {low}/{high}",
            width="stretch",
        )
