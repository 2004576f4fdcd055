"""Executors with real engines: claims in the store, the encoder cache's lock, concurrent matrices,
kills of workers and drivers on ``pool`` and ``ray``, and equal rows on local, pool, ray and SLURM.

Ray runs as a local instance started by the driver; SLURM needs the single-node cluster of
``.ci/slurm.sh`` (``SLURM_CONF`` set). Missing, they skip, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import importlib.util
import json
import multiprocessing
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import matrix_plugin
from registry import cli
from registry.cache import EncoderCache
from registry.claims import Claims, Owner, process_alive
from registry.plugins import build_registry, make_plugin_manager
from registry.runner import Runner
from registry.spec import MatrixSpec
from registry.store import ResultsStore

ROOT = Path(__file__).resolve().parents[1]
CI = os.environ.get("CI", "").lower() == "true"
SPEC = ('datasets = ["toy"]\npretrainers = ["graphmae"]\nslimmers = ["original", "half"]\nheads = ["sleepy"]\n'
        'seeds = {seeds}\n[set]\npretrain.epochs = 2\npretrain.num_hidden = 8\npretrain.num_heads = 2\n'
        'head.epochs = 3\nhead.seconds = {seconds}\nhead.log = "{log}"\n')


def unavailable(reason: str) -> None:
    (pytest.fail if CI else pytest.skip)(reason)


def need_ray() -> None:
    if importlib.util.find_spec("ray") is None:
        unavailable("ray is not installed: pip install 'slide-bench[ray]'")


def need_slurm() -> None:
    if importlib.util.find_spec("submitit") is None:
        unavailable("submitit is not installed: pip install 'slide-bench[slurm]'")
    try:
        up = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=20).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        up = []
    if not {"idle", "mixed", "allocated"} & set(up):
        unavailable("no SLURM cluster answers: eval \"$(.ci/slurm.sh start)\"")


@pytest.fixture(scope="module")
def registry():
    pm = make_plugin_manager()
    pm.register(matrix_plugin, name="matrix_test")
    return build_registry(pm)


@pytest.fixture
def matrix(tmp_path):
    """A spec of sleepy cells, the environment that loads the test plugin in every worker, and a
    command line for ``python -m registry.cli matrix``."""
    dist = tmp_path / "site" / "matrix_test_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: matrix-test-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[slide_bench]\nmatrix_test = matrix_plugin\n")
    env = dict(os.environ, SLIDE_BENCH_CACHE=str(tmp_path / "cache"),
               SLIDE_BENCH_LOAD_PLUGINS="slide_plugin,matrix_test",
               OMP_NUM_THREADS="1", RAY_USAGE_STATS_ENABLED="0",
               PYTHONPATH=os.pathsep.join([str(tmp_path / "site"), str(ROOT / "tests"), str(ROOT)]))

    def make(seeds=(0, 1), seconds=0.0, name="spec"):
        path = tmp_path / f"{name}.toml"
        path.write_text(SPEC.format(seeds=list(seeds), seconds=seconds, log=tmp_path / f"{name}.log"))
        return path

    def command(spec, store, *extra):
        return [sys.executable, "-m", "registry.cli", "matrix", str(spec), "--store", str(store), "--quiet",
                "--threads", "1", *extra]

    return make, command, env, tmp_path


def rows(store: Path) -> list[dict]:
    if not store.exists():
        return []
    try:
        with sqlite3.connect(store, timeout=10) as db:
            return [{"key": k, "status": s, "metrics": json.loads(m)} for k, s, m in
                    db.execute("SELECT key, status, metrics FROM runs")]
    except sqlite3.OperationalError:  # schema not written yet
        return []


def claimed_pids(store: Path) -> list[int]:
    try:
        with sqlite3.connect(store, timeout=10) as db:
            return [pid for (pid,) in db.execute("SELECT pid FROM claims")]
    except sqlite3.OperationalError:
        return []


def scores(store: Path) -> dict[str, dict]:
    """Each row's metrics without timings, memory and whether the encoder came from the cache."""
    out = {}
    for row in rows(store):
        assert row["status"] == "ok", row
        out[row["key"]] = {k: v for k, v in row["metrics"].items()
                           if not any(w in k for w in ("time", "memory", "cached"))}
    return out


