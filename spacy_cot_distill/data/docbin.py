"""Reading and writing .spacy DocBins with the doc extensions: every command's docs come and go through here.

`read_docs` and `write_docs` hold every doc at once. `stream_docs` and `DocBinWriter` read and write the same
files a block of docs at a time, so that a corpus of any size (`generate` over a million tweets) takes the
memory of one block of docs, the corpus's distinct strings and four bytes a doc.

A .spacy file is one zlib stream of one msgpack map (spaCy's `DocBin.to_bytes`): the token rows of all docs in
one binary field, their lengths, the strings, then one list item a doc for cats, flags, span groups and user
data. `stream_docs` reads each field through a decompressor of its own, front to back, skipping what comes
before it without keeping it; `DocBinWriter` appends each field of the docs it is given to a part file of its
own and joins the parts into that map at the end.
"""
import contextlib
import struct
import tempfile
import zlib
from array import array
from pathlib import Path
from typing import BinaryIO, Dict, Iterable, Iterator, List, Optional, Set, Tuple, Union

import numpy
import srsly
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab
from thinc.api import NumpyOps

from ..errors import InputError
from ..files import WriteError, open_atomic, write_file

# DocBin.to_bytes's fields: binary fields, lists of one item a doc, and the order it writes them in
_BLOBS = ("tokens", "spaces", "lengths")
_PER_DOC = ("cats", "flags", "span_groups", "user_data")
_LISTS = ("strings",) + _PER_DOC
_ORDER = ("version", "attrs") + _BLOBS + _LISTS
BLOCK_DOCS = 1000  # docs stream_docs decodes at a time
_PIECE = 1 << 20  # bytes read or copied at a time
_MAX_BLOB = 2**32 - 1  # the largest binary field msgpack can hold (bin 32)
_BIN_HEADERS = ((0xFF, b"\xc4", ">B"), (0xFFFF, b"\xc5", ">H"), (_MAX_BLOB, b"\xc6", ">I"))


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(path, None, "no such file: pass a .spacy DocBin (see `cot-distill convert`)")
    if not path.is_file():
        raise InputError(path, None, "is not a file: pass a .spacy DocBin (see `cot-distill convert`)")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[None]:
    """Any failure to read `path` as a DocBin becomes an InputError naming it and what to do."""
    try:
        yield
    except OSError as err:
        raise InputError(path, None, f"cannot read it ({err.strerror or err}): check its permissions") from None
    except Exception as err:  # msgpack/zlib raise many types on a file that is not a DocBin
        raise InputError(path, None, f"not a .spacy DocBin ({type(err).__name__}): make one with `cot-distill convert`"
                         ) from None


def read_docs(path: Union[str, Path], vocab: Optional[Vocab] = None) -> List[Doc]:
    """The docs of a .spacy file, with their extension values; a missing or unreadable file is an InputError."""
    path = Path(path)
    _check_file(path)
    with _reading(path):
        return list(DocBin().from_bytes(path.read_bytes()).get_docs(vocab or Vocab()))


def write_docs(path: Union[str, Path], docs: Iterable[Doc]) -> Path:
    """Write `docs` with their extension values (user data) to the .spacy file `path`, whole or not at all."""
    return write_file(path, DocBin(docs=docs, store_user_data=True).to_bytes())


class _Inflated:
    """The decompressed bytes of a zlib file, front to back: the file msgpack's Unpacker reads."""

    def __init__(self, file: BinaryIO):
        self.file = file
        self.inflate = zlib.decompressobj()

    def read(self, size: int) -> bytes:
        """At most `size` bytes; b"" at the end of the stream (or of a cut file)."""
        data = self.inflate.unconsumed_tail
        while not self.inflate.eof:
            if not data:
                data = self.file.read(_PIECE)
                if not data:
                    break
            out = self.inflate.decompress(data, size)  # never more than asked for, however well it compresses
            if out:
                return out
            data = self.inflate.unconsumed_tail
        return b""


def _unpacker(stack: contextlib.ExitStack, path: Path):
    return srsly.msgpack.Unpacker(_Inflated(stack.enter_context(path.open("rb"))), raw=False)


def _read_exact(unpacker, size: int) -> bytes:
    parts = []
    while size:
        data = unpacker.read_bytes(min(size, _PIECE))
        if not data:
            raise EOFError("the file ends inside a field")
        parts.append(data)
        size -= len(data)
    return b"".join(parts)


