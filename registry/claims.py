"""Claims on cells in the results store: which process runs which cell right now.

A worker claims a cell (owner, host, pid, worker label, heartbeat, expiry) before running it, in
one ``BEGIN IMMEDIATE`` transaction that also checks the ``runs`` table, so two processes sharing
a store — any executors, any hosts that see the file — never run the same cell at once. A claim
whose heartbeat stopped for ``ttl`` seconds, or whose owner process on this host is gone, is
expired: the cell is free again.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Literal

from registry.store import ResultsStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL,       -- unique per claiming process
    host TEXT NOT NULL,
    pid INTEGER NOT NULL,
    worker TEXT NOT NULL,      -- what the progress display shows: pool-2, ray:10.0.0.3:4242, slurm:17_3
    claimed_at REAL NOT NULL,
    heartbeat REAL NOT NULL,
    expires REAL NOT NULL
);
"""
DONE = "status = 'ok' OR (status = 'oom' AND device = ?)"  # as ResultsStore.done_keys
State = Literal["claimed", "done", "busy"]


def process_alive(pid: int) -> bool:
    """Whether a process of this host runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust kill(0)
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@dataclass(frozen=True)
class Owner:
    worker: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


class Claims:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        ResultsStore(self.path).create()  # the claims read its runs table
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60, isolation_level=None)

    @staticmethod
    def _live(host: str, pid: int, expires: float, now: float) -> bool:
        return expires > now and (host != socket.gethostname() or process_alive(pid))

    def claim(self, key: str, owner: Owner, device: str, ttl: float, force: bool = False) -> State:
        """``claimed`` (now ours), ``done`` (a finished row exists; ignored with ``force``) or
        ``busy`` (another live owner holds it)."""
        now = time.time()
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            if not force and db.execute(f"SELECT 1 FROM runs WHERE key = ? AND ({DONE})", (key, device)).fetchone():
                db.execute("ROLLBACK")
                return "done"
            held = db.execute("SELECT owner, host, pid, expires FROM claims WHERE key = ?", (key,)).fetchone()
            if held and held[0] != owner.id and self._live(held[1], held[2], held[3], now):
                db.execute("ROLLBACK")
                return "busy"
            db.execute("INSERT OR REPLACE INTO claims VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                       (key, owner.id, owner.host, owner.pid, owner.worker, now, now, now + ttl))
            db.execute("COMMIT")
            return "claimed"
        finally:
            db.close()

    def heartbeat(self, owner: Owner, ttl: float) -> None:
        now = time.time()
        with self._connect() as db:
            db.execute("UPDATE claims SET heartbeat = ?, expires = ? WHERE owner = ?", (now, now + ttl, owner.id))

    def release(self, key: str, owner: Owner) -> None:
        with self._connect() as db:
            db.execute("DELETE FROM claims WHERE key = ? AND owner = ?", (key, owner.id))

    def running(self, keys: Iterable[str]) -> dict[str, str]:
        """Live claims among ``keys``: key → worker label."""
        wanted, now = set(keys), time.time()
        with self._connect() as db:
            rows = db.execute("SELECT key, worker, host, pid, expires FROM claims").fetchall()
        return {k: w for k, w, host, pid, exp in rows if k in wanted and self._live(host, pid, exp, now)}


class Heartbeat:
    """Keeps an owner's claims alive from a daemon thread while a cell runs."""

    def __init__(self, claims: Claims, owner: Owner, ttl: float):
        self.claims, self.owner, self.ttl = claims, owner, ttl
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="claim-heartbeat")

    def _beat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self.claims.heartbeat(self.owner, self.ttl)
            except sqlite3.Error:  # a busy store: the next beat tries again
                pass

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
