"""Integrity of the cached files other than encoders (:mod:`registry.cache` has those): dataset
mirrors (copies of a read-only data root) and the ``processed/`` files the PyG and OGB loaders derive
from raw files.

A sealed folder holds a manifest: its key (what it was made from: the loader, the library's version and
the SHA-256 of every source file) and the SHA-256 of each of its own files. Before a loader reads it,
both are verified; a folder that fails (a file changed, missing or added, sources that differ, no
manifest) is set aside as ``<name>.bad-<time>-<pid>`` (never deleted), made again by the loader and a
one-line warning names it. A mirrored file that differs from its source is set aside and copied again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from filelock import FileLock

MANIFEST = "slide-bench-manifest.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def digests(folder: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """``{relative path: SHA-256}`` of every file under ``folder`` (top-level names in ``skip`` and
    anything set aside excluded)."""
    found = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
        relative = path.relative_to(folder)
        if path.is_file() and relative.parts[0] not in skip and ".bad-" not in str(relative):
            found[relative.as_posix()] = sha256(path)
    return found


def set_aside(path: Path, what: str, reason: str) -> Path:
    """Rename ``path`` beside itself as ``<name>.bad-<time>-<pid>`` and warn in one line."""
    aside = path.with_name(f"{path.name}.bad-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    os.replace(path, aside)
    print(f"slide-bench: warning: {what} {path} is damaged ({reason}); set aside as {aside.name}, making it again",
          file=sys.stderr, flush=True)
    return aside


def _problem(folder: Path, key: dict[str, Any]) -> str | None:
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        return "no manifest: made by an older version or by hand"
    except (OSError, ValueError) as exc:
        return f"unreadable manifest: {type(exc).__name__}"
    if not isinstance(manifest, dict) or manifest.get("key") != key:
        return "made from other sources or by another library version"
    files = digests(folder, skip=(MANIFEST,))
    if files != manifest.get("files"):
        changed = sorted(set(files) ^ set(manifest.get("files") or {}) |
                         {name for name in files if files[name] != (manifest.get("files") or {}).get(name)})
        return f"checksum mismatch: {', '.join(changed[:3])}"
    return None


@contextlib.contextmanager
def sealed(folder: Path, key: Callable[[], dict[str, Any]], what: str, lock: Path) -> Iterator[None]:
    """Around a loader that reads ``folder`` (made from the sources ``key()`` describes, computed when
    checking and again when sealing: a loader may download its sources) and makes it when missing:
    verified before (set aside when damaged), sealed with its manifest after a successful load. The
    file ``lock`` keeps concurrent workers from checking while another one writes."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(lock):
        if folder.exists():
            problem = _problem(folder, key())
            if problem:
                set_aside(folder, what, problem)
        yield
        if folder.is_dir() and not (folder / MANIFEST).exists():
            manifest = {"key": key(), "files": digests(folder, skip=(MANIFEST,))}
            tmp = folder / f"{MANIFEST}.tmp{os.getpid()}"
            tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
            os.replace(tmp, folder / MANIFEST)


def mirror_tree(source: Path, copy: Path, skip: tuple[str, ...] = ("processed",)) -> None:
    """Make ``copy`` hold every file of ``source`` (top-level folders in ``skip`` excepted): a missing
    file is copied; a copied one whose bytes differ from the source's is set aside and copied again."""
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        if relative.parts[0] in skip or not path.is_file():
            continue
        target = copy / relative
        if target.exists():
            if sha256(target) == sha256(path):
                continue
            set_aside(target, "mirrored dataset file", f"differs from its source {path}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
        shutil.copy2(path, tmp)
        os.replace(tmp, target)
