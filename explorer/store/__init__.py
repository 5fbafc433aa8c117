"""What is kept on disk: the home folder, checkpoints (atomic, ``weights_only``), the run cache
with its size cap and training locks, reading runs back, an owner's saved choices and share links,
and each Streamlit session's upload folder.

Imports only ``explorer.errors``: every other wing may use it, it uses none of them.
"""
