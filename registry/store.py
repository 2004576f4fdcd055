"""The results store: one SQLite row per finished run, written the moment it finishes (WAL mode).

A run is identified by ``key``, the hash of its fully resolved configuration; a key already
stored with status ``ok`` is skipped on the next invocation (resume) unless forced. Each row records
its ``task`` and the metrics it ``required`` (its task's and its head's; rows of a store written before
tasks existed: node classification's, :data:`registry.components.REQUIRED_METRICS`). An ``ok`` row without
a finite value of every required metric (only a store written before that check can hold one) is neither
shown nor counted as done: :meth:`ResultsStore.frame` skips it with a note on stderr, and the next run redoes it.

``ResultsStore(path)`` opens a store to write (created by its first write, so that bad input found
before any run leaves no file behind); ``read_only=True`` opens an
existing one without ever creating or changing it, so a read-only file can be read. A path that is a
folder, a file that is not SQLite, an unwritable store and a store locked longer than ``timeout``
seconds are :class:`registry.errors.StoreError`: one line, exit code 2.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from registry.components import REQUIRED_METRICS
from registry.errors import StoreError
from registry.numerics import unusable_rows
from registry.tasks import NODE

if TYPE_CHECKING:
    import pandas as pd

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key TEXT PRIMARY KEY,
    status TEXT NOT NULL,            -- ok | failed | oom
    dataset TEXT NOT NULL,
    pretrainer TEXT NOT NULL,
    slimmer TEXT NOT NULL,
    head TEXT NOT NULL,
    seed INTEGER NOT NULL,           -- pretraining seed
    finetune_seed INTEGER NOT NULL,
    preset TEXT NOT NULL,
    config TEXT NOT NULL,            -- JSON: the fully resolved configuration
    metrics TEXT NOT NULL,           -- JSON: scores, parameter counts, budget, timings
    diagnostics TEXT NOT NULL,       -- JSON: per-epoch records a head chose to log
    error TEXT,
    device TEXT NOT NULL,
    versions TEXT NOT NULL,          -- JSON: library versions
    wall_time_s REAL NOT NULL,
    peak_memory_mb REAL,             -- CUDA: peak allocated over the run; CPU: the process's peak RSS
    finished_at TEXT NOT NULL DEFAULT (datetime('now')),
    task TEXT NOT NULL DEFAULT 'node-classification',
    required TEXT                    -- JSON: the metrics an ok row holds (NULL: node classification's)
);
CREATE TABLE IF NOT EXISTS records (  -- analyses (CKA, parameter tables, ...): one row per record
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    config TEXT NOT NULL,
    record TEXT NOT NULL,
    written_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE INDEX IF NOT EXISTS records_kind_key ON records (kind, key);
"""

COLUMNS = ("key", "status", "dataset", "pretrainer", "slimmer", "head", "seed", "finetune_seed", "preset",
           "config", "metrics", "diagnostics", "error", "device", "versions", "wall_time_s", "peak_memory_mb",
           "task", "required")
JSON_COLUMNS = ("config", "metrics", "diagnostics", "versions", "required")
ADDED_COLUMNS = {"peak_memory_mb": "REAL", "task": "TEXT NOT NULL DEFAULT 'node-classification'", "required": "TEXT"}


