"""AppTest tests of the app shell and the Data page, on the embedded default and on uploads."""

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import make_homework_layout, make_image_folder, png_bytes, zip_folder

APP = str(Path(__file__).resolve().parents[2] / "app.py")


@pytest.fixture
def at():
    return AppTest.from_file(APP, default_timeout=120).run()


def button(at, label):
    return next(b for b in at.button if b.label == label)


def texts(at):
    return " ".join(m.value for m in at.markdown) + " ".join(h.value for h in at.subheader)


def test_default_shows_both_domains(at):
    assert not at.exception and not at.error
    assert "**Source** · 898 images" in texts(at) and "**Target** · 899 images" in texts(at)
    assert len(at.image) == 2  # one composed grid per domain
    table = at.dataframe[0].value.set_index("measure")
    assert list(table.columns) == ["source", "target"]  # one row per measure: it fits a narrow window
    assert table.loc["images"].tolist() == ["898", "899"] and table.loc["labels"].tolist() == [
        "10 classes",
        "10 classes",
    ]
    assert len(at.get("vega_lite_chart")) == 2  # class counts, intensity histogram
    assert "Device" in texts(at) and "CPU" in texts(at)


def test_zip_upload_of_the_homework_layout(at, tmp_path):
    data = zip_folder(
        make_homework_layout(tmp_path / "hw", n_target=7), tmp_path / "hw.zip", "real_or_drawing/"
    )
    at.radio(key="data_choice").set_value("Upload a zip").run()
    at.file_uploader(key="zip_source").upload(
        "real_or_drawing.zip", data.read_bytes(), "application/zip"
    ).run()
    button(at, "Open zip").click().run()
    assert not at.exception and not at.error
    ds = at.session_state.dataset
    assert len(ds.source) == 20 and len(ds.target) == 7 and not ds.target.labelled
    assert "**Target** · 7 images · unlabelled" in texts(at)
    assert "(here: train_data/ in real_or_drawing.zip, 20 images in 10 classes)" in at.caption[0].value
    assert "(here: test_data/ in real_or_drawing.zip, 7 images, unlabelled)" in at.caption[0].value
    at.switch_page("app_pages/canny.py").run().switch_page("app_pages/data.py").run()
    assert at.radio(key="data_choice").value == "Upload a zip"  # back on Data: the way this dataset came


def test_two_zips_one_per_domain(at, tmp_path):
    src = zip_folder(make_image_folder(tmp_path / "s", ("cat", "dog")), tmp_path / "s.zip")
    tgt = zip_folder(make_image_folder(tmp_path / "t", ("cat", "dog"), mode="L"), tmp_path / "t.zip")
    at.radio(key="data_choice").set_value("Upload a zip").run()
    at.file_uploader(key="zip_source").upload("photos.zip", src.read_bytes()).run()
    at.file_uploader(key="zip_target").upload("sketches.zip", tgt.read_bytes()).run()
    button(at, "Open zip").click().run()
    assert not at.error
    assert at.session_state.dataset.target.labelled


def test_hostile_zip_gives_a_message_and_keeps_the_dataset(at, tmp_path):
    import zipfile

    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../../escape.png", png_bytes())
    before = at.session_state.dataset.fingerprint
    at.radio(key="data_choice").set_value("Upload a zip").run()
    at.file_uploader(key="zip_source").upload("bad.zip", bad.read_bytes()).run()
    button(at, "Open zip").click().run()
    assert not at.exception
    assert "points outside the archive" in at.error[0].value
    assert at.session_state.dataset.fingerprint == before


def test_server_folder(local, at, tmp_path):
    at.radio(key="data_choice").set_value("Folder on this server").run()
    at.text_input[0].set_value(str(tmp_path / "missing")).run()
    button(at, "Open").click().run()
    assert "Not found" in at.error[0].value
    root = make_homework_layout(tmp_path / "real_or_drawing")
    at.text_input[0].set_value(str(root)).run()
    button(at, "Open").click().run()
    assert not at.error and at.session_state.dataset.name == "real_or_drawing"


def test_a_remote_browser_gets_no_server_folders_without_a_data_root(remote, tmp_path):
    from app_pages.lib.datasets import open_recipe
    from explorer.errors import DataError

    at = AppTest.from_file(APP, default_timeout=120).run()
    assert "Folder on this server" not in at.radio(key="data_choice").options
    root = make_homework_layout(tmp_path / "real_or_drawing")
    crafted = {"kind": "folders", "what": "folder pair on this server", "source": str(root), "size": 32}
    with pytest.raises(DataError, match="only be opened from the server machine itself"):
        open_recipe(crafted)  # a saved or shared choice is checked again when it is opened


