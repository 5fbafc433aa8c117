"""How a run judges itself without target labels, drawn for Train DANN: the validators over the
epochs, what each means, how well each tracked the truth when the target is labelled, and a
comparison with the run's source-only twin."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app_pages.lib.session import owner
from app_pages.lib.twin import WHAT_IT_IS, finished_twin
from explorer.analysis import run_charts
from explorer.dann import results
from explorer.dann import validators as V
from explorer.data.domains import Dataset
from explorer.store import runs

# the validators' table: accuracies in percent, as every panel shows them; correlations to 2 decimals
COLUMNS = {
    "target accuracy there": st.column_config.NumberColumn(format="%.1f%%"),
    "ranks epochs like the labels": st.column_config.NumberColumn(
        format="%.2f", help="Spearman correlation with target accuracy over the epochs: 1 = the same order"
    ),
}


def tiles(history: list[dict], running: bool) -> None:
    """A run's numbers as tiles: the target accuracy it ships (where it comes from, under the tiles),
    and the last epoch's training-batch and domain classifier accuracies and speed."""
    last, ship = history[-1], results.shipped(history)
    # two rows of two: four in a row cut their names short in a 1000 px window
    cols = [*st.columns(2), *st.columns(2)]
    cols[0].metric(
        "target accuracy",
        results.percent(ship.target_acc),
        help=f"the checkpoint this run ships, {ship.at}; the labels are never used for training",
    )
    cols[1].metric(
        results.TRAINING_BATCHES,
        results.percent(last["source_acc"]),
        help="the last epoch's accuracy on the (augmented) source batches it trains on; the held-out "
        "source accuracy is among the validators below",
    )
    cols[2].metric(
        results.DOMAIN,
        results.percent(last.get("domain_acc")),
        help="the last epoch's; 50% = the domain classifier cannot tell source from target features",
    )
    cols[3].metric("images / s", f"{last['img_per_s']:,.0f}")
    ships = "would ship if it stopped now" if running else "ships"
    if ship.target_acc is None:
        said = f"No target labels here; the checkpoint this run {ships} is the one {ship.at}."
    else:
        said = f"Target accuracy {ship.words}: the checkpoint this run {ships}."
        if ship.last_words:
            said += f" {ship.last_words[0].upper()}{ship.last_words[1:]}."
    st.caption(f"{said} The other tiles are the last epoch's (epoch {last['epoch']}).")


def validators_panel(history: list[dict]) -> None:
    """The validators' curves with the epoch each selects, their meanings, and, when the target is
    labelled, how well each ranked the epochs."""
    if not any(h.get("validators") for h in history):
        return
    selected = {name: V.selected_epoch(history, name) for name in V.NAMES}
    st.markdown(
        "**Judging the run without target labels**: each validator scores every epoch without a target "
        "label; the dot is the epoch it would pick. The run ships the epoch picked by "
        f"**{V.named(V.DEFAULT)}**: the downloads and Feature Space use it unless you choose another."
    )
    st.vega_lite_chart(spec=run_charts.validator_curves(V.long_table(history), selected), width="content")
    labelled = all(h.get("target_acc") is not None for h in history)
    rho = V.rank_correlations(history) if labelled else {}
    table = pd.DataFrame(
        {
            "validator": [V.named(n) for n in V.NAMES],
            "picks epoch": [selected[n] for n in V.NAMES],
            **(
                {
                    "target accuracy there": [
                        results.percent_value(V.row_at(history, selected[n]).get("target_acc"))
                        for n in V.NAMES
                    ],
                    "ranks epochs like the labels": [rho[n] for n in V.NAMES],
                }
                if labelled
                else {}
            ),
        }
    )
    st.dataframe(table, hide_index=True, width="content", column_config=COLUMNS)
    st.markdown("\n".join(f"* **{V.named(n)}**: {V.MEANING[n]}." for n in V.NAMES))
    if labelled:
        st.caption(_truth(history))


def _truth(history: list[dict]) -> str:
    """On a labelled target: what the run ships against the best epoch by the labels, and what the
    rank agreement means."""
    best = max(history, key=lambda h: (h["target_acc"], -h["epoch"]))
    ship = results.shipped(history)
    labels = (
        "that is the labels' best epoch too"
        if best["target_acc"] == ship.target_acc
        else f"the labels' best epoch was {best['epoch']}, at {results.percent(best['target_acc'])}"
    )
    return (
        f"The target is labelled here, so the truth is known: the run ships {ship.words}; {labels}. "
        "*Ranks epochs like the labels* is the Spearman "
        "correlation, over the epochs, of the validator with target accuracy: near 1 means it ordered the "
        "epochs as the labels do; near 0 or below, it would have picked blindly. This is why choosing a "
        "checkpoint without labels is hard."
    )


def twin_panel(run: runs.RunRecord, ds: Dataset) -> None:
    """For a DANN run: did adaptation probably help? By the judge validator, against the source-only
    twin; until the twin has trained, the button that trains it or its progress
    (`twin.finished_twin`)."""
    if run.config["method"] != "dann" or not run.metrics or runs.is_option(run):
        return
    asks = f"**{run.label}**: did DANN help? Its **source-only twin** ({WHAT_IT_IS}) answers that: "
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
    ours, theirs = results.shipped(run.metrics), results.shipped(twin.metrics)
    truth = ""
    if ours.target_acc is not None and theirs.target_acc is not None:
        truth = (
            f" The target is labelled here: DANN ships {results.percent(ours.target_acc)} target accuracy "
            f"against {results.percent(theirs.target_acc)} for source-only, at those epochs."
        )
    a, b = results.decimals(dann, base)
    picked = "" if V.JUDGE == V.DEFAULT else f", selected by {V.PLAIN[V.DEFAULT]}"
    by = (
        f"By the {V.named(V.JUDGE)}, DANN scores {a} against {b} for its source-only twin, each at the "
        f"epoch it ships (epochs {e_d} and {e_s}{picked})."
    )
    if dann < base:
        st.warning(
            f"**{run.label}: DANN probably hurt on this data.** {by} Only target labels can tell for sure; "
            f"try another λ or preprocessing.{truth}",
            icon=":material/trending_down:",
        )
    else:
        st.success(
            f"**{run.label}**: DANN probably helped. {by} Only target labels can tell for sure.{truth}",
            icon=":material/trending_up:",
        )
