"""Errors that point the user at the offending input."""
from pathlib import Path
from typing import Optional, Union


class InputError(ValueError):
    """Malformed input, reported with the file and the line or record."""

    def __init__(self, path: Union[str, Path], line: Optional[int], message: str):
        self.path = str(path)
        self.line = line
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")
