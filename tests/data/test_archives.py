import stat
import zipfile

import pytest

from explorer.data.archives import extract_zip, unpack
from explorer.errors import DataError
from tests.conftest import png_bytes


def make_zip(path, entries):
    """entries: (name, bytes) or a ZipInfo-ready (ZipInfo, bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_extracts_nested_files_and_skips_junk(tmp_path):
    z = make_zip(
        tmp_path / "a.zip",
        [
            ("data/cat/1.png", png_bytes()),
            ("__MACOSX/data/._1.png", b"x"),
            ("data/.DS_Store", b"x"),
            ("data/dog/", b""),
        ],
    )
    out = extract_zip(z, tmp_path / "out")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == ["data/cat/1.png"]


@pytest.mark.parametrize(
    "name, reason",
    [
        ("../evil.png", "outside the archive"),
        ("data/../../evil.png", "outside the archive"),
        ("..\\evil.png", "outside the archive"),
        ("/tmp/evil.png", "absolute path"),
        ("C:/evil.png", "absolute path"),
    ],
)
def test_escaping_entries_refuse_the_whole_zip(tmp_path, name, reason):
    work = tmp_path / "work"
    work.mkdir()
    z = make_zip(tmp_path / "bad.zip", [("ok/1.png", png_bytes()), (name, b"pwned")])
    with pytest.raises(DataError, match=reason):
        extract_zip(z, work / "out")
    assert leftovers(work) == []  # no partial extraction left behind
    assert not (tmp_path / "evil.png").exists()


def test_symlink_entry_is_refused(tmp_path):
    info = zipfile.ZipInfo("data/link.png")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(tmp_path / "l.zip", "w") as zf:
        zf.writestr("data/1.png", png_bytes())
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="symbolic link"):
        extract_zip(tmp_path / "l.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_zip_bomb_is_refused(tmp_path):
    z = make_zip(tmp_path / "bomb.zip", [(f"b{i}.bin", b"\0" * 4_000_000) for i in range(3)])
    assert z.stat().st_size < 100_000  # 12 MB of zeros in a few KB
    with pytest.raises(DataError, match="expands to more than"):
        extract_zip(z, tmp_path / "out", max_bytes=10_000_000)
    assert leftovers(tmp_path) == ["bomb.zip"]


def test_too_many_files_is_refused(tmp_path):
    z = make_zip(tmp_path / "many.zip", [(f"{i}.png", b"x") for i in range(30)])
    with pytest.raises(DataError, match="30 entries is more than the limit of 20"):
        extract_zip(z, tmp_path / "out", max_files=20)


def test_not_a_zip(tmp_path):
    p = tmp_path / "fake.zip"
    p.write_bytes(b"this is not a zip")
    with pytest.raises(DataError, match="fake.zip is not a readable zip file"):
        extract_zip(p, tmp_path / "out")


def test_corrupt_member_is_refused_and_cleaned(tmp_path):
    z = make_zip(tmp_path / "c.zip", [("a.png", png_bytes(size=(64, 64)) * 5)])
    data = bytearray(z.read_bytes())
    data[60:90] = b"\xff" * 30  # inside the deflated data
    z.write_bytes(bytes(data))
    with pytest.raises(DataError, match="Cannot read entry 'a.png'"):
        extract_zip(z, tmp_path / "out")
    assert leftovers(tmp_path) == ["c.zip"]


def test_duplicate_entries_are_refused(tmp_path):
    z = tmp_path / "d.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("a.png", b"1")
        with pytest.warns(UserWarning):
            zf.writestr("a.png", b"2")
    with pytest.raises(DataError, match="clashes with another entry"):
        extract_zip(z, tmp_path / "out")


def test_unpack_reuses_the_folder_for_the_same_content(tmp_path):
    z = make_zip(tmp_path / "a.zip", [("x/1.png", png_bytes())])
    first = unpack(z, tmp_path / "cache")
    assert unpack(z, tmp_path / "cache") == first
    make_zip(tmp_path / "a.zip", [("x/2.png", png_bytes())])
    assert unpack(z, tmp_path / "cache") != first


def test_encrypted_entry_is_refused(tmp_path):
    z = make_zip(tmp_path / "e.zip", [("secret.png", b"x" * 100)])
    data = bytearray(z.read_bytes())
    # set the "encrypted" flag bit in the local header (offset 6) and the central directory (offset 8)
    local, central = data.index(b"PK\x03\x04"), data.index(b"PK\x01\x02")
    data[local + 6] |= 1
    data[central + 8] |= 1
    z.write_bytes(bytes(data))
    with pytest.raises(DataError, match="Cannot read entry 'secret.png'.*encrypted"):
        extract_zip(tmp_path / "e.zip", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "entries",
    [
        [("a", b"file"), ("a/b.png", b"x")],  # a file where a folder must go
        [("x" * 300 + ".png", b"x")],  # a name longer than the file system allows
    ],
    ids=["file-then-folder", "long-name"],
)
def test_unwritable_layouts_are_refused_cleanly(tmp_path, entries):
    work = tmp_path / "work"
    work.mkdir()
    z = make_zip(tmp_path / "odd.zip", entries)
    with pytest.raises(DataError):
        extract_zip(z, work / "out")
    assert leftovers(work) == []


@pytest.mark.parametrize(
    "entries, said",
    [
        ([], "real.zip is empty: it holds no files."),
        ([("photos/", b""), ("photos/cats/", b"")], "real.zip is empty: it holds no files."),
        (
            [("a.txt", b"x"), ("b/c.csv", b"1,2"), ("notes.pdf", b"%PDF")],
            "real.zip holds 3 files, none of them an image (.png, .jpg",
        ),
        ([("readme.md", b"hi")], "real.zip holds 1 file, which is not an image (.png, .jpg"),
        ([("__MACOSX/._a.png", b"x"), (".DS_Store", b"x")], "real.zip holds 2 files, none of them an image"),
    ],
    ids=["no-entries", "only-folders", "three-others", "one-other", "only-junk"],
)
def test_a_zip_without_images_says_what_it_holds_and_what_to_do(tmp_path, entries, said):
    z = make_zip(tmp_path / "upload-1234.zip", entries)
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(DataError) as e:
        extract_zip(z, work / "out", label="real.zip")
    message = str(e.value)
    assert message.startswith(said)
    assert "upload" in message and "one folder per class" in message  # what to do
    assert str(tmp_path) not in message and "upload-1234" not in message and "out" not in message.split()
    assert leftovers(work) == []
