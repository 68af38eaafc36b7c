"""An on-disk cache of raw LLM responses (SQLite, WAL), written as each answer arrives."""
import hashlib
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Union

SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    response TEXT NOT NULL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS batches (
    batch_id TEXT PRIMARY KEY,
    keys TEXT NOT NULL,
    created REAL NOT NULL,
    done INTEGER NOT NULL DEFAULT 0
);
"""
# SQLite caps the variables of one statement; stay well below it
_CHUNK = 900


def request_key(model: str, params: Mapping[str, Any], messages: List[Dict[str, Any]]) -> str:
    """The sha256 of model, generation parameters and messages: equal requests share one cached answer."""
    payload = json.dumps({"model": model, "params": dict(params), "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf8")).hexdigest()


class ResponseCache:
    """Raw response JSON and token usage per request key; each put is committed at once, so SIGKILL loses nothing."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode survives a killed process (not a power cut) and keeps commits cheap
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.conn.executescript(SCHEMA)

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.conn.close()

    def __len__(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def put(self, key: str, model: str, response: Dict[str, Any]) -> None:
        """Store a response (the parsed JSON body) with its token usage."""
        usage = response.get("usage") or {}
        self.conn.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
            (key, model, json.dumps(response, ensure_ascii=False), usage.get("prompt_tokens"),
             usage.get("completion_tokens"), time.time()),
        )

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> Dict[str, Dict[str, Any]]:
        """The cached responses of those keys that have one."""
        return {key: json.loads(response) for key, response in self._select("key, response", keys)}

    def cached_keys(self, keys: Iterable[str]) -> Set[str]:
        """Those keys that have a cached response."""
        return {key for key, in self._select("key", keys)}

    def _select(self, columns: str, keys: Iterable[str]) -> Iterator[tuple]:
        keys = list(dict.fromkeys(keys))
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i : i + _CHUNK]
            yield from self.conn.execute(
                f"SELECT {columns} FROM responses WHERE key IN ({','.join('?' * len(chunk))})", chunk
            )

    def mean_completion_tokens(self, model: str) -> Optional[float]:
        """The mean completion tokens of this model's cached answers, for cost estimates."""
        return self.conn.execute(
            "SELECT AVG(completion_tokens) FROM responses WHERE model = ? AND completion_tokens IS NOT NULL", (model,)
        ).fetchone()[0]

    def add_batch(self, batch_id: str, keys: List[str]) -> None:
        """Remember a submitted batch job, so a later run collects it instead of paying again."""
        self.conn.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?, 0)", (batch_id, json.dumps(keys), time.time()))

    def pending_batches(self) -> Dict[str, List[str]]:
        rows = self.conn.execute("SELECT batch_id, keys FROM batches WHERE done = 0 ORDER BY created")
        return {batch_id: json.loads(keys) for batch_id, keys in rows}

    def finish_batch(self, batch_id: str) -> None:
        self.conn.execute("UPDATE batches SET done = 1 WHERE batch_id = ?", (batch_id,))

    def merge(self, other: Union[str, Path]) -> int:
        """Copy the responses of another cache file that this one lacks; return how many were added."""
        other = Path(other)
        if not other.is_file():
            raise FileNotFoundError(f"No cache file {other}")
        before = len(self)
        self.conn.execute("ATTACH DATABASE ? AS other", (str(other),))
        try:
            self.conn.execute("INSERT OR IGNORE INTO responses SELECT * FROM other.responses")
        finally:
            self.conn.execute("DETACH DATABASE other")
        return len(self) - before
