"""Feature Space: source and target features of a run's checkpoints, by class and by domain, and
the training movie (every saved epoch, aligned)."""

import streamlit as st

from app_pages.lib.datasets import dataset
from app_pages.lib.looking import section
from app_pages.lib.player import training_movie
from app_pages.lib.runpicker import my_runs, others_data, pick_run
from explorer.analysis import alignment, charts, projector
from explorer.analysis.embedding import embedding
from explorer.dann.results import percent
from explorer.dann.runfolder import kept_checkpoints, shipped
from explorer.dann.validators import DEFAULT, PLAIN
from explorer.errors import ExplorerError

# a plot's downloads: (button, maker, file name's stem, extension, MIME type)
DOWNLOADS = [
    ("Coordinates (CSV)", projector.coords_csv, "coords", "csv", "text/csv"),
    ("TensorBoard projector (zip)", projector.projector_zip, "projector", "zip", "application/zip"),
]

st.title("Feature Space")
st.caption(
    "What the feature extractor makes of each image, squeezed into 2-D. Before adversarial training the "
    "source and target features sit apart; as DANN trains they should merge **by domain** while staying "
    "separated **by class**. Drag a box in either plot to select the same points in both."
)
ds = dataset()
mine = my_runs(ds)
if not mine:
    st.info(
        "No runs on this dataset yet: train one on the **Train DANN** page, then come back.",
        icon=":material/info:",
    )
    st.stop()

controls = st.container(border=True)
with controls:
    # full width: a run's label is long, and the three views need the room below
    run = pick_run(st, mine, "f_run")
    view = (
        st.segmented_control(
            "View",
            ["Checkpoints", "Training movie", "Where it looks"],
            default="Checkpoints",
            key="f_view",
            help="Checkpoints: the epochs you pick, each its own map. Training movie: every saved epoch, "
            "each map starting from the one before, so the points can be followed. Where it looks: "
            "class-activation maps of the run and its source-only twin on the same images.",
        )
        or "Checkpoints"
    )
if view == "Where it looks":
    st.caption(
        "Which pixels made the model say its class? Where adaptation worked, the DANN run should look at the "
        "strokes on both domains; a source-only model often keys on the source's background or texture."
    )
    section(run, ds)
    st.stop()
with controls:
    c1, c2, c3, c4 = st.columns(4)
    most = max(len(ds.source), len(ds.target))
    n = c1.number_input(
        "Samples per domain",
        min(10, most),
        5000,
        min(1000, most),
        step=100,
        key="f_n",
        help=f"up to 5,000; this dataset has {len(ds.source):,} source and {len(ds.target):,} target images",
    )
    method = c2.selectbox(
        "Method", ["tsne", "pca"], key="f_method", help="pca: instant, linear; t-SNE: keeps neighbourhoods"
    )
    perplexity = c3.number_input(
        "Perplexity", 2.0, 200.0, 30.0, step=5.0, key="f_perp", disabled=method != "tsne"
    )
    seed = c4.number_input("Seed", 0, 10_000, 0, key="f_seed")
    if view == "Checkpoints":
        kept = kept_checkpoints(run.dir, shipped(run.dir, DEFAULT, run.metrics))
        checkpoints = {c.label: c.path for c in kept}
        names = list(checkpoints)
        default = names
        if len(kept) > 1:  # the first epoch, and the one the run ships (else its last kept one)
            ships = next((c for c in kept if c.by is not None), kept[-1])
            default = list(dict.fromkeys([names[0], ships.label]))
        picked = st.multiselect(
            "Checkpoints",
            names,
            default=default,
            key=f"f_epochs_{run.run_id}",
            help=f"the marked epochs, and the one the run ships, selected without target labels by "
            f"{PLAIN[DEFAULT]} ({DEFAULT})",
        )

if view == "Training movie":
    st.caption(
        "Every saved epoch of the run, the same sampled points in each frame, each map starting from the "
        "one before: watch the source and target clouds fold into each other. Mixing and the A-distance "
        "are measured in feature space."
    )
    training_movie(run, ds, int(n), method, float(perplexity), int(seed))
    st.stop()


@st.cache_data(max_entries=32, show_spinner=False)
def numbers(key: tuple, _emb, seed: int) -> dict:
    f = _emb.features
    return {
        "a": alignment.proxy_a_distance(f.features, f.domain, seed),
        "target": f.target_acc,
        "knn": alignment.knn_class_agreement(f.features, f.label),
    }


if picked:
    st.caption(
        " ".join(
            f"**{alignment.PLAIN[k].capitalize()}**: {alignment.MEANING[k]}." for k in ("a_distance", "knn")
        )
    )
for epoch in sorted(picked, key=names.index):
    ckpt = checkpoints[epoch]
    try:
        with st.spinner(f"{epoch}: extracting features and embedding {2 * int(n):,} points…"):
            emb = embedding(ckpt, ds, int(n), method, float(perplexity), int(seed))
            num = numbers(
                (str(ckpt), ckpt.stat().st_mtime, int(n), method, float(perplexity), int(seed)),
                emb,
                int(seed),
            )
    except ExplorerError as e:
        st.error(f"{epoch}: {e}")
        continue
    df = projector.points(emb, ds)
    df = df.assign(file="(not shared)") if others_data() else df
    f = emb.features
    st.altair_chart(charts.feature_space(df, epoch), width="content")
    # the numbers under the plots: beside them, a narrow window squeezed them onto the plots
    cols = st.columns(3)
    cols[0].metric(
        alignment.PLAIN["a_distance"],
        f"{num['a']:.2f}",
        help=alignment.explained("a_distance") + "; 2 (1 - 2 err), err the classifier's error",
    )
    if num["target"] is not None:
        cols[1].metric(
            "target accuracy", percent(num["target"]), help="this epoch's, on the sampled target images"
        )
    if num["knn"] is not None:
        cols[2].metric(alignment.PLAIN["knn"], f"{num['knn']:.2f}", help=alignment.explained("knn"))
    tgt = f.domain == 1
    with st.container(horizontal=True, vertical_alignment="center"):
        took = "from the cache" if emb.cached else f"{emb.seconds:.1f} s"
        st.caption(f"{took} · {int((~tgt).sum()):,} source + {int(tgt.sum()):,} target points")
        # file names and thumbnails of a sharer's own images stay theirs
        downloads = [] if others_data() else DOWNLOADS
        for title, make, stem, ext, mime in downloads:
            st.download_button(
                title,
                lambda emb=emb, make=make: make(emb, ds),
                f"{stem}-{run.short_id}-e{f.epoch}.{ext}",
                mime,
                key=f"{stem}_{f.epoch}",
                on_click="ignore",
            )
