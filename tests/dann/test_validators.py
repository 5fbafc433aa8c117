"""Label-free validators on hand-made predictions, and choosing a checkpoint with them."""

import math

import torch

from explorer.dann import validators as V


def onehot(labels, classes=4, confidence=0.97):
    p = torch.full((len(labels), classes), (1 - confidence) / (classes - 1))
    p[torch.arange(len(labels)), torch.tensor(labels)] = confidence
    return p


def test_uniform_predictions_score_worst_on_entropy():
    uniform = torch.full((40, 4), 0.25)
    confident = onehot([i % 4 for i in range(40)])
    assert V.scores(uniform)["entropy"] < V.scores(confident)["entropy"]
    assert math.isclose(V.scores(uniform)["entropy"], -math.log(4), rel_tol=1e-6)


def test_a_collapsed_prediction_scores_worst_on_diversity():
    diverse = onehot([i % 4 for i in range(40)])
    collapsed = onehot([0] * 40)
    d, c = V.scores(diverse), V.scores(collapsed)
    assert c["bnm"] < d["bnm"] and c["im"] < d["im"]
    assert math.isclose(c["entropy"], d["entropy"])  # entropy alone cannot tell them apart


def test_snd_is_high_when_points_have_many_close_neighbours():
    few_big_clusters = onehot([i % 2 for i in range(40)], classes=10)  # 20 neighbours each
    many_small_clusters = onehot([i % 10 for i in range(40)], classes=10)  # 4 neighbours each
    assert V.scores(few_big_clusters)["snd"] > V.scores(many_small_clusters)["snd"]
    # spread over 19 others
    assert math.isclose(V.scores(few_big_clusters)["snd"], math.log(19), rel_tol=1e-3)


def test_selection_takes_the_best_epoch_the_later_on_a_tie_and_last():
    history = [
        {"epoch": e, "target_acc": a, "validators": {"entropy": s, "im": -s}}
        for e, a, s in [(1, 0.5, -2.0), (2, 0.7, -1.0), (3, 0.6, -1.0), (4, 0.65, -1.5)]
    ]
    assert V.selected_epoch(history, "entropy") == 3
    assert V.selected_epoch(history, "im") == 1
    assert V.selected_epoch(history, "last") == 4
    assert V.selected_epoch(history, "bnm") is None and V.selected_epoch([], "last") is None
    rho = V.rank_correlations(history)
    assert rho["entropy"] > 0 > rho["im"] and rho["bnm"] is None
