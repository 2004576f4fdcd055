"""The benchmark matrix: specs, resume, faults (failed, OOM, Ctrl-C, kill), and paper-shaped tables."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import matrix_plugin
from registry import cli
from registry.cache import EncoderCache
from registry.errors import ConfigError
from registry.plugins import build_registry, make_plugin_manager
from registry.runner import Runner
from registry.spec import MatrixSpec, filter_cells, shipped_specs
from registry.store import ResultsStore
from registry.tables import load_reference, paper_tables, render_tables

ROOT = Path(__file__).resolve().parents[1]
TINY = {"pretrain": {"epochs": 2, "num_hidden": 8, "num_heads": 2}}  # GraphMAE in milliseconds


@pytest.fixture(scope="module")
def registry():
    """The session's plugins (conftest: slide_plugin only) and the matrix test plugin."""
    pm = make_plugin_manager()
    pm.register(matrix_plugin, name="matrix_test")
    return build_registry(pm)


def make_runner(registry, tmp: Path) -> Runner:
    return Runner(registry, ResultsStore(tmp / "results.sqlite"), EncoderCache(tmp / "encoders"),
                  torch.device("cpu"), quiet=True)


def spec(**fields) -> MatrixSpec:
    raw = {"datasets": ["toy"], "pretrainers": ["graphmae"], "set": {**TINY, "head": {"epochs": 3}}} | fields
    return MatrixSpec.from_dict(raw, "test")


def rows(path: Path) -> pd.DataFrame:
    with sqlite3.connect(path) as db:
        return pd.read_sql_query("SELECT key, status, metrics, finished_at FROM runs", db)


@pytest.fixture(scope="module")
def finished(registry, tmp_path_factory):
    """One small matrix run to completion: two seeds, LP on three encoders, FT, and two faulty heads."""
    tmp = tmp_path_factory.mktemp("finished")
    runner = make_runner(registry, tmp)
    s = spec(seeds=[0, 1], labels={"original/linear": "LP", "original/full": "FT"},
             group=[{"slimmers": ["original", "half", "plugin-slim"], "heads": ["linear"]},
                    {"slimmers": ["original"], "heads": ["full", "boom", "oom"]}])
    cells = s.cells(registry)
    runner.run(cells)
    return runner, s, cells, tmp


def test_shipped_specs_parse(registry):
    assert {"quick", "table1", "table3", "table4", "table5", "table11"} <= set(shipped_specs())
    for name in shipped_specs():
        s = MatrixSpec.load(name)
        assert s.name == name and s.groups
        if name != "quick":
            assert all(len(g.axes["seeds"]) >= 5 for g in s.groups), name
    table3 = {(c.slimmer, c.head) for c in MatrixSpec.load("table3").cells(registry)}
    assert table3 == {("original", "linear"), ("original", "full"), ("2-half", "slide"), ("2-half", "slide-wo-de")}


def test_spec_groups_star_overrides_and_precedence(registry):
    s = spec(datasets=["toy", "Cora"], slimmers=["*"], heads=["linear"], seeds=[0, 1],
             overrides={"Cora": {"head.epochs": 7}},
             group=[{}, {"slimmers": ["original"], "heads": ["linear"], "set": {"head": {"lr": 0.5}}}])
    cells = s.cells(registry, {"pretrain": {"epochs": 4}})
    slimmers = {c.slimmer for c in cells}
    assert "plugin-slim" in slimmers and "original" in slimmers  # "*" picks up the plugin's strategy
    assert len(cells) == len(set(cells)) == 2 * 2 * len(registry.names("slimmer")) + 2 * 2
    cora = next(c for c in cells if c.dataset == "Cora" and c.slimmer == "half")
    toy = next(c for c in cells if c.dataset == "toy" and c.slimmer == "half")
    assert ("head", "epochs", "7") in cora.sets and ("head", "epochs", "3") in toy.sets
    assert ("pretrain", "epochs", "4") in toy.sets  # the command line wins over the spec
    assert any(("head", "lr", "0.5") in c.sets for c in cells if c.slimmer == "original")


