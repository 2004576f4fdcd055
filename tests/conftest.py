"""Shared fixtures: an isolated cache and plugin set for the whole session, and the offline datasets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory):
    """A fresh cache folder, only our own plugin (no user-installed third-party ones), and one torch
    thread: the test models are tiny, and on 2 shared cores threading costs more than it gives."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLIDE_BENCH_CACHE", str(tmp_path_factory.mktemp("cache")))
        mp.setenv("SLIDE_BENCH_LOAD_PLUGINS", "slide_plugin")
        yield
    torch.set_num_threads(threads)


def offline_datasets() -> Path:
    """The offline datasets folder: ``$SLIDE_TEST_DATASETS``, else ``<repo>/../shared/datasets``.

    Missing, it skips the calling test, except under CI (``CI=true``) where it fails."""
    path = Path(os.environ.get("SLIDE_TEST_DATASETS") or REPO.parent / "shared" / "datasets")
    if not path.is_dir():
        message = f"offline datasets folder not found: {path} (set SLIDE_TEST_DATASETS)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def shared_datasets() -> Path:
    return offline_datasets()
