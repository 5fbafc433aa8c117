"""What an owner chose, kept on the server so that a reload finds it again.

An owner is the ``?sid=`` in the page address (32 hex characters): the browser that owns its runs.
Its choices (the dataset's recipe, the Canny choice for training, the run being looked at) are one
small JSON file, ``$EXPLORER_HOME/choices/<owner>.json``, written atomically whenever a choice
changes and read when a page is opened with that id: after a reload, in a new tab, after the app
restarts, on a deep link.
"""

from __future__ import annotations

import re

from explorer.store.home import read_json, subdir, write_json

OWNER = re.compile(r"^[0-9a-f]{32}$")


def saved(owner: str) -> dict:
    """The owner's saved choices; {} for an unknown (or malformed) id."""
    return read_json(subdir("choices") / f"{owner}.json") if OWNER.match(owner) else {}


def remember(owner: str, **changes) -> None:
    """Merge `changes` into the owner's saved choices (a value of None forgets that choice)."""
    if not OWNER.match(owner):
        return
    path = subdir("choices") / f"{owner}.json"
    data = read_json(path) | changes
    write_json(path, {k: v for k, v in data.items() if v is not None})
