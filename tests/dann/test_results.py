"""One number per idea: the accuracy a run ships, where it comes from, and how every panel writes it."""

from explorer.dann import results
from explorer.dann import validators as V


def history(scores, accs):
    return [
        {"epoch": e + 1, "target_acc": acc, "validators": {} if score is None else {"im": score}}
        for e, (score, acc) in enumerate(zip(scores, accs))
    ]


def test_a_run_ships_the_accuracy_of_the_epoch_its_validator_selects():
    ship = results.shipped(history([0.2, 0.5, 0.4], [0.80, 0.8871, 0.879]))
    assert (ship.epoch, ship.target_acc, ship.last_epoch, ship.last_target_acc) == (2, 0.8871, 3, 0.879)
    assert ship.words == f"88.7% at epoch 2 (selected by {V.PLAIN['im']})"
    assert ship.last_words == "the last epoch (3) reached 87.9%"


def test_without_scores_the_last_epoch_ships_and_says_so():
    ship = results.shipped(history([None, None], [0.3, None]))
    assert ship.by == "last" and ship.epoch == 2 and ship.target_acc is None
    assert ship.words == "— at the last epoch, 2" and ship.last_words == ""


def test_tables_and_sentences_write_the_same_percentage():
    for x in (0.8865, 0.12345, 1.0, 0.0, 0.99949):
        assert results.percent(x) == f"{results.percent_value(x):.1f}%"


def test_two_scores_get_a_third_decimal_only_where_two_would_show_them_equal():
    assert results.decimals(2.2042, 2.1532) == ("2.20", "2.15")
    assert results.decimals(0.3121, 0.3149) == ("0.312", "0.315")


def test_every_validator_has_a_plain_name_and_a_meaning():
    assert set(V.PLAIN) == set(V.MEANING) == set(V.NAMES)
    assert V.named("im") == "confidence and balance of the target predictions (IM)"
    assert V.named("source_acc") == "held-out source accuracy"
