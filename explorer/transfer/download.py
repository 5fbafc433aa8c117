"""Pretrained weights fetched into the torch hub cache, the way ``weights=ResNet18_Weights.IMAGENET1K_V1``
would: the same URL (or the same file name under ``$EXPLORER_WEIGHTS_MIRROR``), the same place
(``<torch hub dir>/checkpoints/<file>``), the same check (the file's SHA-256 must start with the hex
digits after the last ``-`` in its name, torch.hub's ``HASH_REGEX``).

What torch.hub's own `download_url_to_file` does not do, and a shared server needs, is done here:

* a timeout (a blackholed route must not hang a page), and progress as a callback (for st.progress;
  the CLI passes a tqdm bar);
* one download per file however many sessions or processes ask at once: an exclusive ``flock`` on
  ``<file>.lock`` beside it; whoever waited finds the file there and does not fetch it again;
* the bytes go to ``<file>.<random>.partial`` in the same folder and are renamed into place only
  after the length and the hash are right, so a half-downloaded or tampered file never stands as the
  real one;
* every failure (no route, DNS, refused, timeout, an HTTP error, a cut-off transfer, a wrong hash,
  a full disk) becomes one `DownloadFailed` sentence naming what failed.

``EXPLORER_ALLOW_DOWNLOADS=0`` forbids reaching out at all (a server that must never), and the
app's sidebar toggle can turn downloads off for one session.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from torch.hub import HASH_REGEX

from explorer.errors import ExplorerError

TIMEOUT_S = 30.0  # connecting, and between two reads
CHUNK = 1 << 16


class DownloadFailed(ExplorerError):
    """A weights download that did not produce the file; the message says why."""


def allowed() -> bool:
    """Whether this server may download weights (``EXPLORER_ALLOW_DOWNLOADS``, on unless 0/false/no/off)."""
    return os.environ.get("EXPLORER_ALLOW_DOWNLOADS", "1").strip().lower() not in ("0", "false", "no", "off")


def source_url(url: str) -> str:
    """`url`, or the same file name under ``$EXPLORER_WEIGHTS_MIRROR`` when that is set."""
    mirror = os.environ.get("EXPLORER_WEIGHTS_MIRROR", "").strip()
    return f"{mirror.rstrip('/')}/{os.path.basename(urlsplit(url).path)}" if mirror else url


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def fetch(
    url: str, dst: str | os.PathLike, progress: Callable[[int, int | None], None] | None = None
) -> Path:
    """`url` into `dst` (a hub-cache file name, whose hash part is checked), unless it is there
    already; `progress(bytes so far, total or None)` as it goes. Returns `dst`."""
    dst = Path(dst)
    with _locked(dst):
        if dst.is_file():  # someone else fetched it while we waited
            return dst
        _transfer(url, dst, progress)
    return dst


def _transfer(url: str, dst: Path, progress) -> None:
    match = HASH_REGEX.search(dst.name)
    prefix = match.group(1) if match else None
    part = dst.with_name(f"{dst.name}.{uuid.uuid4().hex[:8]}.partial")
    host = urlsplit(url).netloc or url
    got, total = 0, None
    try:
        request = urllib.request.Request(
            url, headers={"User-Agent": "transfer-explorer (torch.hub compatible)"}
        )
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as r, open(part, "wb") as out:
            length = r.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            sha = hashlib.sha256()
            while chunk := r.read(CHUNK):
                out.write(chunk)
                sha.update(chunk)
                got += len(chunk)
                if progress:
                    progress(got, total)
        if total is not None and got < total:
            raise DownloadFailed(f"the transfer from {host} was cut off after {_mb(got)} of {_mb(total)}")
        if prefix and not sha.hexdigest().startswith(prefix):
            raise DownloadFailed(
                f"the file from {host} is not the expected one: its SHA-256 starts with "
                f"{sha.hexdigest()[: len(prefix)]}, its name says {prefix} (a corrupted or tampered file; "
                "refused)"
            )
        os.replace(part, dst)
    except DownloadFailed:
        raise
    except urllib.error.HTTPError as e:
        raise DownloadFailed(f"{host} answered HTTP {e.code} ({e.reason}) for {url}") from None
    except urllib.error.URLError as e:
        raise DownloadFailed(_network(e.reason, host)) from None
    except TimeoutError:
        raise DownloadFailed(f"{host} stopped answering for {TIMEOUT_S:g} s (after {_mb(got)})") from None
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise DownloadFailed(
                f"the disk of the torch hub cache is full: it needs {_mb(total or got)} free"
            ) from None
        raise DownloadFailed(_network(e, host)) from None
    finally:
        part.unlink(missing_ok=True)


def _network(reason, host: str) -> str:
    if isinstance(reason, socket.gaierror):
        return f"the name {host.split(':')[0]} could not be resolved (no DNS: is this machine offline?)"
    if isinstance(reason, ConnectionRefusedError):
        return f"nothing answers at {host} (connection refused)"
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return f"{host} did not answer within {TIMEOUT_S:g} s"
    if isinstance(reason, OSError) and reason.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"there is no route to {host} (offline, or behind a firewall)"
    return f"{host} could not be reached ({reason})"


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"
