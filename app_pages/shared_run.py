"""Train DANN, opened by a share link: one run, read-only (its curves, numbers and validators)."""

import streamlit as st

from app_pages.lib.comparing import COLUMNS
from app_pages.lib.datasets import dataset
from app_pages.lib.judging import tiles, validators_panel
from app_pages.lib.runpicker import my_runs
from explorer.analysis import run_charts
from explorer.dann import results
from explorer.store import runs

st.title("Train DANN")
found = my_runs(dataset())
if not found:
    st.error(
        "This shared run is no longer on the server (removed from the checkpoint cache).",
        icon=":material/link_off:",
    )
    st.stop()
run = found[0]
st.info(
    "**A shared run, read-only.** Its owner sent you this link: you can look at this run here, in "
    "**Feature Space** and in **Layer Activations**. You cannot stop, delete or retrain it, and no other "
    "runs are shown.",
    icon=":material/visibility:",
)
st.subheader(run.label)
last = run.metrics[-1]
st.caption(
    f"Preprocessing {runs.preprocessing(run.config)} · {last['epoch']} of {run.config['epochs']} epochs · "
    f"{last.get('elapsed', 0):.0f} s of training on {last.get('device', run.config.get('device_type', '?'))}"
)
tiles(run.metrics, running=False)
st.vega_lite_chart(spec=run_charts.training_curves(runs.curves({run.label: run.metrics})), width="content")
st.dataframe(results.compare_table([run]), hide_index=True, width="stretch", column_config=COLUMNS)
validators_panel(run.metrics)
