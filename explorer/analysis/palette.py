"""The app's colours, defined once: the two domains and the classes.

Every picture of source against target uses the same pair (the pages' altair charts, the Canny
Tuner's curves, the training movie's GIF), so a reader learns them once: source is red-orange,
target is blue. Classes take Vega's ``tableau10`` scheme, or ``tableau20`` for 11 to 20 classes,
written out here so that a picture drawn outside a browser (the GIF, with PIL) matches the charts
colour for colour; a 21st class starts the cycle again.
"""

from __future__ import annotations

SOURCE = "#e4572e"
TARGET = "#2e86ab"
DOMAIN = (SOURCE, TARGET)  # indexed by domain: 0 source, 1 target
MARK = SOURCE  # one marked point on a curve of another colour (the epoch a validator selects)
# tableau10
CLASS = (
    "#4c78a8",
    "#f58518",
    "#e45756",
    "#72b7b2",
    "#54a24b",
    "#eeca3b",
    "#b279a2",
    "#ff9da6",
    "#9d755d",
    "#bab0ac",
)


# tableau20
CLASS20 = (
    "#4c78a8",
    "#9ecae9",
    "#f58518",
    "#ffbf79",
    "#54a24b",
    "#88d27a",
    "#b79a20",
    "#f2cf5b",
    "#439894",
    "#83bcb6",
    "#e45756",
    "#ff9d98",
    "#79706e",
    "#bab0ac",
    "#d67195",
    "#fcbfd2",
    "#b279a2",
    "#d6a5c9",
    "#9e765f",
    "#d8b5a5",
)


def classes(n: int) -> tuple[str, ...]:
    """The class colours for a dataset of `n` classes: ten distinct up to ten, twenty up to twenty."""
    return CLASS if n <= len(CLASS) else CLASS20


def class_colour(k: int, n: int = len(CLASS)) -> str:
    """The colour of class `k` of `n` (cycling after the palette's last)."""
    colours = classes(n)
    return colours[k % len(colours)]
