"""Looking inside trained models: features embedded with t-SNE or PCA, domain alignment numbers,
TensorBoard projector export, and conv-layer activations through forward hooks.

The top wing: may import ``dann``, ``transfer``, ``data`` and ``store``; nothing imports it but
the CLI and the app.
"""
