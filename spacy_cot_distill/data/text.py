"""Line reading with errors that name the file and the line."""
from pathlib import Path
from typing import Any, Iterator, Tuple

from ..errors import InputError

BOM = "\ufeff".encode("utf-8")


def read_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """Yield (1-based line number, line without newline); refuse missing, empty or undecodable files."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "no such file")
    data = path.read_bytes()
    data = data[len(BOM) :] if data.startswith(BOM) else data  # as Windows editors save UTF-8
    if not data.strip():
        raise InputError(path, None, "the file is empty")
    for lineno, raw in enumerate(data.splitlines(), start=1):
        try:
            yield lineno, raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as err:
            raise InputError(path, lineno, f"not valid UTF-8 ({err.reason} at byte {err.start})") from None


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (a float would be truncated, and a bool is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)
