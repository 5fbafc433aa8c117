"""Pretrained torchvision backbones (weights API, hub cache) and fine-tuning them with frozen or
trainable stages.

May import ``explorer.data`` and ``explorer.store``; never ``dann`` or ``analysis``.
"""
