"""Transfer Explorer: `streamlit run app.py`. Navigation and the sidebar every page shares."""

import streamlit as st

from app_pages.lib.datasets import dataset, restore_choices
from app_pages.lib.runpicker import keep_in_address
from app_pages.lib.session import housekeeping, owner
from explorer.devices import describe, pick, use_usable_cpus
from explorer.errors import ExplorerError
from explorer.store import shares
from explorer.transfer import download

st.set_page_config(page_title="Transfer Explorer", page_icon=":material/transform:", layout="wide")
use_usable_cpus()

owner()  # puts the owner's id in the address before any page draws
keep_in_address()  # and its selected run
housekeeping()
features = st.Page("app_pages/features.py", title="Feature Space", icon=":material/scatter_plot:")
activations = st.Page("app_pages/activations.py", title="Layer Activations", icon=":material/grid_view:")
if token := st.query_params.get("share") or st.session_state.get("share_token"):
    # A share link: that run, read-only, on three pages, and nothing else of its owner's.
    grant = shares.shared(token)
    if grant is None:
        st.title("Shared run")
        st.error(
            "No such shared run: the link is mistyped, or its owner revoked it.", icon=":material/link_off:"
        )
        st.stop()
    st.session_state.shared, st.session_state.share_token = grant, token
    st.query_params["share"] = token
    try:
        dataset()
    except (ExplorerError, OSError) as e:
        st.error(f"This shared run's data is no longer on this server ({e}).", icon=":material/link_off:")
        st.stop()
    shared_train = st.Page(
        "app_pages/shared_run.py", title="Train DANN", icon=":material/model_training:", default=True
    )
    nav = st.navigation([shared_train, features, activations])
else:
    restore_choices()
    nav = st.navigation(
        [
            st.Page("app_pages/data.py", title="Data", icon=":material/photo_library:", default=True),
            st.Page("app_pages/canny.py", title="Canny Tuner", icon=":material/edit:"),
            st.Page("app_pages/train.py", title="Train DANN", icon=":material/model_training:"),
            features,
            activations,
            st.Page("app_pages/finetune.py", title="Transfer Fine-tune", icon=":material/tune:"),
        ]
    )

with st.sidebar:
    ds = dataset()
    st.markdown(f"**Dataset**  \n{ds.name}")
    src_labels = f"{len(ds.source.classes)} classes"
    tgt_labels = "labelled (evaluation only)" if ds.target.labelled else "unlabelled"
    st.caption(
        f"source: {len(ds.source):,} images, {src_labels}  \n"
        f"target: {len(ds.target):,} images, {tgt_labels}  \n"
        f"{ds.source.images.shape[-1]}x{ds.source.images.shape[-1]} px"
    )
    st.markdown(f"**Device**  \n{describe(pick('auto'))}")
    st.toggle(
        "Allow weight downloads",
        download.allowed(),
        key="allow_downloads",
        disabled=not download.allowed(),
        help="Pretrained ImageNet weights missing from the torch hub cache are downloaded once, hash-checked "
        "(EXPLORER_WEIGHTS_MIRROR: from a mirror). Turn off to stay offline."
        if download.allowed()
        else "Pretrained ImageNet weights missing from the torch hub cache are downloaded once "
        "(EXPLORER_WEIGHTS_MIRROR: from a mirror). Off on this server: EXPLORER_ALLOW_DOWNLOADS=0.",
    )

if lost := st.session_state.get("dataset_lost"):
    st.warning(lost, icon=":material/folder_off:")
nav.run()
