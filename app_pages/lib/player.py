"""Feature Space's training movie: an epoch slider and a play button in a fragment, so stepping
through the frames reruns only this part of the page."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pandas as pd
import streamlit as st

from explorer.analysis import alignment, charts, movie, movie_export
from explorer.dann.results import percent
from explorer.errors import ExplorerError
from explorer.execution.jobs import left_after, left_words
from explorer.store import cache

SECONDS_PER_FRAME = 0.8
POLL_SECONDS = 5.0  # while the run trains: look for new epochs


def training_movie(run, ds, n: int, method: str, perplexity: float, seed: int) -> None:
    playing = st.session_state.get("movie_playing", False)
    training = cache.busy(run.dir)
    every = SECONDS_PER_FRAME if playing else (POLL_SECONDS if training else None)
    st.fragment(run_every=every)(_player)(run, ds, n, method, perplexity, seed, training)


def _load(run, ds, n, method, perplexity, seed) -> movie.Movie:
    """The movie, from this session's memo while no checkpoint changed (the slider recomputes
    nothing), else from the disk cache, computing only the frames not there yet."""
    try:
        stamps = tuple((p.name, p.stat().st_mtime_ns) for p in movie.frame_files(run.dir))
    except FileNotFoundError:
        raise ExplorerError(
            "A checkpoint of this run was removed while the page read it (the cache's size cap); try again."
        ) from None
    key = (str(run.dir), stamps, ds.fingerprint, n, method, perplexity, seed)
    memo = st.session_state.get("movie_memo")
    if memo and memo[0] == key:
        return replace(memo[1], seconds=0.0, computed=0)
    bar = st.progress(0.0, text="Embedding the saved epochs…")
    t0 = time.monotonic()

    def progress(done: int, total: int) -> None:
        left = left_words(left_after(time.monotonic() - t0, done / total if total else None))
        frame = f"Embedding frame {min(done + 1, total)} of {total}"
        bar.progress(done / total if total else 1.0, text=f"{frame} · {left}" if left else f"{frame}…")

    try:
        mv = movie.movie(run.dir, ds, n, method, perplexity, seed, progress=progress)
    finally:
        bar.empty()
    st.session_state.movie_memo = (key, mv)
    return mv


def _player(run, ds, n, method, perplexity, seed, training: bool) -> None:
    """The fragment: controls, the frame shown, and its numbers beside it. The picture is sent
    before the controls (which sit above it in a container) and the numbers, so the slider never
    shows a frame the picture has not reached: all come from the one index `k`."""
    try:
        mv = _load(run, ds, n, method, perplexity, seed)
    except ExplorerError as e:
        st.error(str(e))
        return
    epochs = [f.epoch for f in mv.frames]
    _advance(epochs)
    k = epochs.index(st.session_state.movie_epoch)
    controls = st.container()
    for line in mv.skipped:
        st.warning(line, icon=":material/warning:")
    if mv.note:
        st.info(mv.note, icon=":material/info:")
    left, right = st.columns([3, 1])
    with left:
        _charts(mv, mv.frames[k], st.session_state.get("movie_colour") or "domain")
    with controls:
        _controls(epochs)
    with right:
        _numbers(mv, k, training)
        _downloads(mv, run.run_id)


def _advance(epochs: list[int]) -> None:
    """Keep the epoch shown among the movie's; while playing, step to the next one, but only once
    the frame shown has been up for most of a tick (the page's own rerun right after Play first
    shows the frame Play was pressed on). At the last, stop playing and rerun the whole page, so
    that the fragment stops ticking."""
    state, now = st.session_state, time.monotonic()
    if state.get("movie_epoch") not in epochs:
        state.movie_epoch = epochs[0]
    if not state.get("movie_playing"):
        state.movie_shown_at = now
        return
    if now - state.get("movie_shown_at", 0.0) < 0.6 * SECONDS_PER_FRAME:
        return
    at = epochs.index(state.movie_epoch) + 1
    if at < len(epochs):
        state.movie_epoch, state.movie_shown_at = epochs[at], now
    else:
        state.movie_playing = False
        st.rerun()  # the whole page: the fragment stops ticking


def _controls(epochs: list[int]) -> None:
    """Play or Pause, the epoch slider and the colouring (kept in the session state)."""
    state = st.session_state
    c1, c2, c3 = st.columns([2, 5, 3], vertical_alignment="bottom")
    playing = state.get("movie_playing", False)
    if c1.button(
        "Pause" if playing else "Play",
        icon=":material/pause:" if playing else ":material/play_arrow:",
        key="movie_play",
        disabled=len(epochs) < 2,
    ):
        if not playing and state.movie_epoch == epochs[-1]:
            state.movie_epoch = epochs[0]
        state.movie_playing = not playing
        state.movie_shown_at = time.monotonic()  # the rerun shows this frame before stepping on
        st.rerun()  # the whole page, so that the fragment ticks (or stops)
    if len(epochs) > 1:
        c2.select_slider("Epoch", epochs, key="movie_epoch")
    c3.segmented_control("Colour by", ["domain", "class"], default="domain", key="movie_colour")


def _charts(mv: movie.Movie, frame: movie.Frame, colour: str) -> None:
    """The frame's points on axes fixed for the whole movie (its extent, 3% padding), and the numbers
    per epoch below."""
    names = np.array(mv.classes)
    every = np.concatenate([f.coords for f in mv.frames])
    pad = 0.03 * (every.max(0) - every.min(0))
    lo, hi = every.min(0) - pad, every.max(0) + pad
    df = pd.DataFrame(
        {
            "x": frame.coords[:, 0],
            "y": frame.coords[:, 1],
            "domain": np.where(mv.domain == 0, "source", "target"),
            "class": names[np.where(mv.label >= 0, mv.label, frame.pred)],
            "predicted": names[frame.pred],
            "changed": frame.changed,
        }
    )
    st.altair_chart(charts.movie_frame(df, colour, [lo[0], hi[0]], [lo[1], hi[1]]), width="stretch")
    numbers = [(alignment.named("mixing"), f.epoch, f.mixing) for f in mv.frames] + [
        (alignment.named("a_distance"), f.epoch, f.a_distance) for f in mv.frames
    ]
    numbers += [("target accuracy", f.epoch, f.target_acc) for f in mv.frames if f.target_acc is not None]
    st.altair_chart(
        charts.movie_numbers(pd.DataFrame(numbers, columns=["measure", "epoch", "value"]), frame.epoch),
        width="stretch",
    )


def _numbers(mv: movie.Movie, k: int, training: bool) -> None:
    """Frame `k`'s measures as metrics, and what changed and what was computed, as captions."""
    frame, epochs = mv.frames[k], [f.epoch for f in mv.frames]
    st.metric("epoch", f"{frame.epoch}", help="the epoch whose checkpoint this frame shows")
    st.caption(f"frame {k + 1} of {len(epochs)}")
    st.metric(alignment.PLAIN["mixing"], f"{frame.mixing:.2f}", help=alignment.explained("mixing"))
    st.metric(
        alignment.PLAIN["a_distance"], f"{frame.a_distance:.2f}", help=alignment.explained("a_distance")
    )
    if frame.target_acc is not None:
        st.metric(
            "target accuracy", percent(frame.target_acc), help="this epoch's, on the sampled target images"
        )
    if k:
        st.caption(
            f"{int(frame.changed.sum()):,} points (ringed) changed their predicted class "
            f"since epoch {epochs[k - 1]}."
        )
    done = "from the cache" if not mv.computed else f"{mv.computed} frame(s) computed in {mv.seconds:.1f} s"
    st.caption(
        f"{len(epochs)} frames · {len(mv.domain):,} points each · {done}"
        + (" · the run is still training: new epochs appear as they are saved" if training else "")
    )


def _downloads(mv: movie.Movie, run_id: str) -> None:
    """The movie as a GIF and as a CSV of points, made only when clicked."""
    for label, make, ext, mime in (
        ("Movie (GIF)", movie_export.gif, "gif", "image/gif"),
        ("Frames (CSV)", movie_export.csv, "csv", "text/csv"),
    ):
        st.download_button(
            label,
            lambda make=make: make(mv),
            f"movie-{run_id}.{ext}",
            mime,
            key=f"movie_{ext}",
            on_click="ignore",
        )
