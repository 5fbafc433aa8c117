"""Uploads: safe names, dropped images and zips written only inside the upload folder, opened as a
dataset, and messages that never show a server path."""

import pytest

from explorer.data import uploads
from explorer.data.domains import open_dataset
from explorer.errors import DataError
from explorer.store import upload_folders
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


def test_dropped_images_build_a_dataset(explorer_home):
    s = upload_folders.for_session()
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
        uploads.add_images(upload_folders.for_session(), "../x", None, [])


def test_zip_upload_extracts_inside_the_session(tmp_path, explorer_home, monkeypatch):
    z = zip_folder(make_homework_layout(tmp_path / "hw"), tmp_path / "hw.zip")
    s = upload_folders.for_session()
    folder = uploads.add_zip(s, "../../real_or_drawing.zip", z.read_bytes())
    assert folder.is_relative_to(s) and folder.name.startswith("real_or_drawing-")
    assert len(open_dataset(folder).source) == 20
    # opened again: not extracted again
    assert uploads.add_zip(s, "real_or_drawing.zip", z.read_bytes()) == folder
    # a session cannot extract more than its quota, however many times it uploads
    monkeypatch.setattr(upload_folders, "QUOTA", upload_folders.usage(s) + 10)
    other = zip_folder(make_homework_layout(tmp_path / "hw2", n_target=9), tmp_path / "hw2.zip")
    with pytest.raises(DataError, match="upload space is full|expands to more than"):
        uploads.add_zip(s, "hw2.zip", other.read_bytes())


def test_class_name_clashing_with_an_unlabelled_file(explorer_home):
    s = upload_folders.for_session()
    uploads.add_images(s, "target", None, [("cat.png", png_bytes())])
    with pytest.raises(DataError, match="already called 'cat.png'"):
        uploads.add_images(s, "target", "cat.png", [("x.png", png_bytes())])


def test_hostile_zip_upload_writes_nothing(tmp_path, explorer_home):
    import zipfile

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("ok.png", png_bytes())
        zf.writestr("../../../escaped.png", b"x")
    s = upload_folders.for_session()
    with pytest.raises(DataError, match="outside the archive"):
        uploads.add_zip(s, "bad.zip", bad.read_bytes())
    assert [p.name for p in s.rglob("*") if p.is_file()] == []
    assert not any(p.name == "escaped.png" for p in tmp_path.rglob("*"))


def test_messages_about_uploads_name_the_zip_never_the_server_path(explorer_home):
    s = upload_folders.for_session("0123456789abcdef0123")
    unpacked = s / "unpacked" / "real photos-0a1b2c3d4e5f"
    said = uploads.plain(
        f"No images in {unpacked}/real: expected real/<class>/<image>; "
        "3 image(s) directly in real photos-0a1b2c3d4e5f/."
    )
    assert said == (
        "No images in real photos.zip/real: expected real/<class>/<image>; "
        "3 image(s) directly in real photos.zip/."
    )
    assert uploads.plain(f"The source domain ({s / 'dropped' / 'source'}) must be labelled") == (
        "The source domain (the dropped source images) must be labelled"
    )
    cli_zip = explorer_home / "unpacked" / "hw-0123456789abcdef"
    assert uploads.plain(f"None of the 2 image file(s) in {cli_zip}/train_data could be read") == (
        "None of the 2 image file(s) in hw.zip/train_data could be read"
    )
    for message in (f"Refused: {s}", f"Refused: {s.parent}", f"Refused: {explorer_home / 'runs'}"):
        said = uploads.plain(message)
        assert str(explorer_home) not in said and "0123456789abcdef0123" not in said
    readable = "cat-dog.zip is not a readable zip file."
    assert uploads.plain(readable) == readable


def test_a_zip_without_images_is_refused_in_one_sentence(tmp_path, explorer_home):
    import zipfile

    s = upload_folders.for_session()
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
    s = upload_folders.for_session()
    with pytest.raises(
        DataError, match="photos.zip holds one domain, not two: .* or upload the target as a second zip"
    ):
        uploads.open_zips(s, ("photos.zip", z.read_bytes()), None, 32)
    ds, recipe = uploads.open_zips(s, ("photos.zip", z.read_bytes()), ("sketches.zip", z.read_bytes()), 32)
    assert ds.name == "photos.zip → sketches.zip" and recipe["name"] == ds.name and recipe["size"] == 32
