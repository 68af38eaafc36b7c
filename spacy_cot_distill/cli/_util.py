"""Shared CLI behaviour: input errors become a clear message and exit code 1."""
import contextlib

from wasabi import msg

from ..errors import InputError


@contextlib.contextmanager
def input_errors():
    """Print an InputError as one line naming the file and line, and exit 1."""
    try:
        yield
    except InputError as err:
        msg.fail(str(err), exits=1)
