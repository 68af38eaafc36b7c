"""Reading and writing .spacy DocBins with the doc extensions: every command's docs come and go through here."""
from pathlib import Path
from typing import Iterable, List, Optional, Union

from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from ..errors import InputError
from ..files import write_file


def read_docs(path: Union[str, Path], vocab: Optional[Vocab] = None) -> List[Doc]:
    """The docs of a .spacy file, with their extension values; a missing or unreadable file is an InputError."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, None, "no such file: pass a .spacy DocBin (see `cot-distill convert`)")
    if not path.is_file():
        raise InputError(path, None, "is not a file: pass a .spacy DocBin (see `cot-distill convert`)")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(path, None, f"cannot read it ({err.strerror}): check its permissions") from None
    try:
        return list(DocBin().from_bytes(data).get_docs(vocab or Vocab()))
    except Exception as err:  # msgpack/zlib raise many types on a file that is not a DocBin
        raise InputError(path, None, f"not a .spacy DocBin ({type(err).__name__}): make one with `cot-distill convert`") from None


def write_docs(path: Union[str, Path], docs: Iterable[Doc]) -> Path:
    """Write `docs` with their extension values (user data) to the .spacy file `path`, whole or not at all."""
    return write_file(path, DocBin(docs=docs, store_user_data=True).to_bytes())