def _blob_size(unpacker) -> int:
    """The length of the binary field whose header comes next."""
    kind = unpacker.read_bytes(1)
    for _, marker, fmt in _BIN_HEADERS:
        if kind == marker:
            return struct.unpack(fmt, _read_exact(unpacker, struct.calcsize(fmt)))[0]
    raise ValueError(f"a binary field starts with {kind!r}")


def _blob_header(size: int) -> bytes:
    """The msgpack header of a binary field of `size` bytes, as msgpack writes it."""
    for limit, marker, fmt in _BIN_HEADERS:
        if size <= limit:
            return marker + struct.pack(fmt, size)
    raise ValueError(f"{size} bytes do not fit one msgpack binary field")


def _skip(unpacker, key: str) -> None:
    """Read past the value of the field `key` without holding it: a blob a piece at a time, a list an item at a time."""
    if key in _BLOBS:
        size = _blob_size(unpacker)
        while size:
            size -= len(_read_exact(unpacker, min(size, _PIECE)))
    elif key in _LISTS:
        for _ in range(unpacker.read_array_header()):
            unpacker.skip()
    else:
        unpacker.skip()


def _header(path: Path, vocab: Vocab) -> Tuple[List[int], numpy.ndarray, Set[str]]:
    """The attrs, the doc lengths and the field names of a DocBin; its strings go into `vocab`."""
    attrs, lengths, fields = None, None, set()
    with contextlib.ExitStack() as stack:
        unpacker = _unpacker(stack, path)
        for _ in range(unpacker.read_map_header()):
            key = unpacker.unpack()
            fields.add(key)
            if key == "attrs":
                attrs = list(unpacker.unpack())
            elif key == "lengths":
                lengths = numpy.frombuffer(_read_exact(unpacker, _blob_size(unpacker)), dtype="int32")
            elif key == "strings":
                for _ in range(unpacker.read_array_header()):
                    vocab.strings.add(unpacker.unpack())
            else:
                _skip(unpacker, key)
    if attrs is None or lengths is None or not {"tokens", "spaces", "cats", "strings"} <= fields:
        raise ValueError("a field is missing")
    return attrs, lengths, fields


def _field(stack: contextlib.ExitStack, path: Path, name: str):
    """An Unpacker at the value of the field `name`, through a decompressor of its own."""
    unpacker = _unpacker(stack, path)
    for _ in range(unpacker.read_map_header()):
        key = unpacker.unpack()
        if key == name:
            return unpacker
        _skip(unpacker, key)
    raise KeyError(name)


def stream_docs(path: Union[str, Path], vocab: Optional[Vocab] = None) -> Iterator[Doc]:
    """The docs of a .spacy file, as `read_docs` reads them, decoded BLOCK_DOCS at a time.

    The file is checked (and its strings read) at the call, so that a missing or broken file is an InputError
    before any work; a file that breaks further on is one when the reading gets there.
    """
    path = Path(path)
    _check_file(path)
    vocab = vocab or Vocab()
    with _reading(path):
        attrs, lengths, fields = _header(path, vocab)
    return _stream(path, vocab, attrs, lengths, fields)


def _stream(path: Path, vocab: Vocab, attrs: List[int], lengths: numpy.ndarray, fields: Set[str]) -> Iterator[Doc]:
    ops = NumpyOps()
    n_tokens = int(lengths.sum())
    with contextlib.ExitStack() as stack:
        with _reading(path):
            tokens, spaces = _field(stack, path, "tokens"), _field(stack, path, "spaces")
            if (_blob_size(tokens), _blob_size(spaces)) != (n_tokens * len(attrs) * 8, n_tokens):
                raise ValueError("the token rows do not match the doc lengths")
            lists = {name: _field(stack, path, name) for name in _PER_DOC if name in fields}
            if any(unpacker.read_array_header() != len(lengths) for unpacker in lists.values()):
                raise ValueError("a list does not hold one item a doc")
        for start in range(0, len(lengths), BLOCK_DOCS):
            counts = lengths[start : start + BLOCK_DOCS]
            size = int(counts.sum())
            with _reading(path):  # fill a DocBin as DocBin.from_bytes does, with one block of docs
                block = DocBin(store_user_data=True)
                block.attrs = attrs  # type: ignore[assignment]  # typed as names; DocBin holds their ids, as here
                rows = numpy.frombuffer(_read_exact(tokens, size * len(attrs) * 8), dtype="uint64")
                block.tokens = ops.unflatten(rows.reshape((size, len(attrs))), counts)
                flags = numpy.frombuffer(_read_exact(spaces, size), dtype=bool)
                block.spaces = ops.unflatten(flags.reshape((size, 1)), counts)
                items = {name: [unpacker.unpack() for _ in counts] for name, unpacker in lists.items()}
                block.cats = items["cats"]
                block.flags = items.get("flags", [{} for _ in counts])
                block.span_groups = items.get("span_groups", [b"" for _ in counts])
                block.user_data = items.get("user_data", [None for _ in counts])
                docs = list(block.get_docs(vocab))  # its strings are in the vocab already
            yield from docs