class ResultsStore:
    def __init__(self, path: str | Path, read_only: bool = False, timeout: float = 30.0):
        self.path, self.read_only, self.timeout = Path(path), read_only, timeout
        if self.path.is_dir():
            raise StoreError(f"results store {self.path} is a folder, not a file: pass --store FILE")
        if read_only:
            if not self.path.is_file():
                raise StoreError(f"No results store at {self.path}: nothing was run or analysed into it yet "
                                 "(slide-bench run, matrix, analyze cka|params), or pass --store")
            with self._connect() as db:
                tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if "runs" not in tables:
                raise StoreError(f"{self.path} holds no slide-bench results (no 'runs' table)")
            return
        self._check_writable()
        self._ready = False
        if self.path.exists():  # an existing file: a store (migrated now), or one line saying what it is
            self.create()

    def create(self) -> None:
        """Create the tables (the file and its folder too, when missing) and migrate an older store; the
        first use does it (workers claiming cells in the file need it made first)."""
        self._ready = True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the folder of results store {self.path}: {exc.strerror}") from None
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            columns = {name for _, name, *_ in db.execute("PRAGMA table_info(runs)")}
            for column, declaration in ADDED_COLUMNS.items():  # a store written before this column existed
                if column not in columns:
                    db.execute(f"ALTER TABLE runs ADD COLUMN {column} {declaration}")

    def _check_writable(self) -> None:
        """The store, or the folder that will hold it (made at the first write), can be written."""
        folder = self.path.parent
        existing = next(p for p in (folder, *folder.parents) if p.exists() or p == p.parent)
        if not existing.is_dir():
            raise StoreError(f"cannot create the folder of results store {self.path}: {existing} is a file")
        for target in (existing, self.path):  # SQLite writes its journal beside the file
            if target.exists() and not _writable(target):
                raise StoreError(f"results store {self.path} is not writable ({target} is read-only); "
                                 "pass --store elsewhere")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection, committed and closed at the end; SQLite's errors become one-line StoreErrors."""
        if not self.read_only and not self._ready:  # the file is made by the first use, not by opening it:
            self.create()                           # bad input found before any run leaves no store behind
        try:
            if self.read_only:  # in a read-only folder SQLite cannot make its WAL index: read the file as is
                mode = "ro" if _writable(self.path.resolve().parent) else "ro&immutable=1"
                db = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode={mode}", uri=True, timeout=self.timeout)
            else:
                db = sqlite3.connect(self.path, timeout=self.timeout)
            with contextlib.closing(db), db:
                yield db
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise StoreError(f"results store {self.path} is locked by another process (waited "
                                 f"{self.timeout:g} s); try again when it finishes") from None
            raise StoreError(f"results store {self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a slide-bench results store (SQLite: {exc})") from None

    def done_keys(self, device: str | None = None) -> set[str]:
        """Keys not to run again: ``ok`` rows with every required metric finite, and ``oom`` rows
        recorded on ``device``."""
        if self._missing():
            return set()
        with self._connect() as db:
            required = "required" if "required" in self._columns(db) else "NULL"
            rows = db.execute(f"SELECT key, status, metrics, {required} FROM runs WHERE status = 'ok' OR "
                              "(status = 'oom' AND device = ?)", (device,)).fetchall()
        return {key for key, status, metrics, needed in rows if status == "oom" or _complete(metrics, needed)}

    @staticmethod
    def _columns(db: sqlite3.Connection) -> set[str]:
        return {name for _, name, *_ in db.execute("PRAGMA table_info(runs)")}

    def has_status(self, status: str) -> bool:
        if self._missing():
            return False
        with self._connect() as db:
            return db.execute("SELECT 1 FROM runs WHERE status = ? LIMIT 1", (status,)).fetchone() is not None

    def _missing(self) -> bool:
        """A writable store not created yet: reads find nothing, without creating it."""
        return not self.read_only and not self._ready and not self.path.exists()

    def write(self, row: dict[str, Any]) -> None:
        """Insert or replace one run, committed at once."""
        row = {"task": NODE, "required": list(REQUIRED_METRICS)} | row
        values = [json.dumps(row[c], default=str) if c in JSON_COLUMNS else row.get(c) for c in COLUMNS]
        with self._connect() as db:
            db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
                       values)

    def frame(self, keys: Iterable[str] | None = None) -> pd.DataFrame:
        """All runs in the order they finished (or those with the given keys, in that order) as a
        long frame; metrics expanded to columns (``metrics.<name>`` where a name is a column's)."""
        import pandas as pd

        with self._connect() as db:
            df = pd.read_sql_query("SELECT * FROM runs ORDER BY finished_at, rowid", db)
        if keys is not None:
            order = {key: i for i, key in enumerate(dict.fromkeys(keys))}
            df = df[df["key"].isin(order)].sort_values("key", key=lambda k: k.map(order)).reset_index(drop=True)
        if "task" not in df:  # a read-only store written before tasks existed
            df = df.assign(task=NODE, required=None)
        df["task"] = df["task"].fillna(NODE)
        for column in JSON_COLUMNS:
            df[column] = df[column].map(lambda text: json.loads(text) if isinstance(text, str) else None)
        df["required"] = df["required"].map(lambda names: tuple(names) if names else REQUIRED_METRICS)
        metrics = pd.json_normalize(df["metrics"].tolist()).set_index(df.index) if len(df) else pd.DataFrame()
        metrics = metrics.rename(columns={c: f"metrics.{c}" for c in metrics.columns if c in df.columns})
        df = pd.concat([df.drop(columns=["metrics"]), metrics], axis=1)
        bad = pd.Series(False, index=df.index)
        for required, part in df.groupby("required", sort=False):
            bad[part.index] = unusable_rows(part, required)
        if bad.any():
            names = "; ".join(" / ".join(required) for required in dict.fromkeys(df.loc[bad, "required"]))
            print(f"slide-bench: note: skipping {int(bad.sum())} run(s) stored as ok without a finite "
                  f"{names} in {self.path} (the next run redoes them): "
                  + ", ".join(df.loc[bad, "key"].str[:12]), file=sys.stderr)
            df = df[~bad].reset_index(drop=True)
        return df

    def write_records(self, kind: str, key: str, config: dict[str, Any], records: list[dict[str, Any]]) -> None:
        """Replace the records of one analysis (``kind``, ``key``) in one transaction."""
        with self._connect() as db:
            db.execute("DELETE FROM records WHERE kind = ? AND key = ?", (kind, key))
            db.executemany("INSERT INTO records (kind, key, config, record) VALUES (?, ?, ?, ?)",
                           [(kind, key, json.dumps(config, default=str), json.dumps(r, default=str)) for r in records])

    def records(self, kind: str) -> pd.DataFrame:
        """Every record of an analysis kind, one column per record field plus ``key``."""
        import pandas as pd

        with self._connect() as db:
            rows = db.execute("SELECT key, record FROM records WHERE kind = ? ORDER BY rowid", (kind,)).fetchall()
        return pd.DataFrame([{"key": key, **json.loads(record)} for key, record in rows])


def _complete(metrics: str, required: str | None) -> bool:
    """Whether a stored metrics JSON holds every metric of the ``required`` JSON list (None: node
    classification's) as a finite number."""
    try:
        values, names = json.loads(metrics), json.loads(required) if required else REQUIRED_METRICS
    except ValueError:
        return False
    return isinstance(values, dict) and all(
        isinstance(values.get(name), (int, float)) and math.isfinite(values[name]) for name in names)


def _writable(path: Path) -> bool:
    """Writable for us; ``os.access`` alone says yes to root even on an ``r-x`` folder."""
    return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)
