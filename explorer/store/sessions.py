"""What a browser session chose, kept on the server under its session id, and shared run links.

A session id is the ``?sid=`` in the page address (32 hex characters). Its choices (the dataset's
recipe, the Canny choice for training, the run being looked at) are one small JSON file,
``$EXPLORER_HOME/choices/<sid>.json``, written atomically whenever a choice changes and read when a
page is opened with that id: after a reload, in a new tab, after the app restarts, on a deep link.

A share is ``$EXPLORER_HOME/shares/<token>.json``: a run id, the owner's session id and the recipe
of the run's dataset (uploaded images hard-linked into ``shares/<token>/``). The token is random (``secrets.token_urlsafe``, 128 bits), not derived from
the run or its config, so it cannot be guessed from either; the owner revokes it by deleting it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
import uuid
from pathlib import Path

from explorer.store.home import subdir

SID = re.compile(r"^[0-9a-f]{32}$")
TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def choices(sid: str) -> dict:
    """The session's saved choices; {} for an unknown (or malformed) id."""
    return _read(subdir("choices") / f"{sid}.json") if SID.match(sid) else {}


def remember(sid: str, **changes) -> None:
    """Merge `changes` into the session's saved choices (a value of None forgets that choice)."""
    if not SID.match(sid):
        return
    path = subdir("choices") / f"{sid}.json"
    data = _read(path) | changes
    _write(path, {k: v for k, v in data.items() if v is not None})


def share(run_id: str, owner: str, dataset: dict) -> str:
    """A new random token that opens run `run_id` read-only. Uploaded images (a zip, dropped files)
    are linked into the share's own folder, ``shares/<token>/``, so the link keeps working when the
    owner's session folder moves or is removed; a folder pair on the server is used where it is."""
    token = secrets.token_urlsafe(16)
    if dataset.get("kind") == "folders" and dataset.get("what") != "folder pair on this server":
        own = subdir("shares") / token
        for key in ("source", "target"):
            if dataset.get(key):
                shutil.copytree(dataset[key], own / key, copy_function=_link)
                dataset = dataset | {key: str(own / key)}
    _write(
        subdir("shares") / f"{token}.json",
        {"run_id": run_id, "owner": owner, "dataset": dataset, "created": time.time()},
    )
    return token


def _link(src: str, dst: str) -> None:
    """A hard link (no second copy of the bytes), or a copy where the file system has none."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def shared(token: str) -> dict | None:
    """What a token grants, or None for a made-up, malformed or revoked one."""
    if not TOKEN.match(token or ""):
        return None
    data = _read(subdir("shares") / f"{token}.json")
    return data if data.get("run_id") else None


def shares_of(run_id: str, owner: str) -> list[str]:
    """The tokens `owner` made for `run_id`, oldest first."""
    found = [(p, _read(p)) for p in subdir("shares").glob("*.json")]
    found = [
        (d.get("created", 0), p.stem)
        for p, d in found
        if d.get("run_id") == run_id and d.get("owner") == owner
    ]
    return [token for _, token in sorted(found)]


def revoke(token: str, owner: str) -> bool:
    """Delete the share if `owner` made it; True when it was there."""
    data = shared(token)
    if data is None or data.get("owner") != owner:
        return False
    (subdir("shares") / f"{token}.json").unlink(missing_ok=True)
    shutil.rmtree(subdir("shares") / token, ignore_errors=True)
    return True
