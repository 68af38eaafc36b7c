"""Line reading, plain and JSON, with errors that name the file and the line."""
import json
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

from ..errors import InputError

BOM = "\ufeff".encode("utf-8")


def read_lines(path: Path) -> Iterator[Tuple[int, str]]:
    """Yield (1-based line number, line without newline); refuse missing, empty or undecodable files."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "no such file")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, None, f"cannot read it ({err.strerror}): check its permissions") from None
    data = data[len(BOM) :] if data.startswith(BOM) else data  # as Windows editors save UTF-8
    if not data.strip():
        raise InputError(path, None, "the file is empty")
    for lineno, raw in enumerate(data.splitlines(), start=1):
        try:
            yield lineno, raw.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as err:
            raise InputError(path, lineno, f"not valid UTF-8 ({err.reason} at byte {err.start})") from None


def read_json_lines(path: Path) -> Iterator[Tuple[int, Dict[str, Any]]]:
    """Yield (line number, object) for each non-blank line; each line must be a JSON object."""
    for lineno, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, lineno, f"not valid JSON: {err.msg} (column {err.colno})") from None
        except ValueError as err:  # an integer of more digits than Python converts
            raise InputError(path, lineno, f"not valid JSON: {err}") from None
        except RecursionError:
            raise InputError(path, lineno, "the JSON is nested too deeply to read") from None
        if not isinstance(record, dict):
            raise InputError(path, lineno, "expected a JSON object")
        yield lineno, record


def is_int(value: Any) -> bool:
    """Whether `value` is an integer (a float would be truncated, and a bool is an int to Python)."""
    return isinstance(value, int) and not isinstance(value, bool)
