"""Test a plugin without installing it: a plugin manager made of the plugins you give (no entry-point
scan, no environment variable), a private cache and results store, and the ``slide-bench`` command
line run in-process with them::

    from registry.testing import plugin_bench
    import my_plugin

    def test_my_slimmer(tmp_path):
        with plugin_bench(my_plugin, entry_points=["slide_plugin"], folder=tmp_path) as bench:
            result = bench.run("run", "--slim", "important-half", "--preset", "quick")
            assert result.code == 0, result.err
            assert bench.results()["status"].tolist() == ["ok"]

``entry_points`` names installed plugins to load as well (``slide_plugin``: the built-in pretrainers,
slimmers and heads); the core's own plugins (datasets Cora..ogbn-arxiv, the sub-commands, shipped
specs, the ``stride``/``random`` selection rules) are always there. To test discovery itself
(entry points, ``SLIDE_BENCH_PLUGINS_DIR``), run commands inside :func:`environment_plugins`.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pluggy

from registry.plugins import build_registry, forget_plugin_manager, plugin_manager_of, plugin_module, using
from registry.registry import Registry

if TYPE_CHECKING:
    import pandas


@dataclass
class Result:
    """What one command returned and printed."""

    code: int
    out: str
    err: str


@dataclass
class Bench:
    """A plugin manager with a private ``folder`` holding the encoder cache and the results store."""

    plugin_manager: pluggy.PluginManager
    folder: Path

    @property
    def store(self) -> Path:
        """The results store that commands write by default."""
        return self.folder / "results.sqlite"

    def registry(self) -> Registry:
        """Everything the plugins registered (runs every ``register_*`` hook and its checks)."""
        return build_registry(self.plugin_manager)

    def run(self, *argv: str) -> Result:
        """``slide-bench ARGV`` in-process with this bench's plugins; stdout and stderr are captured."""
        out, err = io.StringIO(), io.StringIO()
        from registry.cli import main

        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(argv), plugin_manager=self.plugin_manager)
            except SystemExit as exc:  # argparse: usage errors (2), --help and --version (0)
                code = exc.code if isinstance(exc.code, int) else 1
        return Result(code, out.getvalue(), err.getvalue())

    def results(self) -> "pandas.DataFrame":
        """The stored runs, one row each (columns as ``ResultsStore.frame``)."""
        from registry.store import ResultsStore

        return ResultsStore(self.store).frame()


@contextlib.contextmanager
def plugin_bench(*plugins: object, entry_points: tuple[str, ...] | list[str] = (),
                 folder: str | os.PathLike | None = None) -> Iterator[Bench]:
    """A :class:`Bench` with ``plugins`` (modules or objects with ``@hookimpl`` functions, each named
    after its module or class, or ``(name, plugin)`` pairs) plus the named installed ``entry_points``. ``folder`` (default: a
    temporary folder, removed afterwards) replaces ``$SLIDE_BENCH_CACHE`` inside the block, where this
    manager is the one in use (its selection rules, for instance); nothing of it is left afterwards."""
    pm = plugin_manager_of(dict(p if isinstance(p, tuple) else (plugin_module(p), p) for p in plugins), entry_points)
    with contextlib.ExitStack() as stack:
        stack.enter_context(using(pm))  # in the block, direct calls (slimmers resolving rule names) see these plugins
        path = Path(folder) if folder is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        previous = os.environ.get("SLIDE_BENCH_CACHE")
        os.environ["SLIDE_BENCH_CACHE"] = str(path)
        try:
            yield Bench(pm, path)
        finally:
            if previous is None:
                os.environ.pop("SLIDE_BENCH_CACHE", None)
            else:
                os.environ["SLIDE_BENCH_CACHE"] = previous


@contextlib.contextmanager
def environment_plugins() -> Iterator[None]:
    """Inside the block, commands build their plugin manager from the environment as ``slide-bench``
    does (entry points, ``SLIDE_BENCH_*`` variables), afresh on entry; for testing plugin discovery."""
    forget_plugin_manager()
    try:
        yield
    finally:
        forget_plugin_manager()
