"""``slide-bench tune``: equal-trials tuning of compared methods on tuning seeds, written as a matrix spec.

Every method (``slimmer/head``) gets ``--trials`` Optuna trials over the search space its head declares;
each trial's runs go to the results store, the trials to an Optuna SQLite file beside it
(``<store>-trials.sqlite``); run it again to resume. See :mod:`registry.tune`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from registry.commands.common import add_names_argument, add_run_arguments, checked, make_runner
from registry.config import PRESETS, parse_sets
from registry.errors import ConfigError, require_extra
from registry.hookspecs import hookimpl
from registry.options import SEED_RANGE, Count, NonNegativeInt
from registry.tune import METRICS, Settings, Target, check_seeds, cells, space_of, spec_toml, tune


def method(text: str) -> tuple[str, str, str]:
    """``2-half/slide=SLIDE`` → ``("2-half", "slide", "SLIDE")``; the label defaults to ``2-half/slide (tuned)``."""
    pair, _, label = text.partition("=")
    slimmer, slash, head = pair.partition("/")
    if not slash or not slimmer.strip() or not head.strip():
        raise ConfigError(f"--methods expects SLIMMER/HEAD[=LABEL], got '{text}'")
    return slimmer.strip(), head.strip(), label.strip() or f"{pair.strip()} (tuned)"


def trials_store(store: Path) -> Path:
    return store.with_name(f"{store.stem}-trials.sqlite")


def run_tune(args: argparse.Namespace) -> int:
    optuna = require_extra("optuna", "tune", "slide-bench tune")
    require_extra("tomli_w", "tune", "slide-bench tune")
    from filelock import FileLock, Timeout

    for seed in (*args.seeds, *args.report_seeds):
        if not SEED_RANGE.accepts(seed):
            raise ConfigError(f"seed {seed} is invalid (valid: int {SEED_RANGE})")
    settings = Settings(args.trials, args.seeds, args.finetune_seeds, args.report_seeds, args.report_finetune_seeds,
                        args.preset, {s: v for s, v in parse_sets(args.set).items() if v}, args.metric,
                        args.startup_trials, args.sampler_seed)
    check_seeds(settings)
    if args.force:
        raise ConfigError("tune reuses the runs in the store; --force is not supported (use another --store)")
    if not args.out.parent.is_dir():
        raise ConfigError(f"--out {args.out}: no folder {args.out.parent}")
    methods = [method(m) for m in args.methods]
    runner = make_runner(args)
    targets = [(Target(d, p, s, h), label) for d in args.datasets for p in args.pretrainers for s, h, label in methods]
    for target, _ in targets:  # bad input stops here, before any training
        space_of(runner, target, settings)
        resolved, _ = runner.plan(cells(target, settings, {}))
        for item in resolved:
            runner.check(item)
    runner.cache.check_writable()
    path = trials_store(runner.store.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
    command = "slide-bench " + shlex.join(sys.argv[1:])
    print(f"tune: {len(targets)} method(s) × {args.trials} trials, tuning seeds {args.seeds}, reporting seeds "
          f"{args.report_seeds} (trials: {path}, runs: {runner.store.path})", flush=True)
    try:
        with FileLock(f"{path}.lock", timeout=0):
            results = []
            for target, label in targets:
                results.append((target, label, tune(runner, storage, target, settings, print)))
                args.out.write_text(spec_toml(args.name or args.out.stem, results, settings, command))
    except Timeout:
        raise ConfigError(f"another slide-bench tune is using {path}; wait for it to finish") from None
    print(f"tune: best configurations written to {args.out} (slide-bench matrix {args.out})", flush=True)
    return 0


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tune", help="equal-trials tuning of methods on tuning seeds (Optuna), written as a spec",
                              description=__doc__.split("\n\n")[0])
    add_names_argument(p, "--datasets", "datasets to tune on", default=["Cora"])
    add_names_argument(p, "--pretrainers", "pretrainers whose encoders are fine-tuned", default=["graphmae"])
    p.add_argument("--methods", nargs="+", metavar="SLIMMER/HEAD[=LABEL]",
                   default=["original/linear=LP (tuned)", "original/full=FT (tuned)", "2-half/slide=SLIDE (tuned)"],
                   help="compared methods, each tuned with the same number of trials; LABEL: its row in tables")
    p.add_argument("--trials", type=checked(Count), default=10, help="trials per method")
    p.add_argument("--seeds", type=checked(NonNegativeInt), nargs="+", default=[100, 101],
                   help="tuning pretraining seeds (never reported)")
    p.add_argument("--finetune-seeds", type=checked(NonNegativeInt), nargs="+", default=[0],
                   help="fine-tuning seeds of each tuning run")
    p.add_argument("--report-seeds", type=checked(NonNegativeInt), nargs="+", default=[0, 1, 2, 3, 4],
                   help="pretraining seeds the written spec runs (disjoint from --seeds)")
    p.add_argument("--report-finetune-seeds", type=checked(NonNegativeInt), nargs="+", default=[0, 1, 2],
                   help="fine-tuning seeds the written spec runs")
    p.add_argument("--metric", choices=METRICS, default=METRICS[0], help="validation score maximised")
    p.add_argument("--preset", choices=PRESETS, default="official", help="option preset of every run")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                   help="fix an option in every run (a head option fixed here is not searched)")
    p.add_argument("--startup-trials", type=checked(NonNegativeInt), default=5,
                   help="random trials before the TPE sampler models the results")
    p.add_argument("--sampler-seed", type=checked(NonNegativeInt), default=0, help="seed of the sampler")
    p.add_argument("--out", type=Path, default=Path("tuned.toml"), help="the spec file written")
    p.add_argument("--name", default=None, help="the spec's name (default: the file's stem)")
    add_run_arguments(p)
    p.set_defaults(func=run_tune)
