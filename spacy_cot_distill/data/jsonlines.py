"""JSON-lines reading with errors that name the file and the line."""
import json
from pathlib import Path
from typing import Any, Dict, Iterator, Tuple

from ..errors import InputError
from .text import read_lines


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
