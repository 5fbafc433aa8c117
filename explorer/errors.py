"""The one exception type the app and the CLI show to a user as a plain message."""


def printable(text: str) -> str:
    """`text` with undecodable file-name bytes (surrogate escapes) as U+FFFD: safe to show or encode."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


class ExplorerError(Exception):
    """Bad input or a refused request. ``str(err)`` is a complete sentence for the user."""

    def __init__(self, message: str):
        super().__init__(printable(str(message)))


class DataError(ExplorerError):
    """A dataset, archive or image that cannot be used as given."""


def failure(e: Exception) -> str:
    """An exception as a sentence for the user: an `ExplorerError`'s own, else what went wrong."""
    if isinstance(e, ExplorerError):
        return str(e)
    return f"Training failed unexpectedly: {type(e).__name__}: {e}"