def test_a_data_root_offers_folders_inside_it_only(remote, tmp_path, monkeypatch):
    make_homework_layout(tmp_path / "data" / "real_or_drawing")
    monkeypatch.setenv("EXPLORER_DATA_ROOT", str(tmp_path / "data"))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.radio(key="data_choice").set_value("Folder on this server").run()
    for path, said in (("../..", "outside this server's data folder"), ("missing", "Not found: missing")):
        at.text_input[0].set_value(path).run()
        button(at, "Open").click().run()
        assert said in at.error[0].value and str(tmp_path) not in at.error[0].value
    at.text_input[0].set_value("real_or_drawing").run()
    button(at, "Open").click().run()
    assert not at.error and at.session_state.dataset.name == "real_or_drawing"


def test_dropped_images_class_by_class(at):
    at.radio(key="data_choice").set_value("Drop images").run()
    for cls, colour in (("cat", (200, 0, 0)), ("dog", (0, 0, 200))):
        at.text_input(key="drop_class").set_value(cls).run()
        files = [(f"{i}.png", png_bytes(colour), "image/png") for i in range(3)]
        at.file_uploader(key=f"drop_files_{at.session_state.drop_round}").set_value(files).run()
        button(at, "Add images").click().run()
    at.radio(key="drop_slot").set_value("target").run()
    at.text_input(key="drop_class").set_value("").run()
    files = [("sketch.png", png_bytes(30, mode="L"), "image/png"), ("broken.png", b"nope", "image/png")]
    at.file_uploader(key=f"drop_files_{at.session_state.drop_round}").set_value(files).run()
    button(at, "Add images").click().run()
    button(at, "Use dropped images").click().run()
    ds = at.session_state.dataset
    assert ds.classes == ("cat", "dog") and len(ds.source) == 6 and len(ds.target) == 1
    assert any("could not be read" in w.value for w in at.warning)  # broken.png skipped, counted


def test_source_images_need_a_class(at):
    at.radio(key="data_choice").set_value("Drop images").run()
    at.file_uploader(key="drop_files_0").set_value([("a.png", png_bytes(), "image/png")]).run()
    button(at, "Add images").click().run()
    assert "need a class name" in at.error[0].value


def test_file_and_folder_names_that_are_not_utf8(local, at, tmp_path):
    import os

    root = make_image_folder(tmp_path / "set" / "source", ("a", "b"))
    bad_class = os.fsencode(root) + b"/c\xff"
    os.mkdir(bad_class)
    os.rename(root / "a" / "000.png", os.fsencode(root) + b"/a/ok\xfe.png")
    (tmp_path / "set" / "target").mkdir()
    open(os.fsencode(tmp_path / "set" / "target") + b"/bad\xff.png", "wb").write(b"junk")
    from tests.conftest import write_image

    write_image(tmp_path / "set" / "target" / "fine.png")
    write_image(tmp_path / "c.png")
    os.rename(tmp_path / "c.png", bad_class + b"/1.png")
    at.radio(key="data_choice").set_value("Folder on this server").run()
    at.text_input[0].set_value(str(tmp_path / "set")).run()
    button(at, "Open").click().run()
    assert not at.exception and not at.error
    ds = at.session_state.dataset
    assert "a/ok\ufffd.png" in ds.source.files
    assert "c\ufffd" in ds.classes and ds.target.skipped == (
        ("bad\ufffd.png", "not an image (unknown format)"),
    )


def test_the_caption_names_this_dataset(at, tmp_path):
    first = at.caption[0].value
    assert "(here: digit photos, 898 images in 10 classes)" in first
    assert "(here: digit drawings, 899 images, labelled, but its labels only measure accuracy)" in first
    src = zip_folder(make_image_folder(tmp_path / "s", ("cat", "dog")), tmp_path / "s.zip")
    tgt = zip_folder(make_image_folder(tmp_path / "t", ("x",), mode="L"), tmp_path / "t.zip")
    at.radio(key="data_choice").set_value("Upload a zip").run()
    at.file_uploader(key="zip_source").upload("photos.zip", src.read_bytes()).run()
    at.file_uploader(key="zip_target").upload("sketches.zip", tgt.read_bytes()).run()
    button(at, "Open zip").click().run()
    first = at.caption[0].value
    assert (
        "(here: photos.zip, 6 images in 2 classes)" in first
        and "(here: sketches.zip, 3 images, unlabelled)" in first
    )
    assert "photo" not in first.replace("photos.zip", "") and "drawing" not in first


