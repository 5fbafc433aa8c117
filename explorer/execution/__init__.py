"""Execution: where and how training runs are run. The algorithm (`explorer.dann`) never knows.

A caller chooses a back-end (`backends.choose`: in this process, worker processes side by side,
K copies stacked on one GPU, or a Ray cluster), asks it to train a list of `Request`s (a config and
the folder to train into), and reads one stream of typed events (`events.py`). The app's storage
rules (the cache's lock and cap, the run recorded as a session's) wrap every run in one place
(`keep.py`). Sweeps (`grid.py`, `sweep.py`, `costs.py`) are lists of requests with a verdict.

May import ``explorer.dann``, ``analysis``, ``transfer``, ``data`` and ``store``; nothing below imports it.
"""
