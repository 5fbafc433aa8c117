"""What is kept on disk: the home folder, checkpoints (atomic, ``weights_only``), the run cache
with its size cap and training locks, and reading runs back.

Imports only ``explorer.errors``: every other wing may use it, it uses none of them.
"""
