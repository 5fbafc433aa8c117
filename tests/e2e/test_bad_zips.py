"""A zip that cannot be a dataset says why in one sentence, in the browser, without a server path."""

import io
import zipfile

from tests.e2e.conftest import errors, open_zip


def zip_of(entries) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def test_an_empty_zip_and_a_zip_without_images_each_say_so(page, app):
    cases = [
        ("real.zip", zip_of([]), "real.zip is empty: it holds no files. "),
        (
            "photos.zip",
            zip_of([("a.txt", b"x"), ("b.csv", b"1,2"), ("c/d.doc", b"z")]),
            "photos.zip holds 3 files, none of them an image (.png, .jpg, ",
        ),
    ]
    for name, data, said in cases:
        open_zip(page, data, name)
        found = errors(page)
        assert len(found) == 1, found
        message = found[0].strip().splitlines()[-1]  # after the icon's name
        assert message.startswith(said) and "upload" in message, message  # what it is, and what to do
        assert "/" not in message and "sessions" not in message and str(app.home) not in message, message
        assert "builtin" in page.locator("[data-testid='stSidebar']").inner_text()  # the dataset in use stays