def notes(at) -> str:
    return next(m.value for m in at.markdown if "**Two domains, one task.**" in m.value)


def test_the_notes_speak_of_the_dataset_in_view(at, tmp_path):
    assert "Photos spread over the whole intensity range" in notes(at)  # the embedded pair's own words
    src = zip_folder(make_image_folder(tmp_path / "s", ("cat", "dog")), tmp_path / "s.zip")
    # four target images: pixels no other test's data has (the page keeps its notes per pixel fingerprint)
    drawn = make_image_folder(tmp_path / "t", ("x",), per_class=4, mode="L", size=(20, 20))
    tgt = zip_folder(drawn, tmp_path / "t.zip")
    at.radio(key="data_choice").set_value("Upload a zip").run()
    at.file_uploader(key="zip_source").upload("photos.zip", src.read_bytes()).run()
    at.file_uploader(key="zip_target").upload("sketches.zip", tgt.read_bytes()).run()
    button(at, "Open zip").click().run()
    said = notes(at)
    assert "The source has 6 images in 2 classes; the target has 4 images" in said
    assert "originally the source's images were 16x16 and the target's 20x20" in said
    assert "The source is in colour and the target in grey" in said
    assert "**The target is unlabelled.**" in said
    assert "photo" not in said.lower() and "drawing" not in said.lower()


def _zip(path, entries):
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path.read_bytes()


def shown(at) -> list[str]:
    return [m.value for m in (*at.error, *at.warning, *at.caption, *at.markdown)]


@pytest.mark.parametrize(
    "source, target, said",
    [
        ([], None, "real.zip is empty: it holds no files."),
        (
            [("a.txt", b"x"), ("b.csv", b"y"), ("c/d.doc", b"z")],
            None,
            "real.zip holds 3 files, none of them an image (.png, .jpg",
        ),
        (
            [("cat/1.png", png_bytes()), ("dog/1.png", png_bytes())],
            None,
            "real.zip holds one domain, not two",
        ),
        (
            [("1.png", png_bytes()), ("2.png", png_bytes())],
            [("t.png", png_bytes())],
            "The source domain (real.zip) must be labelled",
        ),
        (
            [("cat/1.png", b"junk"), ("dog/2.png", b"junk")],
            [("t.png", png_bytes())],
            "None of the 2 image file(s) in real.zip could be read",
        ),
        (
            [("a/cat/1.png", png_bytes()), ("a/dog/1.png", png_bytes())],
            [],
            "other.zip is empty: it holds no files.",
        ),
    ],
    ids=["empty", "no-images", "one-domain", "unlabelled-source", "corrupt", "empty-target"],
)
def test_bad_zips_say_what_is_wrong_without_a_server_path(at, tmp_path, explorer_home, source, target, said):
    at.radio(key="data_choice").set_value("Upload a zip").run()
    at.file_uploader(key="zip_source").upload("real.zip", _zip(tmp_path / "s.zip", source)).run()
    if target is not None:
        at.file_uploader(key="zip_target").upload("other.zip", _zip(tmp_path / "t.zip", target)).run()
    button(at, "Open zip").click().run()
    assert not at.exception and len(at.error) == 1
    assert at.error[0].value.startswith(said), at.error[0].value
    for text in shown(at):
        assert str(explorer_home) not in text and "sessions" not in text and "unpacked" not in text, text
        assert not re.search(r"-[0-9a-f]{12}", text), text  # no internal folder name
    assert at.session_state.dataset.name.startswith("builtin")  # the dataset in use stays


def test_notes_about_an_uploaded_zip_name_the_zip(at, tmp_path, explorer_home):
    source = [
        ("cat/1.png", png_bytes()),
        ("dog/1.png", png_bytes()),
        ("dog/2.png", b"junk"),
        ("loose.png", png_bytes()),
    ]
    at.radio(key="data_choice").set_value("Upload a zip").run()
    at.file_uploader(key="zip_source").upload("real.zip", _zip(tmp_path / "s.zip", source)).run()
    at.file_uploader(key="zip_target").upload(
        "other.zip", _zip(tmp_path / "t.zip", [("t.png", png_bytes())])
    ).run()
    button(at, "Open zip").click().run()
    assert not at.error and len(at.warning) == 2
    notes = " ".join(w.value for w in at.warning)
    assert (
        "1 image(s) directly in real.zip/ were ignored" in notes
        and "1 of 3 file(s) in real.zip/ could not be read" in notes
    )
    assert str(explorer_home) not in notes and not re.search(r"-[0-9a-f]{12}", notes)
