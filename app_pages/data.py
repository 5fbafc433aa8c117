"""Data: choose the two domains and look at them side by side."""

import numbers

import numpy as np
import pandas as pd
import streamlit as st

from app_pages.lib import pictures
from app_pages.lib.datasets import builtin, choose_dataset, dataset, pair_caption, source_choice
from app_pages.lib.session import browser_is_local, session_dir
from explorer.analysis import charts
from explorer.data import grids, overview, serverfolders, uploads
from explorer.data.domains import Dataset, open_dataset
from explorer.data.images import IMAGE_EXTENSIONS
from explorer.errors import ExplorerError

SIZES = [16, 28, 32, 48, 64, 96, 128]
IMAGE_TYPES = sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS)

st.title("Data")
st.caption(pair_caption(dataset()))


def activate(load, scrub=str) -> None:
    """Run a loader, which returns the dataset and its recipe; on success it becomes the active
    dataset (and the owner's saved choice), on failure the old one stays."""
    try:
        with st.spinner("Loading images…"):
            dropped = choose_dataset(*load())
    except ExplorerError as e:
        st.error(uploads.plain(scrub(str(e))), icon=":material/error:")
    else:
        st.session_state.data_loaded = f"Loaded {st.session_state.dataset.name}" + (
            f". {dropped}" if dropped else ""
        )
        st.rerun()  # the whole app again, so the sidebar shows the new dataset too


if loaded_note := st.session_state.pop("data_loaded", None):
    st.toast(loaded_note, icon=":material/check:")


with st.container(border=True):
    left, right = st.columns([3, 1])
    local = browser_is_local()
    if "data_choice" not in st.session_state:  # back from another page: the way this dataset came
        st.session_state.data_choice = source_choice()
    offered = serverfolders.offered(local)
    choice = left.radio(
        "Where the images come from",
        ["Embedded default", *(["Folder on this server"] if offered else []), "Upload a zip", "Drop images"],
        horizontal=True,
        key="data_choice",
    )
    size = right.selectbox("Image size (px, square)", SIZES, index=SIZES.index(32), key="data_size")

    if choice == "Embedded default":
        st.markdown(
            "Built offline from scikit-learn's digits: **source** = colour digits blended over photo "
            "patches (the MNIST-M recipe of the DANN paper), **target** = the other half of the digits as "
            "plain strokes."
        )
        if st.button("Use the embedded default", type="primary"):
            activate(lambda: (builtin(size), {"kind": "builtin", "size": size}))

    elif choice == "Folder on this server":
        inside = serverfolders.root() is not None
        st.caption(
            "Paths are inside the data folder this server offers."
            if inside
            else "Any folder this machine can read (offered because this browser runs on the server itself)."
        )
        example = "real_or_drawing" if inside else "/data/real_or_drawing"
        src = st.text_input(
            "Source folder or .zip",
            placeholder=f"{example}   (holds train_data/ and test_data/)   or   photos",
        )
        tgt = st.text_input("Target folder or .zip (empty when the source folder holds both domains)")
        if st.button("Open", type="primary", disabled=not src.strip()):

            def load() -> Dataset:
                source, target = (
                    str(serverfolders.resolve(p, local)) if p.strip() else None for p in (src, tgt)
                )
                recipe = {
                    "kind": "folders",
                    "what": "folder pair on this server",
                    "source": source,
                    "target": target,
                }
                return open_dataset(source, target, size=size), recipe | {"size": size}

            activate(load, scrub=serverfolders.scrub)

    elif choice == "Upload a zip":
        st.markdown(
            "One zip with both domains (`train_data/` + `test_data/`, or `source/` + `target/`), "
            "or one zip per domain, each `<class>/<image>` or just images."
        )
        zsrc = st.file_uploader("Zip: both domains, or the source", type=["zip"], key="zip_source")
        ztgt = st.file_uploader("Zip: the target (optional)", type=["zip"], key="zip_target")
        if st.button("Open zip", type="primary", disabled=zsrc is None):
            zips = [(z.name, z.getvalue()) if z else None for z in (zsrc, ztgt)]
            activate(lambda: uploads.open_zips(session_dir(), *zips, size))

    else:
        st.markdown(
            "Build a dataset class by class: drop images, name their class, add them. "
            "Source images need a class; target images may stay unlabelled."
        )
        c1, c2 = st.columns([1, 2])
        slot = c1.radio("Add to", uploads.SLOTS, horizontal=True, key="drop_slot")
        cls = c2.text_input("Class name", key="drop_class", placeholder="e.g. cat (empty: unlabelled target)")
        n = st.session_state.setdefault("drop_round", 0)
        files = st.file_uploader(
            "Images", type=IMAGE_TYPES, accept_multiple_files=True, key=f"drop_files_{n}"
        )
        b1, b2, b3 = st.columns(3)
        if b1.button("Add images", disabled=not files):
            if slot == "source" and not cls.strip():
                st.error("Source images need a class name: the source domain is the labelled one.")
            else:
                try:
                    added = uploads.add_images(
                        session_dir(), slot, cls or None, ((f.name, f.getvalue()) for f in files)
                    )
                except ExplorerError as e:
                    st.error(uploads.plain(str(e)))
                else:
                    st.session_state.drop_round += 1  # a fresh, empty uploader
                    st.toast(f"Added {added:,} image(s) to the {slot}")
                    st.rerun()
        counts = uploads.dropped_counts(session_dir()) if "session_dir" in st.session_state else {}
        for s in uploads.SLOTS:
            per = counts.get(s)
            st.caption(
                f"**{s}**: " + (", ".join(f"{k} ({v:,})" for k, v in per.items()) if per else "nothing yet")
            )
        if b2.button("Use dropped images", type="primary", disabled=len(counts) < 2):
            folders = [str(uploads.dropped_folder(session_dir(), s)) for s in ("source", "target")]
            recipe = {
                "kind": "folders",
                "what": "dropped images",
                "source": folders[0],
                "target": folders[1],
                "size": size,
            }
            activate(lambda: (open_dataset(*folders, size=size), recipe))
        if b3.button("Clear dropped images", disabled=not counts):
            uploads.clear_dropped(session_dir())
            st.rerun()


