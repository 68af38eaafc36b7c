"""Line reading with errors that name the file and the line."""
from pathlib import Path
from typing import Iterator, Tuple

from ..errors import InputError


def read_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """Yield (1-based line number, line without newline); refuse missing, empty or undecodable files."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "no such file")
    data = path.read_bytes()
    if not data.strip():
        raise InputError(path, None, "the file is empty")
    for lineno, raw in enumerate(data.splitlines(), start=1):
        try:
            yield lineno, raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as err:
            raise InputError(path, lineno, f"not valid UTF-8 ({err.reason} at byte {err.start})") from None
