"""A sweep's grid: axes of `TrainConfig` values, expanded into configs x seeds and checked first.

``lamb=0,0.1,0.3,1`` is one axis: a field name (``lambda-schedule`` and ``lambda_schedule`` are
the same), ``=``, comma-separated values read as the field's type. Canny values are ``auto``,
``off`` or ``LOW/HIGH``. The grid is every combination of the axes, in order, each with every seed;
everything not on an axis comes from the fixed `base` config. Source-only runs ignore lambda and
its schedule, so the grid keeps one of them where the lambda axes would repeat it. Any mistake (an
unknown field, a value of the wrong type, an empty axis, a value the config refuses, more runs than
`max_runs`) is one `ExplorerError` sentence, raised before anything trains.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, fields, replace

from explorer.dann.config import TrainConfig
from explorer.errors import ExplorerError
from explorer.store.home import env_number

NOT_AXES = ("device",)  # where the sweep runs, not what it compares
DEFAULT_MAX_RUNS = 200


def max_runs() -> int:
    return int(env_number("EXPLORER_SWEEP_MAX_RUNS", DEFAULT_MAX_RUNS))


def _value(name: str, text: str):
    """One axis value as the field's type."""
    kind = type(getattr(TrainConfig(), name))
    text = text.strip()
    if name == "canny":
        if text in ("auto", "off", "none"):
            return "auto" if text == "auto" else None
        low, sep, high = text.replace(":", "/").partition("/")
        try:
            return (int(low), int(high)) if sep else int("x")
        except ValueError:
            raise ExplorerError(
                f"canny values are auto, off or LOW/HIGH (e.g. 100/200); got {text!r}."
            ) from None
    if name == "time_budget":
        kind = float
        if text in ("none", "off"):
            return None
    try:
        if kind is int and text.lstrip("-").isdigit():
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        pass
    if kind is str:
        return text
    raise ExplorerError(f"{name} takes {'whole numbers' if kind is int else 'numbers'}; got {text!r}.")


def parse_axis(spec: str) -> tuple[str, list]:
    """``name=v1,v2,...`` -> (field name, values in order, repeats dropped)."""
    name, eq, values = spec.partition("=")
    name = name.strip().replace("-", "_")
    known = [f.name for f in fields(TrainConfig) if f.name not in NOT_AXES]
    if not eq or not name:
        raise ExplorerError(f"A grid axis is NAME=V1,V2,...; got {spec!r}.")
    if name not in known:
        raise ExplorerError(f"{name!r} is not a training option; a grid axis is one of {', '.join(known)}.")
    items = [v for v in values.split(",") if v.strip()]
    if not items:
        raise ExplorerError(f"The grid axis {name} has no values.")
    parsed = []
    for item in items:
        v = _value(name, item)
        if v not in parsed:
            parsed.append(v)
    return name, parsed


@dataclass(frozen=True)
class Grid:
    axes: dict[str, list]  # field -> values, in the order given
    seeds: tuple[int, ...]  # every point of the grid runs with each

    @classmethod
    def parse(cls, specs: list[str], seeds: int = 1, first_seed: int = 0) -> Grid:
        axes: dict[str, list] = {}
        for spec in specs:
            name, values = parse_axis(spec)
            if name in axes:
                raise ExplorerError(f"The grid names {name} twice; give its values once, comma-separated.")
            axes[name] = values
        if seeds < 1:
            raise ExplorerError(f"--seeds must be at least 1 (got {seeds}).")
        if "seed" in axes and seeds > 1:
            raise ExplorerError("Give seeds either as a grid axis or as --seeds, not both.")
        return cls(axes, tuple(range(first_seed, first_seed + seeds)))

    def points(self) -> list[dict]:
        """Every combination of the axes, as {field: value}."""
        names = list(self.axes)
        return [dict(zip(names, combo)) for combo in itertools.product(*self.axes.values())]

    def configs(self, base: TrainConfig, limit: int | None = None) -> list[TrainConfig]:
        """Every point with every seed, on top of `base`; each one checked by the config itself."""
        limit = max_runs() if limit is None else limit
        n = math.prod(len(v) for v in self.axes.values()) * (1 if "seed" in self.axes else len(self.seeds))
        # refused before building the configs; the exact count (repeats dropped) is checked after
        if n > 50 * limit:
            raise too_many(n, limit)
        out, seen = [], set()
        for point in self.points():
            for seed in [point["seed"]] if "seed" in point else self.seeds:
                try:
                    cfg = replace(base, **(point | {"seed": seed}))
                except ExplorerError as e:
                    raise ExplorerError(f"Grid point {describe(point)}: {e}") from None
                same = (
                    replace(cfg, lamb=0.0, lambda_schedule="constant") if cfg.method == "source-only" else cfg
                )
                if same not in seen:  # source-only ignores lambda: one run stands for all its values
                    seen.add(same)
                    out.append(cfg)
        if len(out) > limit:
            raise too_many(len(out), limit)
        return out


def too_many(n: int, limit: int) -> ExplorerError:
    return ExplorerError(
        f"This grid makes {n} runs, more than the limit of {limit}; drop some values "
        "(or raise EXPLORER_SWEEP_MAX_RUNS)."
    )


def describe(point: dict) -> str:
    """``lamb=0.1, canny=100/200`` for a grid point."""
    return ", ".join(f"{k}={show(v)}" for k, v in point.items())


def show(value) -> str:
    if value is None:
        return "off"
    if isinstance(value, tuple):
        return "/".join(map(str, value))
    return f"{value:g}" if isinstance(value, float) else str(value)