def expected_keys(registry, spec: Path, tmp: Path) -> set[str]:
    runner = Runner(registry, ResultsStore(tmp / "plan.sqlite"), EncoderCache(tmp / "plan"), torch.device("cpu"))
    return {r.key for r in runner.plan(MatrixSpec.load(spec).cells(registry))[0]}


def wait_for(condition, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- claims and the cache lock ------------------------------------------------------------------------------

def test_claims_exclude_live_owners_and_expire(tmp_path):
    store = ResultsStore(tmp_path / "s.sqlite")
    claims = Claims(store.path)
    a, b = Owner("a"), Owner("b")
    assert claims.claim("k", a, "cpu", ttl=60) == "claimed"
    assert claims.claim("k", b, "cpu", ttl=60) == "busy"  # a is alive (this process)
    assert claims.running(["k", "x"]) == {"k": "a"}
    claims.release("k", a)
    assert claims.claim("k", b, "cpu", ttl=0.2) == "claimed"
    time.sleep(0.3)  # b's heartbeat stopped: its claim expires
    assert claims.claim("k", a, "cpu", ttl=60) == "claimed"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ghost = Owner("ghost", pid=dead.pid)
    assert not process_alive(dead.pid)
    assert claims.claim("g", ghost, "cpu", ttl=60) == "claimed"
    assert claims.claim("g", a, "cpu", ttl=60) == "claimed"  # its owner on this host is gone
    remote = Owner("remote", host="another-host", pid=dead.pid)
    assert claims.claim("r", remote, "cpu", ttl=60) == "claimed"
    assert claims.claim("r", a, "cpu", ttl=60) == "busy"  # another host: only expiry frees it
    row = {"key": "d", "status": "ok", "dataset": "toy", "pretrainer": "p", "slimmer": "s", "head": "h", "seed": 0,
           "finetune_seed": 0, "preset": "official", "config": {}, "metrics": {}, "diagnostics": [], "device": "cpu",
           "versions": {}, "wall_time_s": 0.0}
    store.write(row)
    assert claims.claim("d", a, "cpu", ttl=60) == "done"
    assert claims.claim("d", a, "cpu", ttl=60, force=True) == "claimed"


def _pretrain_slowly(directory: str, log: str) -> bool:
    def pretrain():
        with open(log, "a") as f:
            f.write(f"{os.getpid()}\n")
        time.sleep(1.0)
        encoder = torch.nn.Linear(2, 2)
        encoder.arch = {}
        return encoder

    cache = EncoderCache(Path(directory))
    _, cached = cache.get_or_pretrain("toy", "p", "1", {}, 0, lambda arch: torch.nn.Linear(2, 2), pretrain,
                                      torch.device("cpu"))
    return cached


def test_cache_pretrains_each_encoder_once_across_processes(tmp_path):
    log = tmp_path / "pretrained.log"
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        cached = pool.starmap(_pretrain_slowly, [(str(tmp_path / "enc"), str(log))] * 3)
    assert len(log.read_text().split()) == 1  # one process pretrained, two waited and loaded
    assert sorted(cached) == [False, True, True]


# -- concurrent matrices, kills, failures --------------------------------------------------------------------

def test_two_concurrent_matrices_run_each_cell_once(registry, matrix):
    make, command, env, tmp = matrix
    spec, store = make(seeds=(0, 1, 2, 3), seconds=2.0), tmp / "results.sqlite"
    expected = expected_keys(registry, spec, tmp)
    ResultsStore(store)  # both start at once on one existing store
    first, second = (subprocess.Popen(command(spec, store), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True) for _ in range(2))
    out_first, out_second = first.communicate(timeout=300)[0], second.communicate(timeout=300)[0]
    assert first.returncode == 0 and second.returncode == 0, out_first + out_second
    ran = (tmp / "spec.log").read_text().splitlines()
    assert len(ran) == len(expected) == 8 and len({line.rsplit(" ", 1)[0] for line in ran}) == 8  # each cell once
    assert len({line.rsplit(" ", 1)[1] for line in ran}) == 2  # both processes ran cells
    final = rows(store)
    assert {r["key"] for r in final} == expected and len(final) == 8
    pretrained = [r for r in final if not r["metrics"]["pretrain_cached"]]
    assert len(pretrained) == 4  # each seed's encoder pretrained once, by one of the two
    assert out_first.count("ok ") + out_second.count("ok ") == 8


def test_each_encoders_cells_finish_together(matrix):
    """One worker runs a pretrained encoder's other cells before the next seed's pretraining (before
    the fix: every seed's leader first, then all the others)."""
    make, command, env, tmp = matrix
    spec, store = make(seeds=(0, 1, 2)), tmp / "results.sqlite"
    ran = subprocess.run(command(spec, store), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    with sqlite3.connect(store) as db:
        order = db.execute("SELECT seed, slimmer FROM runs ORDER BY rowid").fetchall()
    assert order == [(0, "original"), (0, "half"), (1, "original"), (1, "half"), (2, "original"), (2, "half")]


@pytest.mark.parametrize("executor, resume_on", [("pool", "local"), ("ray", "pool")])
def test_kill_worker_and_driver_then_resume(registry, matrix, executor, resume_on):
    """kill -9 of a worker (the driver runs its cell again), then of the driver; the matrix resumed
    on another executor ends with every cell exactly once and the scores of an uninterrupted run."""
    if executor == "ray":
        need_ray()
    make, command, env, tmp = matrix
    spec, store = make(seeds=(0, 1, 2), seconds=1.5), tmp / "results.sqlite"
    run = command(spec, store, "--executor", executor, "--workers", "2")
    driver = subprocess.Popen(run, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              start_new_session=True)
    try:
        wait_for(lambda: [p for p in claimed_pids(store) if p != driver.pid], driver)
        os.kill([p for p in claimed_pids(store) if p != driver.pid][0], signal.SIGKILL)
        wait_for(lambda: len(rows(store)) >= 2, driver)
        before = {r["key"]: r for r in rows(store)}
        os.kill(driver.pid, signal.SIGKILL)
        output = driver.communicate(timeout=60)[0]
    finally:
        if driver.poll() is None:
            driver.kill()
    assert len(before) < 6, "the driver must die mid-way"
    workers = [] if resume_on == "local" else ["--workers", "2"]
    resumed = subprocess.run(command(spec, store, "--executor", resume_on, *workers), cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, output + resumed.stdout + resumed.stderr
    final = {r["key"]: r for r in rows(store)}
    assert set(final) == expected_keys(registry, spec, tmp) and len(rows(store)) == 6
    assert all(final[k] == r for k, r in before.items())  # rows from before the kill unchanged

    reference = tmp / "reference.sqlite"  # uninterrupted, in this process (one thread, as each worker)
    Runner(registry, ResultsStore(reference), EncoderCache(tmp / "refcache"), torch.device("cpu"), quiet=True).run(
        MatrixSpec.load(spec).cells(registry))
    assert scores(store) == scores(reference)


def test_a_worker_that_dies_twice_is_a_failed_row(matrix):
    """A cell that kills its worker is run once more, then stored as failed; the other cells run."""
    _, command, env, tmp = matrix
    spec, store = tmp / "die.toml", tmp / "results.sqlite"
    spec.write_text('datasets = ["toy"]\npretrainers = ["graphmae"]\n[set]\npretrain.epochs = 2\n'
                    'pretrain.num_hidden = 8\npretrain.num_heads = 2\nhead.epochs = 2\n'
                    '[[group]]\nheads = ["sleepy"]\n[[group]]\nheads = ["die"]\n')
    done = subprocess.run(command(spec, store, "--executor", "pool", "--workers", "2"), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    with sqlite3.connect(store) as db:
        by_head = {head: (status, error) for head, status, error in db.execute("SELECT head, status, error FROM runs")}
    assert by_head["sleepy"][0] == "ok" and by_head["die"][0] == "failed"
    assert by_head["die"][1].startswith("WorkerLost: worker pool-") and "exit code -9" in by_head["die"][1]
    assert "failed graphmae/original/die" in done.stdout


@pytest.mark.parametrize("executor", ["pool", "ray", "slurm"])
def test_ctrl_c_cancels_running_work_and_keeps_rows(matrix, executor):
    """SIGINT mid-matrix: exit 130, the running cell's worker stopped (pool: its process; Ray: its
    task cancelled, its worker process ended; SLURM: the jobs cancelled), finished rows kept."""
    {"ray": need_ray, "slurm": need_slurm}.get(executor, lambda: None)()
    make, command, env, tmp = matrix
    spec, store = make(seeds=(0, 1), seconds=30.0), tmp / "results.sqlite"
    extra = ["--executor", executor] + (["--workers", "2"] if executor in ("pool", "ray") else [])
    driver = subprocess.Popen(command(spec, store, *extra), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    wait_for(lambda: [p for p in claimed_pids(store) if p != driver.pid], driver)
    worker = [p for p in claimed_pids(store) if p != driver.pid][0]
    driver.send_signal(signal.SIGINT)
    output = driver.communicate(timeout=60)[0]
    assert driver.returncode == 130 and "interrupted" in output, output
    deadline = time.monotonic() + 30
    if executor in ("pool", "ray"):
        while process_alive(worker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not process_alive(worker)
    else:
        jobs = None
        while jobs != [] and time.monotonic() < deadline:
            jobs = subprocess.run(["squeue", "-h", "-n", "slide-bench", "-o", "%i"], capture_output=True,
                                  text=True).stdout.split()
            time.sleep(0.2)
        assert jobs == [], f"SLURM jobs left: {jobs}"
    assert all(r["status"] == "ok" for r in rows(store)) and len(rows(store)) < 4


def _slurm_env(started: subprocess.CompletedProcess) -> dict[str, str]:
    assert started.returncode == 0, started.stderr
    conf = started.stdout.strip().removeprefix("export SLURM_CONF=")
    return dict(os.environ, SLURM_CONF=conf)


def test_slurm_clusters_started_at_once_are_independent(tmp_path):
    """Two engineers (or a test and CI) starting `.ci/slurm.sh` on one machine: each cluster has its
    own munged, so stopping the first one (which used to own the machine's only munged) leaves the
    others running jobs."""
    if shutil.which("slurmctld") is None or shutil.which("munged") is None or os.geteuid() != 0:
        unavailable("needs root with slurm-wlm and munge installed (.ci/slurm.sh start installs them)")
    script = [str(ROOT / ".ci" / "slurm.sh")]
    env = {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}
    first = _slurm_env(subprocess.run(script + ["start"], env=env, capture_output=True, text=True, timeout=120))
    starting = [subprocess.Popen(script + ["start"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in starting]
    others = [_slurm_env(subprocess.CompletedProcess(p.args, p.returncode, *out)) for p, out in zip(starting, outputs)]
    try:
        assert len({e["SLURM_CONF"] for e in [first, *others]}) == 3
        subprocess.run(script + ["stop"], env=first, check=True, capture_output=True, timeout=60)
        for i, other in enumerate(others):
            ran = subprocess.run(["srun", "-t", "1", "echo", f"cluster {i}"], env=other, capture_output=True,
                                 text=True, timeout=60)
            assert ran.stdout.strip() == f"cluster {i}", ran.stderr
    finally:
        for other in others:
            subprocess.run(script + ["stop"], env=other, capture_output=True, timeout=60)


# -- the same rows everywhere --------------------------------------------------------------------------------

def test_same_rows_on_local_pool_ray_and_slurm(matrix):
    """One tiny spec (2 pretrainings, 4 cells) per executor, each with its own store and cache; on
    SLURM also with several cells per job (job arrays of chunks: fewer jobs than cells)."""
    need_ray()
    need_slurm()
    make, command, env, tmp = matrix
    spec = make(seeds=(0, 1))
    runs = {"local": [], "pool": ["--workers", "2"], "ray": ["--workers", "2"], "slurm": [],
            "slurm-chunked": ["--executor-set", "cells_per_job=4"]}
    started = {name: subprocess.Popen(command(spec, tmp / f"{name}.sqlite", "--executor", name.split("-")[0], *extra),
                                      cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                      env=dict(env, SLIDE_BENCH_CACHE=str(tmp / f"cache-{name}")))
               for name, extra in runs.items()}  # at once: each waits on its engine more than on the CPU
    results, jobs = {}, {}
    for name, proc in started.items():
        output = proc.communicate(timeout=600)[0]
        assert proc.returncode == 0, output
        results[name] = scores(tmp / f"{name}.sqlite")
        jobs[name] = set(re.findall(r"\[slurm:([0-9_]+)\]", output))
    assert len(results["local"]) == 4
    for name in runs:
        assert results[name] == results["local"], name
    with sqlite3.connect(tmp / "ray.sqlite") as db:  # Ray's default worker niceness (+15) starved cells
        logged = [e["niceness"] for (d,) in db.execute("SELECT diagnostics FROM runs") for e in json.loads(d)
                  if "niceness" in e]
    assert len(logged) == 4 and set(logged) == {os.nice(0)}, logged
    assert len(jobs["slurm"]) == 4 and len(jobs["slurm-chunked"]) < 4  # the 2 leaders in one job


# -- missing extras ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("executor, module", [("ray", "ray"), ("slurm", "submitit")])
def test_missing_extra_is_one_line(matrix, monkeypatch, capsys, executor, module):
    make, _, _, tmp = matrix
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed: import raises ImportError
    path = tmp / "cora.toml"
    path.write_text('datasets = ["Cora"]\npretrainers = ["graphmae"]\n[set]\npretrain.epochs = 1\n')
    assert cli.main(["matrix", str(path), "--store", str(tmp / "s.sqlite"), "--quiet", "--executor", executor]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"slide-bench: error: the {executor} executor needs '{module}': pip install 'slide-bench[{executor}]'"
    assert rows(tmp / "s.sqlite") == []


# -- option errors name what the user typed ------------------------------------------------------------------

@pytest.mark.parametrize("table, args, message", [
    ("", ["--executor", "pool", "--executor-set", "thread=1"], "executor 'pool' has no option 'thread' (--executor-set)"),
    ("", ["--executor", "pool", "--executor-set", "threads=x"], "option 'threads' (--executor-set) expects int"),
    ("", ["--executor", "pool", "--ray-address", "auto"], "executor 'pool' has no option 'address' (--ray-address)"),
    ("", ["--executor", "pool", "--workers", "-1"], "must be >= 0, runs_per_gpu >= 1 (given: workers=-1 from --workers)"),
    ('[executor]\nname = "pool"\nthread = 2\n', [], "has no option 'thread' (spec 's' [executor])"),
    ("[set]\npretrain.epoch = 3\n", [], "pretrainer 'graphmae' has no option 'epoch' (spec 's' [set])"),
    ("[set]\npretrain.epoch = 3\n", ["--set", "pretrain.epoch=2"], "has no option 'epoch' (--set)"),
    ('[overrides.Cora]\npretrain.epochs = "x"\n', [], "option 'epochs' (spec 's' [overrides.Cora]) expects int"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_option_errors_name_what_the_user_typed(tmp_path, capsys, table, args, message):
    """Executor and spec options used to be reported as `--set` values, whatever the user had typed."""
    path = tmp_path / "s.toml"
    path.write_text('datasets = ["Cora"]\npretrainers = ["graphmae"]\n' + table)
    assert cli.main(["matrix", str(path), "--store", str(tmp_path / "s.sqlite"), "--quiet", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
