import io

import numpy as np
import pytest
from PIL import Image

from explorer.data.images import MAX_PIXELS, ImageError, read_image
from tests.conftest import png_bytes


def save(img: Image.Image, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_rgb_and_grey_shapes():
    px, info = read_image(png_bytes((10, 20, 30), (40, 40)), 32)
    assert px.shape == (32, 32, 3) and px.dtype == np.uint8
    assert tuple(px[16, 16]) == (10, 20, 30)
    assert (info.width, info.height, info.mode) == (40, 40, "RGB")
    px, _ = read_image(png_bytes(77, (28, 28), "L"), 32)
    assert px.shape == (32, 32, 1) and px[5, 5, 0] == 77


def test_non_square_is_centre_cropped_not_squashed():
    a = np.zeros((32, 64, 3), np.uint8)
    a[:, :32] = (255, 0, 0)
    a[:, 32:] = (0, 0, 255)
    px, _ = read_image(save(Image.fromarray(a)), 32)
    assert tuple(px[16, 2]) == (255, 0, 0) and tuple(px[16, 29]) == (0, 0, 255)


def test_path_input(tmp_path):
    p = tmp_path / "x.png"
    p.write_bytes(png_bytes())
    assert read_image(p, 16)[0].shape == (16, 16, 3)


def test_16bit_grey_is_scaled_to_8bit():
    a = np.full((20, 20), 65535, np.uint16)
    a[:10] = 128 * 257
    px, info = read_image(save(Image.fromarray(a)), 20)
    assert info.mode.startswith("I")
    assert px.shape == (20, 20, 1)
    assert px[15, 5, 0] == 255 and px[2, 5, 0] == 128


def test_palette_with_transparency_goes_over_white():
    img = Image.new("P", (16, 16), 0)
    img.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    img.paste(1, (0, 0, 16, 8))
    data = save(img, transparency=0)  # index 0 (black) is transparent
    px, info = read_image(data, 16)
    assert info.mode == "P"
    assert tuple(px[12, 8]) == (255, 255, 255)
    assert tuple(px[2, 8]) == (255, 0, 0)


def test_rgba_and_la():
    px, _ = read_image(png_bytes((0, 0, 0, 0), mode="RGBA"), 16)
    assert px.shape == (16, 16, 3) and (px == 255).all()
    px, _ = read_image(png_bytes((0, 255), mode="LA"), 16)
    assert px.shape == (16, 16, 1) and (px == 0).all()


def test_cmyk_jpeg_becomes_rgb():
    data = save(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG")
    px, info = read_image(data, 16)
    assert info.mode == "CMYK" and px.shape == (16, 16, 3)
    assert px[8, 8, 0] > 200 and px[8, 8, 1] < 60  # red


def test_animated_gif_gives_first_frame():
    frames = [Image.new("L", (16, 16), 10), Image.new("L", (16, 16), 250)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    px, info = read_image(buf.getvalue(), 16)
    assert info.frames == 2
    assert px.mean() < 50


def test_one_bit_image():
    px, _ = read_image(save(Image.new("1", (16, 16), 1)), 16)
    assert px.shape == (16, 16, 1) and (px == 255).all()


NOISE_PNG = save(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty file"),
        (b"hello, I am a text file\n" * 10, "not an image"),
        (NOISE_PNG[: len(NOISE_PNG) // 2], "corrupt or truncated"),
        (png_bytes(size=(1, 1)), "too small: 1x1"),
    ],
    ids=["zero-byte", "text", "truncated", "1x1"],
)
def test_bad_files_raise_with_reason(data, reason):
    with pytest.raises(ImageError, match=reason):
        read_image(data, 32)


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    p = tmp_path / "big.png"
    Image.new("L", (10_000, 10_000)).save(p)  # 100 MP of zeros: ~100 KB on disk
    assert 10_000 * 10_000 > MAX_PIXELS
    with pytest.raises(ImageError, match="too large: 10000x10000"):
        read_image(p, 32)


def test_huge_beyond_pil_hard_limit_is_refused(tmp_path):
    p = tmp_path / "huge.png"
    Image.new("1", (20_000, 20_000)).save(p)  # 400 MP: PIL itself refuses to open it
    with pytest.raises(ImageError, match="too large: 400,000,000 pixels"):
        read_image(p, 32)


def test_corrupt_jpeg_body():
    data = bytearray(save(Image.new("RGB", (64, 64), (1, 2, 3)), "JPEG"))
    data[200:400] = b"\x00" * 200
    data = bytes(data[: len(data) // 2])
    with pytest.raises(ImageError):
        read_image(data, 32)


def test_bmp_fast_path_keeps_rgb_order_and_grey():
    px, info = read_image(save(Image.new("RGB", (32, 32), (250, 10, 20)), "BMP"), 32)
    assert tuple(px[3, 3]) == (250, 10, 20) and info.mode == "RGB"
    px, info = read_image(save(Image.new("L", (28, 28), 99), "BMP"), 32)
    assert px.shape == (32, 32, 1) and px[0, 0, 0] == 99 and (info.width, info.height) == (28, 28)


def test_bmp_header_claiming_a_huge_image_is_refused_unread():
    header = bytearray(save(Image.new("L", (16, 16)), "BMP")[:54])
    header[18:26] = (20_000).to_bytes(4, "little") + (20_000).to_bytes(4, "little")
    with pytest.raises(ImageError, match="too large: 20000x20000"):
        read_image(bytes(header), 32)


def test_truncated_bmp():
    data = save(Image.new("RGB", (64, 64), (1, 2, 3)), "BMP")
    with pytest.raises(ImageError):
        read_image(data[:20], 32)
    with pytest.raises(ImageError, match="corrupt or truncated"):
        read_image(data[: len(data) // 2], 32)
