"""Where the browser runs, for the pages that depend on it (folders on the server)."""

import pytest


def _browser(monkeypatch, is_local: bool) -> None:
    from app_pages.lib import datasets, session

    monkeypatch.delenv("EXPLORER_DATA_ROOT", raising=False)
    for module in (session, datasets):
        monkeypatch.setattr(module, "browser_is_local", lambda: is_local)


@pytest.fixture
def local(monkeypatch):
    """The browser on the server machine itself (the teacher's); AppTest's own connection looks remote."""
    _browser(monkeypatch, True)


@pytest.fixture
def remote(monkeypatch):
    """The browser on another machine than the server (a student's)."""
    _browser(monkeypatch, False)
