"""Execution: where and how training runs are run. The algorithm (`explorer.dann`) never knows.

A run starts in one place (`start.py`: as auto plans it, `auto.py`, one run or the shortlist
measured side by side, `measure.py`). A caller chooses a back-end (`choose.py`: in this process,
worker processes side by side, K copies stacked on one GPU, or a Ray cluster), asks it to train a
list of `Request`s (`backends.py`: a config and the folder to train into), and reads one stream of
typed events (`events.py`). The app's storage rules (the cache's lock and cap, the run recorded as
a session's) wrap every run in one place (`keep.py`). Sweeps (`grid.py`, `sweep.py`, `verdict.py`,
`costs.py`) are lists of requests with a verdict. The app's job queue (`jobs.py`) runs any of
these event streams in the background, one per device at a time.

May import ``explorer.dann``, ``analysis``, ``transfer``, ``data`` and ``store``; nothing below imports it.
"""
