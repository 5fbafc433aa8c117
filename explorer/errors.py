"""The one exception type the app and the CLI show to a user as a plain message."""


class ExplorerError(Exception):
    """Bad input or a refused request. ``str(err)`` is a complete sentence for the user."""


class DataError(ExplorerError):
    """A dataset, archive or image that cannot be used as given."""
