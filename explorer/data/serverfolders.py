"""Which folders on the server a browser user may open ("Folder on this server" on the Data page).

A class shares one server, so the safe choice is the default:

* with ``$EXPLORER_DATA_ROOT`` set, any browser may open folders (and .zip files) inside that folder
  and nothing outside it: a path is read relative to the root, then resolved (``..`` and symbolic
  links followed) and refused unless it is still inside; a folder whose links lead out of the root is
  refused too. Messages name paths relative to the root, never where the root is;
* without it, only a browser on the server machine itself (the teacher at the keyboard) may open
  folders, anywhere the server can read; every other browser is offered no server folders at all;
* the app's own folder (other sessions' uploads, runs, caches) is never opened either way.

The app decides whether the browser is local (`app_pages.lib.session.browser_is_local`); this module
only applies the rules, so the CLI, which always runs on the server, never calls it.
"""

from __future__ import annotations

import os
from pathlib import Path

from explorer.errors import DataError
from explorer.store.home import home

ROOT_VARIABLE = "EXPLORER_DATA_ROOT"


def root() -> Path | None:
    """The one data folder browsers may open folders in, resolved; None when none is set."""
    value = os.environ.get(ROOT_VARIABLE, "").strip()
    return Path(value).expanduser().resolve() if value else None


def offered(local: bool) -> bool:
    """Whether this browser is offered folders on the server at all."""
    return root() is not None or local


def resolve(path: str, local: bool) -> Path:
    """The folder or .zip that `path` names, resolved; a `DataError` when this browser may not open it."""
    base = root()
    if base is None and not local:
        raise DataError(
            "Folders on this server can only be opened from the server machine itself, or when the app was "
            f"started with {ROOT_VARIABLE} set to a data folder. Upload a zip or drop images instead."
        )
    text = path.strip()
    target = (base / text if base else Path(text)).expanduser().resolve()
    if base is not None and not target.is_relative_to(base):
        raise DataError(
            f"'{text}' is outside this server's data folder: give a folder inside it, e.g. real_or_drawing."
        )
    if target.is_relative_to(home().resolve()):
        raise DataError(
            "That folder belongs to the app itself (uploads, runs, caches); choose a data folder."
        )
    if base is not None and target.is_dir():
        _no_links_out(target, base)
    return target


def scrub(message: str) -> str:
    """A message about a folder under the data root, with the root's own place left out of it."""
    base = root()
    return message.replace(f"{base}{os.sep}", "").replace(str(base), "the data folder") if base else message


def _no_links_out(folder: Path, base: Path) -> None:
    """Refuse a folder holding a symbolic link (to a file or a folder) that leads out of the root."""
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            entry = Path(dirpath) / name
            if entry.is_symlink() and not entry.resolve().is_relative_to(base):
                raise DataError(
                    f"{entry.relative_to(base)} is a link that leads out of this server's data folder: "
                    "it cannot be opened."
                )