class DocBinWriter:
    """Write docs to a .spacy file a chunk at a time: the file `write_docs` would write with all of them.

    Use it as a context manager. `add` appends each field of a chunk of docs to a part file in a hidden folder
    beside `path`; leaving the block without an error joins the parts into `path`, whole or not at all. The
    folder goes away however the block ends (a killed process leaves it: `.<name>.*.parts`).
    """

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.attrs = DocBin().attrs
        self.lengths = array("i")  # int32, as DocBin stores them
        self.strings: Set[str] = set()
        self.packer = srsly.msgpack.Packer(use_bin_type=True)
        self.parts: Dict[str, BinaryIO] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> "DocBinWriter":
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            folder = Path(self._stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f".{self.path.name}.", suffix=".parts", dir=self.path.parent)
            ))
            for name in ("tokens", "spaces") + _PER_DOC:
                self.parts[name] = self._stack.enter_context((folder / name).open("w+b"))
        except OSError as err:
            self._stack.close()
            raise WriteError(self.path, err) from None
        return self

    def __exit__(self, exc_type, *exc) -> None:
        with self._stack:
            if exc_type is None:
                self._join()

    def add(self, docs: Iterable[Doc]) -> None:
        """Append `docs`, with their extension values (user data)."""
        chunk = DocBin(docs=docs, store_user_data=True)
        if not len(chunk):
            return
        try:
            self.parts["tokens"].write(numpy.vstack(chunk.tokens).tobytes("C"))
            self.parts["spaces"].write(numpy.vstack(chunk.spaces).tobytes("C"))
            for name in _PER_DOC:
                self.parts[name].write(b"".join(self.packer.pack(item) for item in getattr(chunk, name)))
        except OSError as err:
            raise WriteError(self.path, err, "cannot write its parts beside it") from None
        if self.parts["tokens"].tell() > _MAX_BLOB:
            raise InputError(self.path, None, "more than 4 GB of token rows, more than one DocBin can hold: "
                                              "write the docs in parts (e.g. `generate --shard I/N`)")
        self.attrs = chunk.attrs
        self.lengths.extend(len(rows) for rows in chunk.tokens)
        self.strings.update(chunk.strings)

    def _join(self) -> None:
        """Write the msgpack map DocBin.to_bytes writes, field by field, through one compressor."""
        pack = self.packer.pack
        deflate = zlib.compressobj()
        lengths = self.lengths.tobytes()
        with open_atomic(self.path) as out:

            def put(data: bytes) -> None:
                out.write(deflate.compress(data))

            put(self.packer.pack_map_header(len(_ORDER)))
            put(pack("version") + pack(DocBin().version) + pack("attrs") + pack(self.attrs))
            for name in ("tokens", "spaces"):
                part = self.parts[name]
                put(pack(name) + _blob_header(part.tell()))
                self._copy(part, put)
            put(pack("lengths") + _blob_header(len(lengths)) + lengths)
            put(pack("strings") + self.packer.pack_array_header(len(self.strings)))
            for string in sorted(self.strings):
                put(pack(string))
            for name in _PER_DOC:
                put(pack(name) + self.packer.pack_array_header(len(self.lengths)))
                self._copy(self.parts[name], put)
            out.write(deflate.flush())

    @staticmethod
    def _copy(part: BinaryIO, put) -> None:
        part.seek(0)
        for data in iter(lambda: part.read(_PIECE), b""):
            put(data)
