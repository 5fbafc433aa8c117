"""The charts' vega-lite specs: what a class reads off them (one line per option, the legend beside
the lines, plain names on the panels; the raw names kept in the tooltips)."""

import pandas as pd

from explorer.analysis import run_charts
from explorer.dann import results
from explorer.dann import validators as V

OPTIONS = [f"option {i}" for i in range(6)]


def histories(labelled: bool) -> dict[str, list[dict]]:
    return {
        label: [
            {
                "epoch": e,
                "target_acc": 0.1 * e + 0.01 * i if labelled else None,
                "source_acc": 0.9,
                "validators": {"im": 0.2 * e + 0.01 * i, "bnm": 0.5},
            }
            for e in (1, 2, 3)
        ]
        for i, label in enumerate(OPTIONS)
    }


def test_the_measuring_chart_has_a_panel_per_question_and_a_line_per_option():
    spec = run_charts.measuring_curves(results.measuring_long(histories(labelled=True)), "im")
    panels = spec["hconcat"]
    assert len(panels) == 2  # the validator's score, and target accuracy
    data = spec["datasets"]["options"]
    for panel, which in zip(panels, ("score", "target")):
        assert panel["mark"]["type"] == "line"
        encoding = panel["encoding"]
        # one line per option: colour is the only thing that splits the lines (no dash per metric)
        assert encoding["color"]["field"] == "option" and not {"strokeDash", "detail"} & encoding.keys()
        assert encoding["color"]["legend"]["orient"] == "right"
        shown = data[data["panel"] == which]
        assert sorted(shown["option"].unique()) == OPTIONS and len(shown) == 6 * 3
    titles = [" ".join([p["title"]["text"], *p["title"]["subtitle"]]) for p in panels]
    assert V.named("im") in titles[0] and "target accuracy" in titles[1]
    assert panels[1]["encoding"]["y"]["axis"]["format"] == ".0%"


def test_the_measuring_chart_without_labels_shows_the_score_alone():
    spec = run_charts.measuring_curves(results.measuring_long(histories(labelled=False)), "im")
    assert len(spec["hconcat"]) == 1 and set(spec["datasets"]["options"]["panel"]) == {"score"}


def test_validator_panels_are_headed_by_plain_names_and_keep_the_raw_name_in_the_tooltip():
    history = [{"epoch": e, "validators": {n: 0.1 * e for n in V.NAMES}} for e in (1, 2, 3)]
    selected = {n: V.selected_epoch(history, n) for n in V.NAMES}
    spec = run_charts.validator_curves(V.long_table(history), selected)
    assert spec["facet"]["field"] == "name" and spec["facet"]["sort"] == [V.named(n) for n in V.NAMES]
    assert set(spec["datasets"]["scores"]["name"]) == {V.named(n) for n in V.NAMES}
    tooltip = [t["field"] for t in spec["spec"]["layer"][0]["encoding"]["tooltip"]]
    assert "validator" in tooltip


def test_training_curves_name_their_metrics_in_words():
    df = pd.DataFrame([{"run": "a", "epoch": 1, "metric": "source_acc", "panel": "accuracy", "value": 0.9}])
    spec = run_charts.training_curves(df)
    assert spec["datasets"]["curves"]["metric"].tolist() == ["source accuracy (training batches)"]
    assert df["metric"].tolist() == ["source_acc"]  # the caller's frame is left as it was
