"""Domain-adversarial training: the three networks, gradient reversal, lambda schedules, the
DANN objective, the EMA teacher, the training loop and its typed events, and prediction.

May import ``explorer.data`` and ``explorer.store``; never ``transfer`` or ``analysis``. The
trainer writes only into the folder it is given: cache caps and locks belong to the caller.
"""
