"""Transfer Explorer's engine: everything the app shows, usable from a notebook or the CLI.

Wings, each a folder that mirrors an idea of the app; imports run one way only::

    analysis  ->  dann, transfer  ->  data  ->  store

``errors`` and ``devices`` sit beside them and import nothing of the project but ``errors``.
Nothing here imports streamlit or knows about browser sessions (tests/test_boundaries.py checks
both).
"""
