"""Corpus files to docs and back: converters, the doc extensions they fill, DocBin reading and writing."""
from .extensions import register_extensions
from .convert import convert_jsonl, convert_mnre, convert_twitter
from .docbin import DocBinWriter, read_docs, stream_docs, write_docs
from .jsonl import read_jsonl
from .knowledge import attach_knowledge, read_captions, read_knowledge
from .mnre import read_mnre
from .summary import ConversionSummary
from .twitter import read_twitter

__all__ = [
    "register_extensions",
    "read_twitter",
    "read_mnre",
    "read_jsonl",
    "read_knowledge",
    "read_captions",
    "attach_knowledge",
    "ConversionSummary",
    "convert_twitter",
    "convert_mnre",
    "convert_jsonl",
    "read_docs",
    "write_docs",
    "stream_docs",
    "DocBinWriter",
]
