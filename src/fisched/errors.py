"""The one exception type for mistakes a user can make; the CLI prints it as a single line."""


class FischedError(Exception):
    """A user-facing error: bad input, missing file, mismatched artifact. Message is one line."""
