import pytest

from app_pages.lib import uploads
from explorer.data.domains import open_dataset
from explorer.errors import DataError
from tests.conftest import make_homework_layout, png_bytes, zip_folder


@pytest.mark.parametrize(
    "name, safe",
    [
        ("cat.png", "cat.png"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\dog.jpg", "dog.jpg"),
        ("..", "file"),
        ("", "file"),
        (".hidden.png", "hidden.png"),
        ("caf\udce9 \u00e9t\u00e9.png", "caf_ \u00e9t\u00e9.png"),  # non-UTF-8 bytes become _, accents stay
        ("\u732b", "\u732b"),  # a class called "cat" in Chinese stays distinct from "dog"
        ("a/b:c*?.png", "b_c_.png"),
        ("a\x00b.png", "a_b.png"),
    ],
)
def test_safe_name(name, safe):
    assert uploads.safe_name(name) == safe


def test_new_sessions_are_separate(explorer_home):
    a, b = uploads.new_session(), uploads.new_session()
    assert a != b and a.parent == b.parent == explorer_home / "sessions"


def test_dropped_images_build_a_dataset(explorer_home):
    s = uploads.new_session()
    uploads.add_images(
        s, "source", "cat", [("1.png", png_bytes((200, 0, 0))), ("1.png", png_bytes((210, 0, 0)))]
    )
    uploads.add_images(s, "source", "../../dog", [("x.png", png_bytes((0, 200, 0)))])
    uploads.add_images(s, "target", None, [("t.png", png_bytes(90, mode="L"))])
    assert uploads.dropped_counts(s) == {"source": {"cat": 2, "dog": 1}, "target": {"(unlabelled)": 1}}
    ds = open_dataset(uploads.dropped_folder(s, "source"), uploads.dropped_folder(s, "target"))
    assert ds.classes == ("cat", "dog") and len(ds.source) == 3 and not ds.target.labelled
    written = [p for p in explorer_home.rglob("*") if p.is_file()]
    assert all(p.is_relative_to(s) for p in written if "sessions" in p.parts)
    uploads.clear_dropped(s)
    assert uploads.dropped_counts(s) == {} and uploads.dropped_folder(s, "source") is None


def test_unknown_slot_is_refused(explorer_home):
    with pytest.raises(DataError, match="Unknown domain"):
        uploads.add_images(uploads.new_session(), "../x", None, [])


def test_zip_upload_extracts_inside_the_session(tmp_path, explorer_home, monkeypatch):
    z = zip_folder(make_homework_layout(tmp_path / "hw"), tmp_path / "hw.zip")
    s = uploads.new_session()
    folder = uploads.add_zip(s, "../../real_or_drawing.zip", z.read_bytes())
    assert folder.is_relative_to(s) and folder.name.startswith("real_or_drawing-")
    assert len(open_dataset(folder).source) == 20
    assert (
        uploads.add_zip(s, "real_or_drawing.zip", z.read_bytes()) == folder
    )  # opened again: not extracted again
    # a session cannot extract more than its quota, however many times it uploads
    monkeypatch.setattr(uploads, "SESSION_QUOTA", uploads.usage(s) + 10)
    other = zip_folder(make_homework_layout(tmp_path / "hw2", n_target=9), tmp_path / "hw2.zip")
    with pytest.raises(DataError, match="upload space is full|expands to more than"):
        uploads.add_zip(s, "hw2.zip", other.read_bytes())


def test_class_name_clashing_with_an_unlabelled_file(explorer_home):
    s = uploads.new_session()
    uploads.add_images(s, "target", None, [("cat.png", png_bytes())])
    with pytest.raises(DataError, match="already called 'cat.png'"):
        uploads.add_images(s, "target", "cat.png", [("x.png", png_bytes())])


def test_hostile_zip_upload_writes_nothing(tmp_path, explorer_home):
    import zipfile

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("ok.png", png_bytes())
        zf.writestr("../../../escaped.png", b"x")
    s = uploads.new_session()
    with pytest.raises(DataError, match="outside the archive"):
        uploads.add_zip(s, "bad.zip", bad.read_bytes())
    assert [p.name for p in s.rglob("*") if p.is_file()] == []
    assert not any(p.name == "escaped.png" for p in tmp_path.rglob("*"))


def test_session_folders_are_named_by_the_session_and_swept_after_it_ends(explorer_home):
    import os
    import time

    live = uploads.new_session("0b3c5d1e-aaaa-bbbb-cccc-123456789abc")
    ended = uploads.new_session("1b3c5d1e-aaaa-bbbb-cccc-123456789abc")
    recent = uploads.new_session("2b3c5d1e-aaaa-bbbb-cccc-123456789abc")
    assert live.name == "0b3c5d1e-aaaa-bbbb-cccc-123456789abc"
    assert (
        uploads.new_session("../../etc").parent == explorer_home / "sessions"
    )  # not a session id: a fresh name
    uploads.add_images(ended, "source", "cat", [("1.png", png_bytes())])
    old = time.time() - 3600
    for d in (live, ended):
        os.utime(d, (old, old))
    removed = uploads.sweep_sessions(lambda name: name == live.name, grace=600)
    assert ended in removed and not ended.exists()
    assert live.is_dir() and recent.is_dir()  # still connected; ended only moments ago
    assert time.time() - live.stat().st_mtime < 60  # seen alive: its grace period starts again
    uploads.touch(live)
    assert uploads.sweep_sessions(lambda name: False, grace=600) == []  # every folder was used moments ago
    assert uploads.sweep_sessions(lambda name: False, grace=0) and not live.exists()


def test_messages_about_uploads_name_the_zip_never_the_server_path(explorer_home):
    s = uploads.new_session("0123456789abcdef0123")
    unpacked = s / "unpacked" / "real photos-0a1b2c3d4e5f"
    said = uploads.plain(
        f"No images in {unpacked}/real: expected real/<class>/<image>; 3 image(s) directly in real photos-0a1b2c3d4e5f/."
    )
    assert (
        said
        == "No images in real photos.zip/real: expected real/<class>/<image>; 3 image(s) directly in real photos.zip/."
    )
    assert uploads.plain(f"The source domain ({s / 'dropped' / 'source'}) must be labelled") == (
        "The source domain (the dropped source images) must be labelled"
    )
    cli_zip = explorer_home / "unpacked" / "hw-0123456789abcdef"
    assert uploads.plain(f"None of the 2 image file(s) in {cli_zip}/train_data could be read") == (
        "None of the 2 image file(s) in hw.zip/train_data could be read"
    )
    for message in (f"Refused: {s}", f"Refused: {s.parent}", f"Refused: {explorer_home / 'runs'}"):
        assert str(explorer_home) not in uploads.plain(
            message
        ) and "0123456789abcdef0123" not in uploads.plain(message)
    assert (
        uploads.plain("cat-dog.zip is not a readable zip file.") == "cat-dog.zip is not a readable zip file."
    )


def test_a_zip_without_images_is_refused_in_one_sentence(tmp_path, explorer_home):
    import zipfile

    s = uploads.new_session()
    empty, others = tmp_path / "empty.zip", tmp_path / "others.zip"
    zipfile.ZipFile(empty, "w").close()
    with zipfile.ZipFile(others, "w") as zf:
        for name in ("a.txt", "b.csv", "c.doc"):
            zf.writestr(name, b"x")
    with pytest.raises(DataError, match=r"^real\.zip is empty: it holds no files\. "):
        uploads.open_zips(s, ("real.zip", empty.read_bytes()), None, 32)
    with pytest.raises(DataError, match=r"^real\.zip holds 3 files, none of them an image \(\.png, \.jpg, "):
        uploads.open_zips(s, ("real.zip", others.read_bytes()), None, 32)
    assert not any((s / "unpacked").iterdir())


def test_one_domain_in_a_zip_asks_for_the_target(tmp_path, explorer_home):
    from tests.conftest import make_image_folder

    z = zip_folder(make_image_folder(tmp_path / "photos", ("cat", "dog")), tmp_path / "photos.zip")
    s = uploads.new_session()
    with pytest.raises(
        DataError, match="photos.zip holds one domain, not two: .* or upload the target as a second zip"
    ):
        uploads.open_zips(s, ("photos.zip", z.read_bytes()), None, 32)
    ds, recipe = uploads.open_zips(s, ("photos.zip", z.read_bytes()), ("sketches.zip", z.read_bytes()), 32)
    assert ds.name == "photos.zip → sketches.zip" and recipe["name"] == ds.name and recipe["size"] == 32
