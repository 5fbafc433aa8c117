"""Which server folders a browser may open: the data root, links and `..`, and browsers elsewhere."""

import os

import pytest

from explorer.data import serverfolders
from explorer.errors import DataError


@pytest.fixture
def data_root(tmp_path, monkeypatch, explorer_home):
    root = tmp_path / "data"
    (root / "real_or_drawing").mkdir(parents=True)
    (tmp_path / "private").mkdir()
    monkeypatch.setenv(serverfolders.ROOT_VARIABLE, str(root))
    return root


def test_without_a_root_only_the_server_itself_is_offered_folders(tmp_path, monkeypatch, explorer_home):
    monkeypatch.delenv(serverfolders.ROOT_VARIABLE, raising=False)
    assert serverfolders.offered(local=True) and not serverfolders.offered(local=False)
    assert serverfolders.resolve(str(tmp_path), local=True) == tmp_path.resolve()
    with pytest.raises(DataError, match="only be opened from the server machine itself"):
        serverfolders.resolve(str(tmp_path), local=False)


def test_a_root_offers_folders_inside_it_to_every_browser(data_root):
    assert serverfolders.offered(local=False)
    assert serverfolders.resolve("real_or_drawing", local=False) == (data_root / "real_or_drawing").resolve()
    assert (
        serverfolders.resolve(str(data_root / "real_or_drawing"), local=False)
        == (data_root / "real_or_drawing").resolve()
    )


@pytest.mark.parametrize("path", ["..", "../private", "real_or_drawing/../../private", "/etc"])
def test_paths_out_of_the_root_are_refused_and_the_root_not_named(data_root, path):
    with pytest.raises(DataError, match="outside this server's data folder") as e:
        serverfolders.resolve(path, local=False)
    assert str(data_root) not in str(e.value) and "private" not in str(e.value).replace(path, "")


def test_links_out_of_the_root_are_refused(data_root, tmp_path):
    os.symlink(tmp_path / "private", data_root / "escape")
    with pytest.raises(DataError, match="outside"):
        serverfolders.resolve("escape", local=False)
    os.symlink(tmp_path / "private", data_root / "real_or_drawing" / "cats")  # a class folder that leads out
    with pytest.raises(DataError, match="real_or_drawing/cats is a link that leads out"):
        serverfolders.resolve("real_or_drawing", local=False)


def test_the_apps_own_folder_is_refused_even_inside_the_root(explorer_home, monkeypatch):
    monkeypatch.setenv(serverfolders.ROOT_VARIABLE, str(explorer_home.parent))
    with pytest.raises(DataError, match="belongs to the app"):
        serverfolders.resolve(str(explorer_home), local=True)


def test_messages_leave_the_roots_place_out(data_root):
    assert serverfolders.scrub(f"Not found: {data_root}/real_or_drawing/x") == "Not found: real_or_drawing/x"