def by_measure(table: pd.DataFrame) -> pd.DataFrame:
    """The summary with one row per measure and one column per domain: three columns fit any width
    (nine, one per measure, are cut off in a narrow window). Counts with thousands separators."""
    rows = table.set_index("domain").T.rename_axis("measure").reset_index()
    return rows.map(lambda v: f"{v:,}" if isinstance(v, numbers.Integral) else str(v))


@st.cache_data(max_entries=8, show_spinner=False)
def describe(fingerprint: str, _ds: Dataset):
    """The numbers, the two charts' vega-lite specs and the notes below, computed once per dataset
    (building altair's objects costs more than drawing them)."""
    table, hist = overview.summary(_ds), overview.intensity_histogram(_ds)
    counts, histogram = charts.class_counts(overview.class_counts(_ds)), charts.intensity(hist)
    return table, counts.to_dict(), histogram.to_dict(), overview.notes(_ds, table, hist)


def domain_picture(d) -> np.ndarray:
    return (
        grids.class_rows(d.images, d.labels, d.classes) if d.labelled else grids.sample(d.images, 80, cols=10)
    )


ds = dataset()
table, counts_spec, hist_spec, notes = describe(ds.fingerprint, ds)

st.subheader(ds.name)
for note in ds.notes:
    st.warning(uploads.plain(note), icon=":material/warning:")
skipped = [(d.name, f, r) for d in (ds.source, ds.target) for f, r in d.skipped]
if skipped:
    with st.expander(f"{len(skipped):,} skipped file(s)"):
        st.dataframe([{"domain": d, "file": f, "reason": r} for d, f, r in skipped[:500]], hide_index=True)

cols = st.columns(2)
for col, d in zip(cols, (ds.source, ds.target)):
    with col:
        kind = "labelled, one row per class" if d.labelled else "unlabelled, random samples"
        if d.name == "target" and d.labelled:
            kind = "labels used for evaluation only, one row per class"
        st.markdown(f"**{d.name.capitalize()}** · {len(d):,} images · {kind}")
        if d.labelled:
            names = ", ".join(d.classes[:30]) + (
                f" and {len(d.classes) - 30} more" if len(d.classes) > 30 else ""
            )
            st.caption(f"classes: {names}")
        pictures.show(st, ("data", ds.fingerprint, d.name), lambda d=d: domain_picture(d))

st.dataframe(by_measure(table), hide_index=True, width="stretch")

c1, c2 = st.columns(2)
with c1:
    st.markdown("**Images per class**")
    st.vega_lite_chart(spec=counts_spec, width="stretch")
with c2:
    st.markdown("**Pixel intensity**")
    st.vega_lite_chart(spec=hist_spec, width="stretch")

with st.expander("What you are looking at", expanded=True):
    st.markdown("\n".join(f"- {note}" for note in notes))