@pytest.mark.parametrize("raw, message", [
    ({"datasets": ["toy"], "pretrainer": ["graphmae"]}, "unknown key(s) pretrainer"),
    ({"datasets": ["toy"], "pretrainers": ["graphmae"], "seeds": ["0"]}, "'seeds' must be a non-empty list of ints"),
    ({"datasets": ["toy"], "pretrainers": ["graphmae"], "set": {"train": {"lr": 1}}}, "not section.option"),
    ({"datasets": ["toy"], "pretrainers": ["graphmae"], "preset": "fast"}, "unknown preset 'fast'"),
])
def test_bad_spec_is_one_readable_error(raw, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        MatrixSpec.from_dict(raw)


def test_filters_by_name_on_any_axis(registry):
    cells = spec(slimmers=["original", "half"], heads=["linear", "full"], seeds=[0, 1]).cells(registry)
    assert {(c.slimmer, c.head) for c in filter_cells(cells, only=["half"])} == {("half", "linear"), ("half", "full")}
    kept = filter_cells(cells, only=["half,linear"], skip=["seed=1"])
    assert [(c.slimmer, c.head, c.seed) for c in kept] == [("half", "linear", 0)]
    assert len(filter_cells(cells, skip=["full"])) == 4
    with pytest.raises(ConfigError, match="matches no cell"):
        filter_cells(cells, only=["quarter"])


def test_unknown_strategy_fails_before_training(tmp_path, monkeypatch, capsys):
    path = tmp_path / "bad.toml"
    path.write_text('datasets = ["Cora"]\npretrainers = ["graphmae"]\nslimmers = ["original", "thirds"]\n')
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))
    assert cli.main(["matrix", str(path), "--store", str(tmp_path / "s.sqlite"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Unknown slimmer 'thirds'" in err and "Known: original, half, quarter" in err
    assert not (tmp_path / "cache" / "encoders").exists()  # nothing was pretrained
    assert not (tmp_path / "s.sqlite").exists()  # and no store file left behind


def test_faults_are_rows_and_the_matrix_goes_on(finished):
    runner, _, cells, _ = finished
    df = runner.store.frame()
    assert len(df) == len(cells) == 2 * 6
    status = df.groupby("head")["status"].agg(set).to_dict()
    assert status == {"linear": {"ok"}, "full": {"ok"}, "boom": {"failed"}, "oom": {"oom"}}
    assert df.loc[df["head"] == "boom", "error"].str.contains("RuntimeError: boom: deliberate failure").all()
    ok = df[df["status"] == "ok"]
    assert ok["test_micro_f1"].between(0, 100).all() and (ok["peak_memory_mb"] > 0).all()
    assert set(df["device"]) == {"cpu"} and df["versions"].map(lambda v: "torch" in v).all()


@pytest.mark.parametrize("error", ["cuda", "cpu"])
def test_out_of_memory_is_recorded_as_oom(registry, tmp_path, error):
    runner = make_runner(registry, tmp_path)
    runner.run(spec(group=[{"heads": ["oom"], "set": {"head": {"error": error}}}, {"heads": ["linear"]}]).cells(registry))
    df = runner.store.frame().set_index("head")
    assert df.loc["oom", "status"] == "oom" and df.loc["linear", "status"] == "ok"
    assert df.loc["oom", "error"].startswith("OutOfMemoryError: CUDA out of memory" if error == "cuda" else "MemoryError")


def test_resume_pretrains_once_skips_done_retries_failed(finished):
    runner, _, cells, tmp = finished
    assert len(list((tmp / "encoders").glob("*.pt"))) == 2  # one pretraining per seed, shared by 6 cells
    df = runner.store.frame()
    assert (df.loc[df["status"] == "ok", "pretrain_cached"].sum()) == len(df[df["status"] == "ok"]) - 2
    _, todo = runner.plan(cells)
    assert sorted(r.cell.head for r in todo) == ["boom", "boom"]  # ok and same-device oom are done
    before = rows(tmp / "results.sqlite").set_index("key")
    runner.run([r.cell for r in todo])
    after = rows(tmp / "results.sqlite").set_index("key")
    assert len(after) == len(before) and after.index.is_unique
    same = after.index[~after.index.isin([r.key for r in todo])]
    pd.testing.assert_frame_equal(after.loc[same], before.loc[same])
    assert len(runner.plan(cells, force=True)[1]) == len(cells)


def test_tables_in_all_formats(finished):
    runner, s, cells, _ = finished
    df = runner.store.frame(keys=[runner.resolve(c).key for c in cells])  # in the spec's order
    reference = pd.DataFrame([{"pretrainer": "graphmae", "dataset": "toy", "slimmer": "original", "head": "linear",
                               "metric": "test_micro_f1", "mean": 50.0, "std": "1.0", "source": "a test source"}])
    (table,) = paper_tables(df, label=s.label, reference=reference)
    frame = table.frame
    assert list(frame.index) == ["LP", "half/linear", "plugin-slim/linear", "FT", "original/boom", "original/oom",
                                 "Change-Param (half)", "Change-Param (plugin-slim)"]
    assert frame.columns.tolist() == [("toy", "F1-Mi"), ("toy", "F1-Ma")]
    lp = df[(df["slimmer"] == "original") & (df["head"] == "linear")]["test_micro_f1"]
    cell = frame.loc["LP", ("toy", "F1-Mi")]  # cells over different runs (some failed) show their n
    assert cell == f"{lp.mean():.2f} ± {lp.std(ddof=0):.2f} (n={len(lp)}) [ref 50.00 ± 1.00]"
    assert frame.loc["original/boom", ("toy", "F1-Mi")] == "failed"
    assert frame.loc["original/oom", ("toy", "F1-Ma")] == "OOM"
    assert frame.loc["Change-Param (half)", ("toy", "F1-Mi")].startswith("-")
    assert table.notes[0] == "ref: a test source"
    tables = paper_tables(df, label=s.label)
    markdown = render_tables(tables, "markdown")
    assert "| Method" in markdown and "| LP " in markdown and "toy F1-Mi" in markdown
    csv = render_tables(tables, "csv")
    parsed = pd.read_csv(io.StringIO(csv))  # data only: one row per (method, dataset), numbers with their n
    assert {"method", "dataset", "test_micro_f1_mean", "test_micro_f1_std", "test_micro_f1_n"} <= set(parsed.columns)
    assert parsed["method"].iloc[0] == "LP" and parsed["test_micro_f1_mean"].iloc[0] == pytest.approx(lp.mean())
    latex = render_tables(tables, "latex")
    assert r"\begin{tabular}" in latex and r"\multicolumn{2}{c}{toy}" in latex and r"$\pm$" in latex


def test_reference_file_has_sources():
    ref = load_reference()
    assert len(ref) > 50 and (ref["source"].str.len() > 10).all()
    cora = ref[(ref["pretrainer"] == "graphmae") & (ref["dataset"] == "Cora")].set_index(["slimmer", "metric"])
    assert cora.loc[("original", "test_micro_f1"), "mean"] == 84.2
    assert cora.loc[("2-half", "param_change_pct"), "mean"] == -13.2


def test_table_command(finished, capsys):
    _, _, _, tmp = finished
    assert cli.main(["table", "--store", str(tmp / "results.sqlite"), "--format", "csv", "--metric", "val_micro_f1",
                     "--vs-reference"]) == 0
    out, err = capsys.readouterr()
    assert "graphmae (preset official" in err and "val_micro_f1_mean" in pd.read_csv(io.StringIO(out)).columns
    assert cli.main(["table", "--store", str(tmp / "results.sqlite"), "--metric", "nope"]) == 2


def _count(path: Path) -> int:
    """Rows in the store, waiting out the writer's locks. Never creates the file (that would race the
    writer's WAL setup), and never opens it read-only (a read-only connection cannot open a WAL
    database whose -shm file the writer removed on close)."""
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(path, timeout=10) as db:
            return db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    except sqlite3.OperationalError:  # schema not written yet
        return 0


def default_sigint() -> None:
    """A shell's background job starts with SIGINT ignored, and Python then never raises
    KeyboardInterrupt: give the child the default disposition, as an interactive terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_kill_and_resume_loses_and_duplicates_nothing(registry, tmp_path):
    """A real `python -m registry.cli matrix` is interrupted (SIGINT), resumed and killed (SIGKILL),
    then resumed to the end: every expected row exactly once, rows written before a kill unchanged."""
    dist = tmp_path / "site" / "matrix_test_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: matrix-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[slide_bench]\nmatrix_test = matrix_plugin\n")
    spec_path, store = tmp_path / "kill.toml", tmp_path / "results.sqlite"
    spec_path.write_text('datasets = ["toy"]\npretrainers = ["graphmae"]\nslimmers = ["original", "half"]\n'
                         'heads = ["sleepy"]\nseeds = [0, 1, 2]\n[set]\npretrain.epochs = 2\npretrain.num_hidden = 8\n'
                         'pretrain.num_heads = 2\nhead.epochs = 3\nhead.seconds = 1.5\n')
    env = dict(os.environ, SLIDE_BENCH_CACHE=str(tmp_path / "cache"), SLIDE_BENCH_LOAD_PLUGINS="slide_plugin,matrix_test",
               OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(ROOT / "tests"), str(ROOT)]))
    command = [sys.executable, "-m", "registry.cli", "matrix", str(spec_path), "--store", str(store), "--quiet"]
    expected = {r.key for r in make_runner(registry, tmp_path / "x").plan(MatrixSpec.load(spec_path).cells(registry))[0]}
    assert len(expected) == 6

    snapshots = []
    for sig in (signal.SIGINT, signal.SIGKILL):
        target = _count(store) + 1
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                preexec_fn=default_sigint)
        deadline = time.monotonic() + 120
        while _count(store) < target and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(sig)
        output = proc.communicate(timeout=60)[0]
        assert proc.returncode == (130 if sig == signal.SIGINT else -signal.SIGKILL), output
        snapshot = rows(store).set_index("key")
        assert target <= len(snapshot) < len(expected), "the signal must land mid-way"
        for before in snapshots:  # rows from before the kill are unchanged
            pd.testing.assert_frame_equal(snapshot.loc[before.index], before)
        snapshots.append(snapshot)

    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(snapshots[-1])} already in the store" in done.stdout
    final = rows(store)
    assert final["key"].is_unique and set(final["key"]) == expected and set(final["status"]) == {"ok"}
    pd.testing.assert_frame_equal(final.set_index("key").loc[snapshots[-1].index], snapshots[-1])


def test_group_label_names_its_rows(registry, tmp_path, capsys):
    """Two groups of the same slimmer/head that differ in options: the labelled one gets its own row name."""
    text = """name = "labelled"
datasets = ["Cora"]
pretrainers = ["graphmae"]
[set]
pretrain = {epochs = 2, num_hidden = 8, num_heads = 2}
[labels]
"original/linear" = "LP"
[[group]]
heads = ["linear"]
[[group]]
heads = ["linear"]
label = "LP, 2 epochs"
[group.set]
head.epochs = 2
"""  # Cora: the table command builds the installed registry, without this module's toy plugin
    path = tmp_path / "labelled.toml"
    path.write_text(text)
    s = MatrixSpec.load(path)
    assert [g.label for g in s.groups] == [None, "LP, 2 epochs"]
    make_runner(registry, tmp_path).run(s.cells(registry))
    capsys.readouterr()
    for command in ("table", "matrix"):  # the matrix's own closing table too (it printed "LP #2")
        assert cli.main([command, str(path), "--store", str(tmp_path / "results.sqlite")]) == 0
        out = capsys.readouterr().out
        assert "| LP, 2 epochs " in out and "| LP " in out and "#2" not in out and "#n" not in out, (command, out)
    with pytest.raises(ConfigError, match="label must be a string"):
        MatrixSpec.from_dict({"datasets": ["toy"], "pretrainers": ["graphmae"], "group": [{"label": 3}]}, "bad")
