"""A sweep's grid: axes parsed by the field's type, expanded with seeds, refused with one sentence."""

import pytest

from explorer.dann.config import TrainConfig
from explorer.errors import ExplorerError
from explorer.execution.grid import Grid, parse_axis


def test_axes_are_read_as_their_fields_types():
    assert parse_axis("lamb=0,0.1,1") == ("lamb", [0.0, 0.1, 1.0])
    assert parse_axis("lambda-schedule=constant,dann") == ("lambda_schedule", ["constant", "dann"])
    assert parse_axis("canny=auto,off,100/200,150:300") == ("canny", ["auto", None, (100, 200), (150, 300)])
    assert parse_axis("epochs=1,2,2") == ("epochs", [1, 2])  # repeats dropped
    assert parse_axis("time_budget=none,5") == ("time_budget", [None, 5.0])


@pytest.mark.parametrize(
    "spec, message",
    [
        ("lam=0,1", "'lam' is not a training option"),
        ("device=cpu,cuda", "'device' is not a training option"),
        ("lamb=", "has no values"),
        ("lamb", "NAME=V1,V2"),
        ("lamb=0,x", "lamb takes numbers; got 'x'"),
        ("epochs=1.5", "epochs takes whole numbers"),
        ("canny=100", "canny values are auto, off or LOW/HIGH"),
    ],
)
def test_bad_axes_are_one_sentence(spec, message):
    with pytest.raises(ExplorerError, match=message):
        Grid.parse([spec])


def test_grid_expands_every_point_with_every_seed_on_the_base():
    grid = Grid.parse(["lamb=0.1,1", "canny=auto,off"], seeds=2, first_seed=5)
    configs = grid.configs(TrainConfig(epochs=3))
    assert len(configs) == 8
    assert [(c.lamb, c.canny, c.seed) for c in configs[:4]] == [
        (0.1, "auto", 5),
        (0.1, "auto", 6),
        (0.1, None, 5),
        (0.1, None, 6),
    ]
    assert all(c.epochs == 3 for c in configs)


def test_values_the_config_refuses_and_too_many_runs_are_refused_before_training():
    with pytest.raises(
        ExplorerError, match="Grid point method=foo: Bad training option: method must be one of"
    ):
        Grid.parse(["method=dann,foo"]).configs(TrainConfig())
    with pytest.raises(ExplorerError, match="lambda must be >= 0"):
        Grid.parse(["lamb=-1,1"]).configs(TrainConfig())
    with pytest.raises(ExplorerError, match="makes 6 runs, more than the limit of 5"):
        Grid.parse(["lamb=0,1,2"], seeds=2).configs(TrainConfig(), limit=5)
    with pytest.raises(ExplorerError, match="twice"):
        Grid.parse(["lamb=0", "lamb=1"])
    with pytest.raises(ExplorerError, match="either as a grid axis or as --seeds"):
        Grid.parse(["seed=0,1"], seeds=2)


def test_max_runs_is_a_setting(monkeypatch):
    monkeypatch.setenv("EXPLORER_SWEEP_MAX_RUNS", "3")
    with pytest.raises(ExplorerError, match="limit of 3"):
        Grid.parse(["lamb=0,1"], seeds=2).configs(TrainConfig())


def test_source_only_runs_once_for_all_lambda_values():
    configs = Grid.parse(
        ["lamb=0.1,0.3,1", "method=dann,source-only", "lambda_schedule=constant,dann"]
    ).configs(TrainConfig())
    assert sum(c.method == "source-only" for c in configs) == 1
    assert sum(c.method == "dann" for c in configs) == 6
