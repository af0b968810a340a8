"""The one exception type for mistakes a user can make; the CLI prints it as a single line."""


class FischedError(Exception):
    """A user-facing error: bad input, missing file, mismatched artifact. Message is one line."""


def tvm_error_line(err: Exception) -> str:
    """The message line of an error TVM raised (its last line: the traceback comes first), or
    the error's type where it says nothing."""
    text = str(err).strip()
    return text.splitlines()[-1] if text else type(err).__name__
