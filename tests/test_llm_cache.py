"""The response cache: request keys, persistence, merging, and `cot-distill cache merge`."""
import pytest
from typer.testing import CliRunner

from llm_helpers import response, text
from spacy_cot_distill.cli import app
from spacy_cot_distill.llm import ResponseCache, request_key
from spacy_cot_distill.llm.cache import CacheError


def test_cache_keys_depend_on_model_params_and_messages():
    messages = [{"role": "user", "content": "hi"}]
    key = request_key("m", {"max_tokens": 5}, messages)
    assert key == request_key("m", {"max_tokens": 5}, [{"content": "hi", "role": "user"}])
    assert key != request_key("n", {"max_tokens": 5}, messages)
    assert key != request_key("m", {"max_tokens": 6}, messages)
    assert key != request_key("m", {"max_tokens": 5}, [{"role": "user", "content": "hi!"}])


def test_cache_persists_and_merges(tmp_path):
    with ResponseCache(tmp_path / "a.sqlite") as cache:
        cache.put("k1", "m", response("one", 4))
        cache.put("k2", "m", response("two", 6))
    with ResponseCache(tmp_path / "b.sqlite") as cache:
        cache.put("k2", "m", response("two again"))
        cache.put("k3", "m", response("three"))
    with ResponseCache(tmp_path / "a.sqlite") as cache:
        assert cache.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert cache.get("k1") == response("one", 4)
        assert cache.get("missing") is None
        assert cache.mean_completion_tokens("m") == 5
        assert cache.merge(tmp_path / "b.sqlite") == 1
        assert cache.get("k2") == response("two", 6)  # a key already present is kept
        assert cache.cached_keys(["k1", "k3", "k4"]) == {"k1", "k3"}
        with pytest.raises(CacheError, match="missing.sqlite: no such cache file"):
            cache.merge(tmp_path / "missing.sqlite")


def test_cache_merge_command(tmp_path):
    for name, key in (("a", "k1"), ("b", "k2")):
        with ResponseCache(tmp_path / f"{name}.sqlite") as cache:
            cache.put(key, "m", response(key))
    result = CliRunner().invoke(app, ["cache", "merge", str(tmp_path / "all.sqlite"), str(tmp_path / "a.sqlite"), str(tmp_path / "b.sqlite")])
    assert result.exit_code == 0, result.output
    with ResponseCache(tmp_path / "all.sqlite") as cache:
        assert cache.cached_keys(["k1", "k2"]) == {"k1", "k2"}
    result = CliRunner().invoke(app, ["cache", "merge", str(tmp_path / "all.sqlite"), str(tmp_path / "nope.sqlite")])
    assert result.exit_code == 1 and "nope.sqlite" in text(result)
