"""An on-disk cache of raw LLM responses (SQLite, WAL), written as each answer arrives.

Runs that share a cache file claim a prompt before asking it (the `claims` table), so two runs never pay
twice for one prompt; a claim whose run died (its pid is gone, or it stopped renewing the claim) expires.
"""
import contextlib
import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Set, Tuple, Union

from ..errors import InputError

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
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    renewed REAL NOT NULL
);
"""
# SQLite caps the variables of one statement; stay well below it
_CHUNK = 900
# a live run renews its claims every CLAIM_RENEW seconds; one not renewed for CLAIM_TTL seconds is abandoned
CLAIM_RENEW = 10.0
CLAIM_TTL = 60.0
HOST = socket.gethostname()


class CacheError(InputError):
    """A cache file that cannot be opened, read or written, named with what to do."""

    def __init__(self, path: Union[str, Path], message: str):
        super().__init__(path, None, message)


def request_key(model: str, params: Mapping[str, Any], messages: List[Dict[str, Any]]) -> str:
    """The sha256 of model, generation parameters and messages: equal requests share one cached answer."""
    payload = json.dumps({"model": model, "params": dict(params), "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf8")).hexdigest()


def has_content(response: Dict[str, Any]) -> bool:
    """Whether a chat completion holds an answer: an empty or null message is no answer (it is asked again)."""
    try:
        content = response["choices"][0]["message"].get("content")
    except (TypeError, KeyError, IndexError, AttributeError):
        return False
    return isinstance(content, str) and bool(content.strip())


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class ResponseCache:
    """Raw response JSON and token usage per request key; each put is committed at once, so SIGKILL loses nothing."""

    def __init__(self, path: Union[str, Path]):
        self.path = Path(path)
        self.owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        if self.path.is_dir():
            raise CacheError(self.path, "is a directory, not a cache file: pass a file path with --cache")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise CacheError(self.path, f"cannot create its folder ({err.strerror}): pass a writable --cache path") from None
        try:
            self.conn = sqlite3.connect(str(self.path), isolation_level=None)
        except sqlite3.Error as err:
            raise CacheError(self.path, f"cannot open the cache ({err}): pass a writable --cache path") from None
        try:
            self.conn.execute("PRAGMA busy_timeout=30000")
            self.conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode survives a killed process (not a power cut) and keeps commits cheap
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self.conn.executescript(SCHEMA)
            self.conn.execute("SELECT COUNT(*) FROM responses").fetchone()
        except sqlite3.Error as err:
            self.conn.close()
            raise CacheError(self.path, f"{self._problem(err)}: move it away or pass another --cache") from None

    @staticmethod
    def _problem(err: sqlite3.Error) -> str:
        text = str(err)
        if "not a database" in text or "malformed" in text:
            return f"not a readable SQLite cache ({text})"
        return f"cannot use the cache ({text})"

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.release_all()
        self.conn.close()

    def __len__(self) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def put(self, key: str, model: str, response: Dict[str, Any]) -> None:
        """Store a response (the parsed JSON body) with its token usage, and drop this run's claim on it."""
        usage = response.get("usage") or {}
        with self._write("store an answer"):
            self.conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)",
                (key, model, json.dumps(response, ensure_ascii=False), usage.get("prompt_tokens"),
                 usage.get("completion_tokens"), time.time()),
            )
            self.conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    @contextlib.contextmanager
    def _write(self, what: str) -> Iterator[None]:
        """One transaction (BEGIN IMMEDIATE: the write lock before anything is read), all of it or nothing; a
        failed write (a full disk, a broken file) becomes a CacheError saying what to do."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
            yield
            self.conn.execute("COMMIT")
        except BaseException as err:
            self._rollback()
            if not isinstance(err, sqlite3.Error):
                raise
            raise CacheError(self.path, f"could not {what} ({err}): free disk space (or fix the file) and run the "
                                        "same command again; the answers stored before are kept") from None

    def _rollback(self) -> None:
        try:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        except sqlite3.Error:  # SQLite rolls back by itself where it cannot
            pass

    def get(self, key: str) -> Optional[Dict[str, Any]]:
        return self.get_many([key]).get(key)

    def get_many(self, keys: Iterable[str]) -> Dict[str, Dict[str, Any]]:
        """The cached answers of those keys that have one (an empty answer left by older versions is none)."""
        found = {key: json.loads(response) for key, response in self._select("key, response", keys)}
        return {key: response for key, response in found.items() if has_content(response)}

    def cached_keys(self, keys: Iterable[str]) -> Set[str]:
        """Those keys that have a cached answer."""
        return set(self.get_many(keys))

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

    # -- claims: which run is asking which prompt now

    def claim(self, key: str) -> Tuple[Optional[Dict[str, Any]], Optional[str]]:
        """Claim a prompt before asking it: (its answer, None) if another run answered it meanwhile, (None, the
        owner) if a live run holds it, else (None, None) and the claim is ours."""
        now = time.time()
        with self._write("claim a prompt"):
            row = self.conn.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
            if row is not None and has_content(json.loads(row[0])):
                return json.loads(row[0]), None
            row = self.conn.execute("SELECT owner, host, pid, renewed FROM claims WHERE key = ?", (key,)).fetchone()
            if row is not None and row[0] != self.owner and self._live(row[1], row[2], row[3], now):
                return None, f"pid {row[2]} on {row[1]}"
            self.conn.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?)", (key, self.owner, HOST, os.getpid(), now))
        return None, None

    @staticmethod
    def _live(host: str, pid: int, renewed: float, now: float) -> bool:
        if now - renewed > CLAIM_TTL:
            return False
        return host != HOST or _pid_alive(pid)

    def claim_holder(self, key: str) -> Optional[str]:
        """The live run (other than this one) that holds a claim on this prompt, if any."""
        row = self.conn.execute("SELECT owner, host, pid, renewed FROM claims WHERE key = ?", (key,)).fetchone()
        if row is None or row[0] == self.owner or not self._live(row[1], row[2], row[3], time.time()):
            return None
        return f"pid {row[2]} on {row[1]}"

    def release(self, key: str) -> None:
        """Give up this run's claim on a prompt it could not get answered."""
        with self._write("release a prompt"):
            self.conn.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, self.owner))

    def renew_claims(self) -> None:
        """Tell other runs this one is alive and still asking its claimed prompts."""
        try:
            self.conn.execute("UPDATE claims SET renewed = ? WHERE owner = ?", (time.time(), self.owner))
        except sqlite3.Error:  # a full disk: the claims expire, and the next put names the problem
            pass

    def release_all(self) -> None:
        """Give up every claim of this run (at its end, however it ends)."""
        try:
            self.conn.execute("DELETE FROM claims WHERE owner = ?", (self.owner,))
        except sqlite3.Error:  # a full disk or a broken file: the claims expire by themselves
            pass

    # -- batch jobs

    def add_batch(self, batch_id: str, keys: List[str]) -> None:
        """Remember a submitted batch job, so a later run collects it instead of paying again."""
        self.conn.execute("INSERT OR REPLACE INTO batches VALUES (?, ?, ?, 0)", (batch_id, json.dumps(keys), time.time()))

    def pending_batches(self) -> Dict[str, List[str]]:
        rows = self.conn.execute("SELECT batch_id, keys FROM batches WHERE done = 0 ORDER BY created")
        return {batch_id: json.loads(keys) for batch_id, keys in rows}

    def batch_keys(self, batch_id: str) -> List[str]:
        """The keys a batch job asked (one batch's at a time: a corpus's batches may hold millions)."""
        row = self.conn.execute("SELECT keys FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
        return [] if row is None else json.loads(row[0])

    def finish_batch(self, batch_id: str) -> None:
        self.conn.execute("UPDATE batches SET done = 1 WHERE batch_id = ?", (batch_id,))

    def merge(self, other: Union[str, Path]) -> int:
        """Copy the answers of another cache file that this one lacks; return how many were added.

        The other file is read as it is on disk. A cache copied while its run was still writing may keep its
        newest answers in the `-wal` file beside it: a copy that holds no cache tables at all is refused.
        """
        other = Path(other)
        if not other.is_file():
            raise CacheError(other, "no such cache file" + (" (a directory)" if other.is_dir() else ""))
        wal = other.with_name(other.name + "-wal")
        wal_missing = not wal.exists()  # before SQLite opens the file (which may create one)
        try:
            source = sqlite3.connect(f"{other.resolve().as_uri()}?mode=ro", uri=True)
        except sqlite3.Error as err:
            raise CacheError(other, f"cannot open it ({err})") from None
        try:
            tables = {name for name, in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "responses" not in tables:
                hint = f"{wal.name} is missing" if wal_missing else "it holds no answers table"
                raise CacheError(other, f"holds no answers ({hint}): copy the cache together with its -wal file, "
                                        "or copy it after its run has ended")
            rows = source.execute("SELECT key, model, response, prompt_tokens, completion_tokens, created FROM responses").fetchall()
        except sqlite3.Error as err:
            raise CacheError(other, f"{self._problem(err)}: merge only files written by cot-distill") from None
        finally:
            source.close()
        answered = self.cached_keys(row[0] for row in rows)
        new = [row for row in rows if row[0] not in answered and has_content(json.loads(row[2]))]
        with self._write("store the merged answers"):
            self.conn.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?)", new)
        return len(new)
