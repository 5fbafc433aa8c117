"""How a run judges itself without target labels, drawn for Train DANN: the validators over the
epochs, what each means, how well each tracked the truth when the target is labelled, and a
comparison with the run's source-only twin."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.lib.session import owner
from app_pages.lib.twin import finished_twin
from explorer.analysis import charts
from explorer.dann import validators as V
from explorer.data.domains import Dataset
from explorer.store import runs


def validators_panel(history: list[dict]) -> None:
    """The validators' curves with the epoch each selects, their meanings, and, when the target is
    labelled, how well each ranked the epochs."""
    if not any(h.get("validators") for h in history):
        return
    selected = {name: V.selected_epoch(history, name) for name in V.NAMES}
    st.markdown(
        "**Judging the run without target labels**: each validator's score per epoch; the dot is the epoch "
        "it "
        f"would pick. Downloads and Feature Space use the pick of **{V.DEFAULT}** unless you choose "
        "otherwise."
    )
    st.vega_lite_chart(spec=charts.validator_curves(V.long_table(history), selected), width="content")
    labelled = all(h.get("target_acc") is not None for h in history)
    rho = V.rank_correlations(history) if labelled else {}
    table = pd.DataFrame(
        {
            "validator": list(V.NAMES),
            "picks epoch": [selected[n] for n in V.NAMES],
            **(
                {
                    "target acc there": [V.row_at(history, selected[n]).get("target_acc") for n in V.NAMES],
                    "rank corr.": [rho[n] for n in V.NAMES],
                }
                if labelled
                else {}
            ),
        }
    )
    c1, c2 = st.columns([1, 1])
    c1.dataframe(table, hide_index=True, width="stretch")
    c2.markdown("\n".join(f"* **{n}**: {V.MEANING[n]}." for n in V.NAMES))
    if labelled:
        best = max(h["target_acc"] for h in history)
        st.caption(
            f"The target here is labelled, so the truth is known: the best epoch reached {best:.3f}. A rank "
            "correlation "
            "(Spearman, over the epochs, with target accuracy) "
            "near 1 means the validator ordered the epochs as target accuracy did; near 0 or below, it would "
            "have "
            "picked blindly. This is why choosing a checkpoint without labels is hard."
        )


def twin_panel(run: runs.RunRecord, ds: Dataset) -> None:
    """For a DANN run: did adaptation probably help? By the judge validator, against the source-only
    twin; until the twin has trained, the button that trains it or its progress
    (`twin.finished_twin`)."""
    if run.config["method"] != "dann" or not run.metrics or runs.is_option(run):
        return
    asks = (
        f"**{run.label}**: did DANN help? "
        "Its **source-only twin** (the same options with λ = 0) answers that: "
    )
    twin = finished_twin(
        run,
        ds,
        ask=asks + "train it here.",
        ask_again=asks + "its training stopped before the end; train on to finish it.",
        elsewhere=f"**{run.label}**: its source-only twin is training now (started elsewhere); "
        "the verdict comes when it ends.",
        key=f"twin_{run.run_id}",
    )
    if twin is None:
        return
    joined = st.session_state.setdefault("t_twins_joined", set())
    if (
        owner() in runs.owners(twin.dir)
        and twin.run_id not in st.session_state.get("t_listed", ())
        and twin.run_id not in joined
    ):
        joined.add(twin.run_id)
        # it finished while the page was drawn, after the overlay's list: draw it again, with the twin
        st.rerun()
    _did_it_help(run, twin)


def _did_it_help(run: runs.RunRecord, twin: runs.RunRecord) -> None:
    """The verdict: the run against its twin by the judge validator, each at its selected epoch; the
    labels' answer beside it when the target has them."""
    e_d, dann = V.score_at(run.metrics, V.DEFAULT, V.JUDGE)
    e_s, base = V.score_at(twin.metrics, V.DEFAULT, V.JUDGE)
    if dann is None or base is None:
        st.caption(
            f"**{run.label}** and its source-only twin: no validator scores to compare "
            "(trained before validators)."
        )
        return
    truth = ""
    acc_d, acc_s = V.row_at(run.metrics, e_d).get("target_acc"), V.row_at(twin.metrics, e_s).get("target_acc")
    if acc_d is not None and acc_s is not None:
        truth = f" The target is labelled here: DANN {acc_d:.3f} against source-only {acc_s:.3f}."
    if dann < base:
        st.warning(
            f"**{run.label}: DANN probably hurt on this data.** By {V.JUDGE}, DANN scores {dann:.4f} "
            f"(epoch {e_d}) against {base:.4f} for its source-only twin (epoch {e_s}). Only target labels "
            f"can tell for sure; try another λ or preprocessing.{truth}",
            icon=":material/trending_down:",
        )
    else:
        st.success(
            f"**{run.label}**: DANN probably helped. By {V.JUDGE} it scores {dann:.4f} (epoch {e_d}) "
            f"against {base:.4f} for its source-only twin (epoch {e_s}). Only target labels can tell for "
            f"sure.{truth}",
            icon=":material/trending_up:",
        )
