"""Real-browser tests: `streamlit run app.py` on a free port, driven by Playwright with Debian's chromium.

Every test here is marked ``e2e`` and left out of the default run; run them with ``pytest -m e2e``. With
``E2E_SCREENSHOTS=docs/screenshots`` the tests that reach a page's telling state save the README's
screenshots there; otherwise they go to a temporary folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
PAGES = {
    "Data": "data",
    "Canny Tuner": "canny",
    "Train DANN": "train",
    "Feature Space": "features",
    "Layer Activations": "activations",
    "Transfer Fine-tune": "finetune",
}


def pytest_collection_modifyitems(items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.e2e)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class App:
    """One `streamlit run app.py` process with its own EXPLORER_HOME; can be killed and restarted."""

    def __init__(self, home: Path, log: Path, prefix=(), flags=(), module: str = "streamlit", **env):
        self.home, self.log, self.prefix, self.flags = (
            home,
            log,
            list(prefix),
            list(flags),
        )  # e.g. taskset; more Streamlit flags
        self.module = module  # or bench.timed_server: `streamlit run`, timing each script run
        self.env = (
            dict(
                os.environ,
                EXPLORER_HOME=str(home),
                EXPLORER_SESSION_GRACE_S="2",
                EXPLORER_ALLOW_DOWNLOADS="0",
            )
            | env
        )
        self.proc: subprocess.Popen | None = None
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> App:
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                [
                    *self.prefix,
                    sys.executable,
                    "-m",
                    self.module,
                    "run",
                    "app.py",
                    "--server.port",
                    str(self.port),
                    "--server.address",
                    "127.0.0.1",
                    "--server.headless",
                    "true",
                    "--browser.gatherUsageStats",
                    "false",
                    *self.flags,
                ],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        end = time.time() + 90
        while time.time() < end:
            assert self.proc.poll() is None, f"the app exited: {self.log.read_text()[-3000:]}"
            if self.healthy():
                return self
            time.sleep(0.3)
        raise AssertionError(f"the app did not answer /_stcore/health: {self.log.read_text()[-3000:]}")

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=5) as r:
                return r.status == 200 and r.read().strip() == b"ok"
        except OSError:
            return False

    def kill(self) -> None:
        """`kill -9`: no cleanup runs."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tracebacks(self) -> list[str]:
        text = self.log.read_text(errors="replace")
        return [chunk[:1500] for chunk in text.split("Traceback (most recent call last)")[1:]]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(
            "Debian's chromium is not installed: `apt-get install -y chromium` (the README's second command does it)."
        )
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """One app for the suite (a test that kills it starts its own); its log must hold no traceback at the end."""
    tmp = tmp_path_factory.mktemp("app")
    a = App(tmp / "home", tmp / "app.log").start()
    yield a
    a.stop()
    assert not a.tracebacks(), "the app logged a traceback:\n" + "\n---\n".join(a.tracebacks())


@pytest.fixture
def page(browser, app):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    p = context.new_page()
    p.set_default_timeout(60_000)
    p.goto(app.url)
    settle(p)
    yield p
    context.close()


def settle(page, extra_ms: int = 500) -> None:
    """Wait until the page has a title and the script is no longer running. (Streamlit's status widget
    shows only after a run has taken a while, so its absence alone can pass while a run is still going.)"""
    page.wait_for_selector("[data-testid='stMain'] h1")
    page.wait_for_selector(
        "[data-testid='stApp'][data-test-script-state='notRunning']", state="attached", timeout=120_000
    )
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_timeout(extra_ms)


def go(page, title: str) -> None:
    """Open a page from the sidebar, as a user does."""
    page.locator("[data-testid='stSidebarNav']").get_by_text(title, exact=True).click()
    page.wait_for_selector(f"[data-testid='stMain'] h1:has-text('{title}')")
    settle(page)


def errors(page) -> list[str]:
    """The error messages on the page; there must be no exception (traceback) element."""
    exceptions = page.locator("[data-testid='stException']")
    assert exceptions.count() == 0, exceptions.first.inner_text()
    return page.locator("[data-testid='stAlertContentError']").all_inner_texts()


def no_errors(page) -> None:
    found = errors(page)
    assert not found, found[0]


def table_cells(page) -> list[str]:
    """The text of every st.dataframe cell (the grid draws on a canvas; its accessible table has the text)."""
    return page.evaluate(
        "Array.from(document.querySelectorAll('[data-testid^=glide-cell]')).map(e => e.textContent)"
    )


def uploader(page, label: str):
    return page.locator("[data-testid='stFileUploader']").filter(has_text=label).locator("input[type=file]")


def shoot(page, name: str, part: str | None = None) -> Path:
    """A full-page screenshot: Streamlit scrolls inside its main block, so the window grows to it
    first. `part`: only the element this CSS selector finds (e.g. a keyed container)."""
    page.wait_for_function(
        "!document.querySelector('[data-testid=\"stToast\"]')", timeout=15_000
    )  # toasts fade
    out = Path(os.environ.get("E2E_SCREENSHOTS") or REPO / ".e2e-screenshots")
    out.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
    size = page.viewport_size
    page.set_viewport_size({"width": 1400, "height": min(max(900, height), 6000)})
    page.wait_for_timeout(1500)  # charts re-flow to the new size
    path = out / f"{name}.png"
    (page.locator(part).first if part else page).screenshot(path=str(path))
    page.set_viewport_size(size)
    return path
