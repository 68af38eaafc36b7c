"""What the LLM tests share: the test key, small docs, client settings for a loopback server, canned answers."""
from spacy.tokens import Doc, DocBin
from spacy.vocab import Vocab

from spacy_cot_distill.llm import LLMSettings

API_KEY = "sk-test-7f3c9a1e-DO-NOT-WRITE"


def make_docs(n, caption=True):
    vocab = Vocab()
    docs = []
    for i in range(n):
        doc = Doc(vocab, words=["RT", "@user", f"Player{i}", "wins", "in", "Boston"])
        doc._.doc_id = f"tweet{i}"
        doc._.image_id = f"tweet{i}.jpg"
        doc._.caption = f"a photo of player {i}" if caption else None
        docs.append(doc)
    return docs


def settings(server, **kwargs):
    # tiny timeouts and backoff keep the fault tests fast; openai's own retry waits are 0.5 s and up
    return LLMSettings(**{"model": "test-model", "base_url": server.base_url, "timeout": 0.5, "max_retries": 2,
                          "backoff_base": 0.01, "concurrency": 4, **kwargs})


def write_docs(path, docs):
    DocBin(docs=docs, store_user_data=True).to_disk(path)
    return path


def text(result) -> str:
    """The CLI output with wasabi's line wrapping undone."""
    return " ".join(result.output.split())


def response(text, completion_tokens=3):
    return {"choices": [{"message": {"content": text}}], "usage": {"prompt_tokens": 2, "completion_tokens": completion_tokens}}
