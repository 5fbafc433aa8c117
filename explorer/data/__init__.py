"""Images and domains as uint8 tensors: reading files and archives safely, uploads written into
their folder, the embedded digits, Canny and augmentation, dataset statistics and image grids.

May import ``explorer.store`` (caches under the home folder); never ``dann``, ``transfer`` or
``analysis``.
"""
