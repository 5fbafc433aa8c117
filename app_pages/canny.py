"""Canny Tuner: find thresholds that make source photos look like target drawings."""

import altair as alt
import pandas as pd
import streamlit as st
import torch

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
low, high = st.slider("Canny thresholds (low, high)", 0, 500, tuned if isinstance(tuned, tuple) else (100, 200), key="canny_range")
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
    rows = edges.views(ds.source.images[pick], low, high)
    st.image(grids.tile(torch.cat(rows), N, scale=2), width="stretch")
with right:
    st.markdown("**Target**: what the edges should look like")
    st.image(grids.tile(ds.target.images[tpick], N // 2, scale=2), width="stretch")


@st.cache_data(max_entries=16, show_spinner=False)
def curve(fingerprint: str, ratio: float, _src, _tgt):
    return edges.density_curve(_src, _tgt, ratio)


c1, c2 = st.columns(2)
with c1:
    st.markdown("**How much ink?** Source edge density against target stroke density")
    sample = torch.randperm(len(ds.source), generator=gen)[:300]
    df = curve(ds.fingerprint, round(low / high, 2), ds.source.images[sample], ds.target.images[:300])
    line = (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(
            x=alt.X("high:Q", title=f"high threshold (low = {low / high:.2f} x high)"),
            y=alt.Y("density:Q", title="fraction of pixels", axis=alt.Axis(format="%")),
            color=alt.Color("series:N", scale=alt.Scale(range=list(palette.DOMAIN))),
            tooltip=["series", "high", alt.Tooltip("density:Q", format=".1%")],
        )
    )
    rule = alt.Chart({"values": [{"high": high}]}).mark_rule(strokeDash=[4, 4]).encode(x="high:Q")
    st.altair_chart((line + rule).properties(height=260), width="stretch")
    now = edges.edge_density(ds.source.images[sample], low, high)
    goal = edges.foreground_density(ds.target.images[:300])
    st.caption(f"At {low}/{high}: source edges cover {now:.1%} of pixels; target strokes cover {goal:.1%}.")
with c2:
    st.markdown("**The homework's three pairs**, on one source image")
    idx = st.number_input("Source image", 0, len(ds.source) - 1, int(pick[0]), key="canny_index")
    one = ds.source.images[idx : idx + 1]
    views = [one.repeat(1, 3 // one.shape[1], 1, 1)] + [edges.views(one, lo, hi)[2] for lo, hi in edges.HOMEWORK_PAIRS]
    st.image(grids.tile(torch.cat(views), 4, scale=4), caption="original · 50/100 · 150/200 · 250/300", width="stretch")


@st.cache_data(max_entries=8, show_spinner="Comparing the options…")
def auto_choice(fingerprint: str, _src, _tgt) -> preprocess.Preprocess:
    return preprocess.choose(_src, _tgt)


st.markdown("**What `auto` would choose** for this dataset: the option whose transformed source is closest to the "
            "target, by the energy distance between simple image statistics (brightness, gradient strength, ink). "
            "Unlabelled images only: no target label is used.")  # fmt: skip
chosen = auto_choice(ds.fingerprint, ds.source.images, ds.target.images)
dist = pd.DataFrame(chosen.evidence, columns=["option", "distance"]).assign(chosen=lambda d: d.option == chosen.label)
c1, c2 = st.columns([3, 2])
c1.altair_chart(
    alt.Chart(dist).mark_bar().encode(
        x=alt.X("distance:Q", title="distance to the target (lower = more alike)"),
        y=alt.Y("option:N", sort=None, title=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)),
        color=alt.Color("chosen:N", scale=alt.Scale(domain=[True, False], range=[palette.TARGET, "#cccccc"]), legend=None),
        tooltip=["option", alt.Tooltip("distance:Q", format=".3f")],
    ).properties(height=26 * len(dist)),
    width="stretch",
)  # fmt: skip
c2.info(f"**auto: {chosen.label}**  \n{preprocess.explain(chosen).split('(', 1)[1].rstrip(')')}", icon=":material/auto_awesome:")
seen = chosen.apply(ds.source.images[pick[:6]], ds.target.images[tpick[:6]])
c2.image(grids.tile(torch.cat(seen), 6, scale=2), caption="what the networks would see: source (top), target (bottom)", width="stretch")
if c2.button("Train with auto (the default)", key="canny_auto"):
    remember_canny("auto")
    st.toast("Train DANN will choose the preprocessing from the data")
if c2.button("Use these thresholds for training", type="primary"):
    remember_canny((low, high))
    st.toast(f"Train DANN will use Canny {low}/{high} on the source")
choice = st.session_state.get("canny", "auto")
c2.caption(f"Training uses {'auto' if choice == 'auto' else f'Canny {choice[0]}/{choice[1]} on the source'}.")
measured_section(ds)

st.markdown("**Your own photo** through the same pipeline")
up = st.file_uploader("Drop a photo", type=sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS), key="canny_upload")
if up is not None:
    try:
        pixels, info = read_image(up.getvalue(), 256)
    except ExplorerError as e:
        st.error(f"{up.name}: {e}")
    else:
        st.image(
            grids.tile(torch.cat(edges.views(edges.from_array(pixels), low, high)), 3, scale=1, gap=4),
            caption=f"{up.name} ({info.width}x{info.height} {info.mode}): original · grey · Canny {low}/{high}",
            width="stretch",
        )
