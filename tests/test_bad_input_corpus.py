"""A corpus of bad input against the command line, as a new user would type it: every case exits 2
with one readable line on stderr, no traceback, before any training, and leaves the stores as they
were (no command creates one on bad input)."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from registry.cli import main
from registry.testing import environment_plugins
from slide_plugin.pretrainers.graphmae import GraphMAE
from slide_plugin.pretrainers.grace import GRACE
from slide_plugin.pretrainers.maskgae import MaskGAE

RUN = ["run", "--preset", "quick", "--quiet", "--store", "{tmp}/new.sqlite"]
MATRIX = ["matrix", "--quiet", "--store", "{tmp}/new.sqlite"]
SPECS = {
    "nonutf8.toml": b'name = "caf\xe9"\ndatasets = ["Cora"]\npretrainers = ["graphmae"]\n',
    "malformed.toml": b'datasets = ["Cora"\npretrainers = graphmae\n',
    "unknown-key.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\nseed = [0]\n',
    "bad-value.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\n[set]\nhead.lr = 0\n',
    "bad-type.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\n[set]\npretrain.epochs = "many"\n',
    "negative-seed.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\nseeds = [-1]\n',
    "huge-seed.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\nseeds = [9223372036854775807, 0]\n'
                      b'[[group]]\nseeds = [9223372036854775808]\n',
    "string-seed.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\nseeds = ["0"]\n',
    "no-datasets.toml": b'pretrainers = ["graphmae"]\n',
    "unknown-head.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\nheads = ["linaer"]\n',
    "bad-group.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\ngroup = 3\n',
    "bad-set.toml": b'datasets = ["Cora"]\npretrainers = ["graphmae"]\n[set]\ntrain.lr = 1\n',
    "empty.toml": b"",
    "bom-latin1.toml": "datasets = [\"Cora\"]\n# r\u00e9sum\u00e9\n".encode("latin-1"),
    "float-seed.toml": b'datasets = ["Cora"]\nseeds = [1.5]\n',
    "bool-seed.toml": b'datasets = ["Cora"]\nseeds = [true]\n',
    "seed-in-list.toml": b'datasets = ["Cora"]\nseeds = [[0]]\n',
    "negative-finetune-seed.toml": b'datasets = ["Cora"]\nfinetune_seeds = [-1]\n',
    "int-preset.toml": b'datasets = ["Cora"]\npreset = 3\n',
    "unknown-preset.toml": b'datasets = ["Cora"]\npreset = "fast"\n',
    "set-not-a-table.toml": b'datasets = ["Cora"]\nset = 3\n',
    "set-section-scalar.toml": b'datasets = ["Cora"]\n[set]\nhead = 3\n',
    "int-executor.toml": b'datasets = ["Cora"]\nexecutor = 5\n',
    "unknown-executor.toml": b'datasets = ["Cora"]\nexecutor = "nope"\n',
    "float-epochs.toml": b'datasets = ["Cora"]\n[set]\npretrain.epochs = 1e30\n',
    "huge-epochs.toml": b'datasets = ["Cora"]\n[set]\npretrain.epochs = 99999999999999999999\n',
    "inf-lr.toml": b'datasets = ["Cora"]\n[set]\nhead.lr = inf\n',
    "nan-lr.toml": b'datasets = ["Cora"]\n[set]\nhead.lr = nan\n',
    "empty-datasets.toml": b'datasets = []\n',
    "empty-dataset-name.toml": b'datasets = [""]\n',
    "empty-name.toml": b'name = ""\ndatasets = ["Cora"]\n',
    "int-description.toml": b'description = 3\ndatasets = ["Cora"]\n',
    "unknown-group-key.toml": b'datasets = ["Cora"]\n[[group]]\nfoo = 1\n',
    "group-a-table.toml": b'datasets = ["Cora"]\ngroup = {heads = ["linear"]}\n',
    "int-label.toml": b'datasets = ["Cora"]\n[[group]]\nlabel = 3\n',
    "overrides-unknown-dataset.toml": b'datasets = ["Cora"]\n[overrides.Nope]\nhead.lr = 0.1\n',
    "overrides-bad-value.toml": b'datasets = ["Cora"]\n[overrides.Cora]\nhead.lr = -1\n',
    "binary.toml": bytes(range(256)),
}

CASES = [
    # names
    RUN + ["--dataset", "Corra"], RUN + ["--pretrainer", "graphmea"], RUN + ["--head", "linaer"],
    RUN + ["--slim", "hafl"], RUN + ["--preset", "fast"], RUN + ["--format", "html"],
    # seeds and numbers on the command line
    RUN + ["--seeds", "-1"], RUN + ["--seeds", "9223372036854775808"], RUN + ["--finetune-seeds", "-5"],
    RUN + ["--seeds", "abc"], RUN + ["--seeds"], RUN + ["--threads", "0"], RUN + ["--threads", "two"],
    RUN + ["--device", "nonsense"], RUN + ["--device", "cuda:99"],
    # --set syntax
    RUN + ["--set", "pretrain.epochs"], RUN + ["--set", "epochs=1"], RUN + ["--set", "=1"],
    RUN + ["--set", "bogus.epochs=1"], RUN + ["--set", "head.nonexistent=1"], RUN + ["--set", "pretrain.epochs="],
    RUN + ["--no-such-flag"],
    # pretrainer options
    RUN + ["--set", "pretrain.epochs=-5"], RUN + ["--set", "pretrain.epochs=0"], RUN + ["--set", "pretrain.epochs=1.5"],
    RUN + ["--set", "pretrain.lr=nan"], RUN + ["--set", "pretrain.lr=-inf"], RUN + ["--set", "pretrain.lr=0"],
    RUN + ["--set", "pretrain.num_heads=0"], RUN + ["--set", "pretrain.num_hidden=30"],
    RUN + ["--set", "pretrain.num_layers=0"], RUN + ["--set", "pretrain.mask_rate=1"],
    RUN + ["--set", "pretrain.mask_rate=0"], RUN + ["--set", "pretrain.in_drop=-0.1"],
    RUN + ["--set", "pretrain.activation=tanh"], RUN + ["--set", "pretrain.norm=bogus"],
    RUN + ["--set", "pretrain.feature_scaling=log"], RUN + ["--set", "pretrain.scheduler=maybe"],
    RUN + ["--set", "pretrain.weight_decay=-1"],
    RUN + ["--pretrainer", "grace", "--set", "pretrain.tau=0"],
    RUN + ["--pretrainer", "grace", "--set", "pretrain.drop_edge_1=1"],
    RUN + ["--pretrainer", "grace", "--set", "pretrain.loss_batch_size=-1"],
    RUN + ["--pretrainer", "maskgae", "--set", "pretrain.p=0"],
    RUN + ["--pretrainer", "maskgae", "--set", "pretrain.mask=node"],
    RUN + ["--pretrainer", "maskgae", "--set", "pretrain.encoder_layers=0"],
    RUN + ["--pretrainer", "maskgae", "--set", "pretrain.eval_period=0"],
    # head options
    RUN + ["--set", "head.lr=0"], RUN + ["--set", "head.lr=inf"], RUN + ["--set", "head.lr=1e400"],
    RUN + ["--set", "head.lr=nan"], RUN + ["--set", "head.epochs=0"], RUN + ["--set", "head.batch_size=0"],
    RUN + ["--set", "head.batch_size=-3"], RUN + ["--set", "head.weight_decay=-1"],
    RUN + ["--set", "head.later_ties=2"],
    RUN + ["--head", "slide", "--set", "head.presave_ratio=1.5"],
    RUN + ["--head", "slide", "--set", "head.memory_size=-1"],
    RUN + ["--head", "slide", "--set", "head.budget_steps=0"],
    RUN + ["--head", "slide", "--set", "head.lambda0=0"], RUN + ["--head", "slide", "--set", "head.epochb=0"],
    RUN + ["--head", "slide", "--no-decorrelation", "--set", "head.num_rff=0"],
    RUN + ["--head", "lora", "--set", "head.rank=-1"], RUN + ["--head", "lora", "--set", "head.alpha=0"],
    RUN + ["--head", "full", "--set", "head.encoder_lr=nan"], RUN + ["--head", "full", "--set", "head.epochs=-1"],
    RUN + ["--head", "linear", "--no-later-ties-typo"],
    # slimmer options
    RUN + ["--slim", "custom", "--set", "slim.ratios=[0]"], RUN + ["--slim", "custom", "--set", "slim.ratios=[]"],
    RUN + ["--slim", "custom", "--set", "slim.ratios=notjson"], RUN + ["--slim", "custom", "--set", "slim.ratios=1.5"],
    RUN + ["--slim", "custom", "--set", "slim.layers=0"], RUN + ["--slim", "custom", "--set", "slim.layers=3"],
    RUN + ["--slim", "half", "--set", "slim.selection=every"],
    # paths
    ["run", "--quiet", "--store", "{tmp}/folder"], ["run", "--quiet", "--store", "{tmp}/junk.sqlite"],
    ["run", "--quiet", "--store", "{tmp}/ro.sqlite"], ["run", "--quiet", "--store", "{tmp}/rofolder/new.sqlite"],
    ["run", "--quiet", "--store", "{tmp}/afile/new.sqlite"],
    RUN + ["--data-root", "{tmp}/afile"], RUN + ["--dataset", "ogbn-arxiv", "--data-root", "{tmp}/arxiv-root"],
    ["env:SLIDE_BENCH_CACHE={tmp}/afile", *RUN],
    # matrix
    MATRIX + ["nonexistent-spec"], MATRIX + ["{tmp}/folder"],
    *(MATRIX + [f"{{tmp}}/{name}"] for name in SPECS),
    MATRIX + ["quick", "--only", "nothing"], MATRIX + ["quick", "--skip", "nothing"],
    MATRIX + ["quick", "--only", "seed=7"], MATRIX + ["quick", "--set", "head.epochs=0"],
    MATRIX + ["quick", "--set", "pretrain.lr=inf"], ["matrix", "quick", "--store", "{tmp}/folder"],
    # table, compare, plot, analyze, describe
    ["table", "--store", "{tmp}/missing.sqlite"], ["table", "--store", "{tmp}/folder"],
    ["table", "--store", "{tmp}/junk.sqlite"], ["table", "--store", "{tmp}/empty.sqlite"],
    ["table", "--store", "{tmp}/good.sqlite", "--mark-vs", "head=nothing"],
    ["table", "--store", "{tmp}/good.sqlite", "--mark-vs", "garbage"],
    ["table", "--store", "{tmp}/good.sqlite", "--datasets", "Foo"],
    ["table", "--store", "{tmp}/good.sqlite", "--pretrainers", "grace"],
    ["table", "--store", "{tmp}/good.sqlite", "--metric", "nonexistent"],
    ["table", "--store", "{tmp}/good.sqlite", "--alpha", "2", "--mark-vs", "head=linear"],
    ["table", "nonexistent-spec", "--store", "{tmp}/good.sqlite"],
    ["table", "{tmp}/nonutf8.toml", "--store", "{tmp}/good.sqlite"],
    ["compare", "--store", "{tmp}/missing.sqlite", "--a", "head=linear", "--b", "head=full"],
    ["compare", "--store", "{tmp}/good.sqlite", "--a", "head=linear", "--b", "head=nothing"],
    ["compare", "--store", "{tmp}/good.sqlite", "--a", "=", "--b", "head=full"],
    ["compare", "--store", "{tmp}/good.sqlite", "--b", "head=full"],
    ["compare", "--store", "{tmp}/good.sqlite", "--a", "head=linear", "--b", "head=linear", "--alpha", "0"],
    ["plot", "cka", "--store", "{tmp}/missing.sqlite"], ["plot", "nonsense"],
    ["plot", "cka", "--store", "{tmp}/good.sqlite"],
    ["analyze", "cka", "--dataset", "Corra", "--store", "{tmp}/new.sqlite"],
    ["analyze", "params", "--datasets", "Corra", "--store", "{tmp}/new.sqlite"],
    ["describe", "head", "linaer"], ["describe", "spec", "nothing"], ["describe", "widget", "x"],
    ["bogus-command"],
    # more of each class: every sub-command, empty strings, huge numbers, executors
    ["describe"], ["describe", "head"], ["describe", "head", ""], ["describe", "pretrainer", "graphmae", "extra"],
    ["specs", "extra"], ["specs", "--bogus"], ["plugins", "extra"], ["analyze"],
    ["analyze", "cka", "--store", "{tmp}/folder"], ["analyze", "params", "--store", "{tmp}/junk.sqlite"],
    ["analyze", "cka", "--max-nodes", "0", "--store", "{tmp}/new.sqlite"],
    ["analyze", "cka", "--rates", "nan", "--store", "{tmp}/new.sqlite"],
    ["analyze", "cka", "--rates", "1", "--store", "{tmp}/new.sqlite"],
    ["analyze", "cka", "--selection", "bogus", "--store", "{tmp}/new.sqlite"],
    ["analyze", "cka", "--seeds", "-1", "--store", "{tmp}/new.sqlite"],
    ["plot", "cka", "--store", "{tmp}/junk.sqlite"], ["plot", "cka", "--store", "{tmp}/folder"],
    ["bench", "--rounds", "0"], ["bench", "--threads", "-1"], ["bench", "--datasets", "Corra"],
    ["bench", "--devices", "gpu"], ["bench", "--encoders", "graphmea"], ["bench", "--from-json", "{tmp}/missing.json"],
    ["bench", "--from-json", "{tmp}/junk.sqlite"], ["bench", "--suite", "{tmp}/afile"],
    ["compare", "--store", "{tmp}/junk.sqlite", "--a", "head=linear", "--b", "head=full"],
    ["compare", "--store", "{tmp}/good.sqlite", "--a", "", "--b", ""],
    ["table", "--format", "pdf"], ["table", "--store", ""],
    MATRIX + ["quick", "--executor", "nope"], MATRIX + ["quick", "--executor", "pool", "--workers", "-1"],
    MATRIX + ["quick", "--executor", "pool", "--executor-set", "workers=-1"],
    MATRIX + ["quick", "--executor", "pool", "--executor-set", "workers=abc"],
    MATRIX + ["quick", "--executor", "pool", "--executor-set", "threads=-2"],
    MATRIX + ["quick", "--executor", "pool", "--executor-set", "runs_per_gpu=0"],
    MATRIX + ["quick", "--executor-set", "bogus=1"], MATRIX + ["quick", "--executor-set", "="],
    MATRIX + ["quick", "--executor-set", "noequals"], MATRIX + ["quick", "--executor", "local", "--workers", "3"],
    MATRIX + ["quick", "--executor", "slurm", "--executor-set", "time=0"],
    MATRIX + ["quick", "--executor", "ray", "--ray-address", "127.0.0.1:9"],
    MATRIX + ["quick", "--claim-ttl", "-1"], MATRIX + ["quick", "--claim-ttl", "nan"], MATRIX + ["quick", "--claim-ttl", "0"],
    MATRIX + [""], MATRIX + ["/dev/null"], MATRIX + ["{tmp}/afile"],
    RUN + ["--dataset", ""], RUN + ["--head", ""], RUN + ["--pretrainer", ""], RUN + ["--slim", ""], RUN + ["--set", ""],
    RUN + ["--device", ""], ["run", "--store", "", "--quiet"], RUN + ["--seeds", "0", "--seeds"],
    RUN + ["--threads", "100000000000000000000"], RUN + ["--finetune-seeds", "99999999999999999999999"],
    RUN + ["--set", "head.epochs=99999999999999999999999"], RUN + ["--set", "pretrain.epochs=true"],
    RUN + ["--set", "pretrain.epochs=1e3"], RUN + ["--set", "head.lr=0x10"], RUN + ["--set", "head.lr=1,2"],
    RUN + ["--set", "head.lr=[0.1]"], RUN + ["--set", "head.lr={}"], RUN + ["--set", "pretrain.num_hidden=-1"],
    RUN + ["--set", "pretrain.mask_rate=1e-400"], RUN + ["--set", "slim.selection="],
    RUN + ["--slim", "custom", "--set", "slim.ratios=[0.5,0.5,0.5,0.5]"],
    RUN + ["--slim", "custom", "--set", "slim.ratios=[nan]"], RUN + ["--slim", "custom", "--set", "slim.ratios=[-0.5]"],
    ["env:SLIDE_BENCH_PLUGINS_DIR={tmp}/nonexistent", *RUN], ["env:SLIDE_BENCH_PLUGINS_DIR={tmp}/afile", *RUN],
    ["env:SLIDE_DATA_ROOT={tmp}/afile", *RUN],
    ["env:SLIDE_BENCH_LOAD_PLUGINS=nonexistent_plugin", "env:SLIDE_BENCH_STRICT_PLUGINS=1", *RUN],
]


@pytest.fixture(scope="module")
def tmp(tmp_path_factory):
    """Bad files and folders, and a good store with finished runs (written once, without training:
    rows as the runner writes them)."""
    tmp = tmp_path_factory.mktemp("corpus")
    (tmp / "folder").mkdir()
    (tmp / "junk.sqlite").write_bytes(b"this is not a database" * 10)
    (tmp / "empty.sqlite").touch()
    (tmp / "afile").write_text("a file where a folder belongs")
    (tmp / "arxiv-root" / "ogbn_arxiv").mkdir(parents=True)
    for name, content in SPECS.items():
        (tmp / name).write_bytes(content)
    good = tmp / "good.sqlite"
    from registry.store import ResultsStore

    store = ResultsStore(good)
    for seed in range(3):
        metrics = {"test_micro_f1": 80.0 + seed, "test_macro_f1": 79.0, "val_micro_f1": 78.0,
                   "trainable_params": 10, "total_params": 10, "param_change_pct": 0.0}
        store.write(dict(key=f"k{seed}", status="ok", dataset="Cora", pretrainer="graphmae", slimmer="original",
                         head="linear", seed=seed, finetune_seed=0, preset="quick",
                         config={"head": {"name": "linear", "version": "1", "options": {}},
                                 "slimmer": {"name": "original", "version": "1", "options": {}},
                                 "pretrainer": {"name": "graphmae", "version": "1", "options": {}},
                                 "dataset": "Cora", "seed": seed, "finetune_seed": 0},
                         metrics=metrics, diagnostics=[], error=None, device="cpu", versions={},
                         wall_time_s=1.0, peak_memory_mb=None))
    shutil.copy(good, tmp / "ro.sqlite")
    os.chmod(tmp / "ro.sqlite", 0o444)
    (tmp / "rofolder").mkdir()
    os.chmod(tmp / "rofolder", 0o555)
    yield tmp
    os.chmod(tmp / "rofolder", 0o755)


@pytest.fixture(autouse=True)
def no_training(monkeypatch, tmp):
    def refuse(*args, **kwargs):
        raise AssertionError("trained before the input was checked")

    for pretrainer in (GraphMAE, GRACE, MaskGAE):
        monkeypatch.setattr(pretrainer, "pretrain", refuse)
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp / "cache"))


def _snapshot(tmp: Path) -> dict[str, int]:
    with sqlite3.connect(tmp / "good.sqlite") as db:
        return {"good": db.execute("SELECT count(*) FROM runs").fetchone()[0]}


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(case).replace("{tmp}/", ""))
def test_bad_input_is_one_line_and_exit_2(tmp, capsys, monkeypatch, case):
    argv = [part.replace("{tmp}", str(tmp)) for part in case]
    environment = contextlib.nullcontext()
    while argv[0].startswith("env:"):
        name, _, value = argv.pop(0)[len("env:"):].partition("=")
        monkeypatch.setenv(name, value)
        environment = environment_plugins()  # plugins loaded afresh, as the variables say
    before = _snapshot(tmp)
    try:
        with environment:
            code = main(argv)
    except SystemExit as exc:  # argument errors found by argparse
        code = exc.code
    captured = capsys.readouterr()
    err = captured.err.replace("Processing...\n", "").replace("Done!\n", "")  # PyG's notes on processing Cora
    assert code == 2, captured
    assert err.count("\n") == 1 and "error: " in err, err
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp / "missing.sqlite").exists()  # read commands never create a store
    assert not list(tmp.glob("new.sqlite*"))  # bad input leaves no store file behind, not even an empty one
    assert _snapshot(tmp) == before
