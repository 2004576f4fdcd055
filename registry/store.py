"""The results store: one SQLite row per finished run, written the moment it finishes (WAL mode).

A run is identified by ``key``, the hash of its fully resolved configuration; a key already
stored with status ``ok`` is skipped on the next invocation (resume) unless forced. An ``ok`` row
without a finite value of every required metric (:data:`registry.components.REQUIRED_METRICS`; only a
store written before that check can hold one) is neither shown nor counted as done: :meth:`ResultsStore.frame`
skips it with a note on stderr, and the next run redoes it.
"""

from __future__ import annotations

import json
import math
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from registry.components import REQUIRED_METRICS
from registry.numerics import unusable_rows

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
    finished_at TEXT NOT NULL DEFAULT (datetime('now'))
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
           "config", "metrics", "diagnostics", "error", "device", "versions", "wall_time_s", "peak_memory_mb")
JSON_COLUMNS = ("config", "metrics", "diagnostics", "versions")


class ResultsStore:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            columns = {name for _, name, *_ in db.execute("PRAGMA table_info(runs)")}
            if "peak_memory_mb" not in columns:  # a store written before this column existed
                db.execute("ALTER TABLE runs ADD COLUMN peak_memory_mb REAL")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def done_keys(self, device: str | None = None) -> set[str]:
        """Keys not to run again: ``ok`` rows with every required metric finite, and ``oom`` rows
        recorded on ``device``."""
        with self._connect() as db:
            rows = db.execute("SELECT key, status, metrics FROM runs WHERE status = 'ok' OR (status = 'oom' AND "
                              "device = ?)", (device,)).fetchall()
        return {key for key, status, metrics in rows if status == "oom" or _complete(metrics)}

    def write(self, row: dict[str, Any]) -> None:
        """Insert or replace one run, committed at once."""
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
        for column in JSON_COLUMNS:
            df[column] = df[column].map(json.loads)
        metrics = pd.json_normalize(df["metrics"].tolist()).set_index(df.index) if len(df) else pd.DataFrame()
        metrics = metrics.rename(columns={c: f"metrics.{c}" for c in metrics.columns if c in df.columns})
        df = pd.concat([df.drop(columns=["metrics"]), metrics], axis=1)
        bad = unusable_rows(df, REQUIRED_METRICS)
        if bad.any():
            print(f"slide-bench: note: skipping {int(bad.sum())} run(s) stored as ok without a finite "
                  f"{' / '.join(REQUIRED_METRICS)} in {self.path} (the next run redoes them): "
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


def _complete(metrics: str) -> bool:
    """Whether a stored metrics JSON holds every required metric as a finite number."""
    try:
        values = json.loads(metrics)
    except ValueError:
        return False
    return isinstance(values, dict) and all(
        isinstance(values.get(name), (int, float)) and math.isfinite(values[name]) for name in REQUIRED_METRICS)
