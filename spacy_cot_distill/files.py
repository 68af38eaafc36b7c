"""Whole-or-nothing file writes: every file the project writes goes through `write_file`."""
import contextlib
import errno
import os
import secrets
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, Union

from .errors import InputError

# what the user can do about the common reasons a write fails
_ADVICE = {
    errno.ENOSPC: "the disk is full: free some space, or write somewhere else",
    errno.EDQUOT: "the disk quota is used up: free some space, or write somewhere else",
    errno.EFBIG: "the file is larger than this system allows (disk or file size limit): write somewhere else",
    errno.EACCES: "no permission to write there: choose a folder you can write to",
    errno.EPERM: "no permission to write there: choose a folder you can write to",
    errno.EROFS: "the file system is read-only: choose a folder you can write to",
}


class WriteError(InputError):
    """An output file that cannot be written, named with the reason and what to do (reported like input errors)."""

    def __init__(self, path: Union[str, Path], err: OSError, what: str = "cannot write it",
                 outcome: str = "nothing was written"):
        advice = _ADVICE.get(err.errno or 0, "choose another output path")
        super().__init__(path, None, f"{what} ({err.strerror or err}): {advice}; {outcome}")


def refuse_overwrite(output: Union[str, Path], *inputs: Union[str, Path, None]) -> None:
    """Raise an InputError if `output` is one of the `inputs` (same file, links included): writing it would destroy it."""
    output = Path(output)
    if not output.exists():
        return
    for source in inputs:
        if source is not None and Path(source).exists() and os.path.samefile(output, source):
            raise InputError(output, None, f"is also an input ({source}): write the output to another path")


def check_writable(path: Union[str, Path]) -> None:
    """Raise before any costly work (e.g. paid LLM requests) if `path` cannot be written: a folder, a folder
    that cannot be created, or one this process cannot create files in."""
    path = Path(path)
    if path.is_dir():
        raise InputError(path, None, "is a folder: give a file path for the output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(path, err, f"cannot create its folder {path.parent}") from None
    try:
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        raise WriteError(path, err) from None


@contextlib.contextmanager
def open_atomic(path: Union[str, Path]) -> Iterator[BinaryIO]:
    """A binary file to write `path` through, whole or not at all, creating the folder.

    What the block writes goes to a temporary file in the same folder that replaces `path` only once the
    block has ended without an error and the file is flushed to disk, so a full disk, an error or a kill
    midway leaves the old file (or no file) in place. An OSError becomes a WriteError naming the path and
    what to do.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise WriteError(path, err, f"cannot create its folder {path.parent}") from None
    if path.is_dir():
        raise InputError(path, None, "is a folder: give a file path for the output")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        # os.open with 0o666 leaves the permissions to the umask, as a plain open() would
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):  # on a read-only file system the cleanup fails too: report the first error
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise WriteError(path, err) from None
        raise


def write_file(path: Union[str, Path], data: Union[bytes, str]) -> Path:
    """Write `data` (str: as UTF-8) to `path` whole or not at all (see `open_atomic`); return the path."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open_atomic(path) as file:
        file.write(data)
    return Path(path)
