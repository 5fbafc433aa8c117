"""Transfer Explorer's engine: everything the app shows, usable from a notebook or the CLI.

Wings, each a folder that mirrors an idea of the app; imports run one way only::

    execution, analysis  ->  dann, transfer  ->  data  ->  store

(``cli`` drives them all; ``execution`` and ``analysis`` import neither each other nor anything above.)

``errors`` and ``devices`` sit beside them and import nothing of the project but ``errors``.
Nothing here imports streamlit (tests/test_boundaries.py checks it): an owner (the ``?sid`` that
owns runs) or a Streamlit session (that owns an upload folder) is only ever an id passed in.
"""
