"""The app's colours, defined once: the two domains and the classes.

Every picture of source against target uses the same pair (the pages' altair charts, the Canny
Tuner's curves, the training movie's GIF), so a reader learns them once: source is red-orange,
target is blue. Classes take Vega's ``tableau10`` scheme, written out here so that a picture drawn
outside a browser (the GIF, with PIL) matches the charts colour for colour; an eleventh class
starts the cycle again.
"""

from __future__ import annotations

SOURCE = "#e4572e"
TARGET = "#2e86ab"
DOMAIN = (SOURCE, TARGET)  # indexed by domain: 0 source, 1 target
MARK = SOURCE  # one marked point on a curve of another colour (the epoch a validator selects)
CLASS = ("#4c78a8", "#f58518", "#e45756", "#72b7b2", "#54a24b", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d", "#bab0ac")  # tableau10


def class_colour(k: int) -> str:
    """The colour of class `k` (cycling after ten)."""
    return CLASS[k % len(CLASS)]
