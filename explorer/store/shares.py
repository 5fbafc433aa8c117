"""Share links: one finished run opened read-only by anyone with its address (``?share=<token>``).

A share is ``$EXPLORER_HOME/shares/<token>.json``: a run id, the owner who made it and the recipe
of the run's dataset (uploaded images hard-linked into ``shares/<token>/``). The token is random
(``secrets.token_urlsafe``, 128 bits), not derived from the run or its config, so it cannot be
guessed from either; the owner revokes it by deleting it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time

from explorer.store.home import read_json, subdir, write_json

TOKEN = re.compile(r"^[A-Za-z0-9_-]{22}$")


def share(run_id: str, owner: str, dataset: dict) -> str:
    """A new random token that opens run `run_id` read-only.

    Uploaded images (a zip, dropped files) are linked into the share's own folder,
    ``shares/<token>/``, so the link keeps working when the upload folder they came from moves or is
    removed; a folder pair on the server is used where it is."""
    token = secrets.token_urlsafe(16)
    if dataset.get("kind") == "folders" and dataset.get("what") != "folder pair on this server":
        own = subdir("shares") / token
        for key in ("source", "target"):
            if dataset.get(key):
                shutil.copytree(dataset[key], own / key, copy_function=_link)
                dataset = dataset | {key: str(own / key)}
    grant = {"run_id": run_id, "owner": owner, "dataset": dataset, "created": time.time()}
    write_json(subdir("shares") / f"{token}.json", grant)
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
    data = read_json(subdir("shares") / f"{token}.json")
    return data if data.get("run_id") else None


def shares_of(run_id: str, owner: str) -> list[str]:
    """The tokens `owner` made for `run_id`, oldest first."""
    found = [read_json(p) | {"token": p.stem} for p in subdir("shares").glob("*.json")]
    mine = [d for d in found if d.get("run_id") == run_id and d.get("owner") == owner]
    return [d["token"] for d in sorted(mine, key=lambda d: (d.get("created", 0), d["token"]))]


def revoke(token: str, owner: str) -> bool:
    """Delete the share if `owner` made it; True when it was there."""
    data = shared(token)
    if data is None or data.get("owner") != owner:
        return False
    (subdir("shares") / f"{token}.json").unlink(missing_ok=True)
    shutil.rmtree(subdir("shares") / token, ignore_errors=True)
    return True
