"""Pictures drawn once per server: PNG bytes cached by what they show.

`st.image` given an array encodes it on every rerun; given PNG bytes and told they are PNG, it only
reads their header and hashes them. A page
that a class switches to all day (Data, Canny Tuner, Layer Activations) draws its grids here once
per dataset and setting; every later rerun, in any session, sends the same bytes. The key must name
everything the picture depends on (the dataset's fingerprint, thresholds, the layer...): the drawing
function itself is not part of it.
"""

import io

import numpy as np
import streamlit as st
from PIL import Image


def png(picture: np.ndarray) -> bytes:
    """An (H, W, 3) or (H, W) uint8 array as PNG bytes; fast compression (these are small, flat images)."""
    out = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(picture)).save(out, format="PNG", compress_level=1)
    return out.getvalue()


@st.cache_data(max_entries=64, show_spinner=False)  # a 64-map grid is about 1.2 MB: 80 MB at most
def drawn(key: tuple, _draw) -> tuple[bytes, int]:
    """`_draw()`'s picture as PNG bytes and its width in pixels, drawn the first time `key` is asked for."""
    picture = _draw()
    return png(picture), picture.shape[1]


def show(container, key: tuple, draw, **kwargs) -> None:
    """`container.image` of the cached picture; one at most 300 px wide at its own size unless told."""
    data, width = drawn(key, draw)
    kwargs.setdefault("width", "stretch" if width > 300 else "content")
    # PNG: "auto" would decode the PNG and encode it again as JPEG
    container.image(data, output_format="PNG", **kwargs)
