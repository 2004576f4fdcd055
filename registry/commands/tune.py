"""``slide-bench tune``: equal-trials tuning of compared methods on tuning seeds, written as a matrix spec.

The methods are ``--methods slimmer/head`` on ``--datasets`` × ``--pretrainers``, or every method of a
matrix spec (``--spec compare``: each group's options fixed, its label kept). Each gets ``--trials`` Optuna
trials over the search space its head declares; each trial's runs go to the results store, the trials to
an Optuna SQLite file beside it (``<store>-trials.sqlite``); run it again to resume. See :mod:`registry.tune`.
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
from registry.registry import Registry, normalize
from registry.spec import MatrixSpec
from registry.tune import Settings, check_seeds, cells, space_of, spec_toml, targets, tune

METHODS = ["original/linear=LP (tuned)", "original/full=FT (tuned)", "2-half/slide=SLIDE (tuned)"]


def method(text: str) -> tuple[str, str, str]:
    """``2-half/slide=SLIDE`` → ``("2-half", "slide", "SLIDE")``; the label defaults to ``2-half/slide (tuned)``."""
    pair, _, label = text.partition("=")
    slimmer, slash, head = pair.partition("/")
    if not slash or not slimmer.strip() or not head.strip():
        raise ConfigError(f"--methods expects SLIMMER/HEAD[=LABEL], got '{text}'")
    return slimmer.strip(), head.strip(), label.strip() or f"{pair.strip()} (tuned)"


def methods_spec(args: argparse.Namespace, registry: Registry) -> MatrixSpec:
    """The spec of ``--methods`` on ``--datasets`` × ``--pretrainers``, or ``--spec`` (kept to those names)."""
    if args.spec is None:
        groups = [{"slimmers": [s], "heads": [h], "label": label} for s, h, label in map(method, args.methods or METHODS)]
        return MatrixSpec.from_dict({"name": "tune", "datasets": args.datasets or ["Cora"], "preset": args.preset or "official",
                                     "pretrainers": args.pretrainers or ["graphmae"], "group": groups})
    if args.methods or args.preset:
        raise ConfigError("--spec names the methods and the preset: drop --methods and --preset")
    spec = MatrixSpec.load(args.spec, registry)
    for group in spec.groups:
        for axis, names in (("datasets", args.datasets), ("pretrainers", args.pretrainers)):
            group.axes[axis] = [n for n in group.axes[axis] if not names or normalize(n) in map(normalize, names)]
    spec.groups = [g for g in spec.groups if g.axes["datasets"] and g.axes["pretrainers"]]
    if not spec.groups:
        raise ConfigError(f"spec '{spec.name}' has no method on {args.datasets or args.pretrainers}")
    return spec


def trials_store(store: Path) -> Path:
    return store.with_name(f"{store.stem}-trials.sqlite")


def run_tune(args: argparse.Namespace) -> int:
    optuna = require_extra("optuna", "tune", "slide-bench tune")
    require_extra("tomli_w", "tune", "slide-bench tune")
    from filelock import FileLock, Timeout

    runner = make_runner(args)
    spec = methods_spec(args, runner.registry)
    report = sorted({s for g in spec.groups for s in g.axes["seeds"]}) if args.spec else [0, 1, 2, 3, 4]
    report_ft = sorted({s for g in spec.groups for s in g.axes["finetune_seeds"]}) if args.spec else [0, 1, 2]
    settings = Settings(args.trials, args.seeds, args.finetune_seeds, args.report_seeds or report,
                        args.report_finetune_seeds or report_ft, args.startup_trials, args.sampler_seed)
    for seed in (*settings.seeds, *settings.report_seeds):
        if not SEED_RANGE.accepts(seed):
            raise ConfigError(f"seed {seed} is invalid (valid: int {SEED_RANGE})")
    check_seeds(settings)
    if args.force:
        raise ConfigError("tune reuses the runs in the store; --force is not supported (use another --store)")
    if not args.out.parent.is_dir():
        raise ConfigError(f"--out {args.out}: no folder {args.out.parent}")
    if args.metric is not None and not args.metric.startswith("val_"):
        raise ConfigError(f"--metric {args.metric}: tuning selects on validation scores only (a val_ metric)")
    todo = targets(spec, runner.registry, {s: v for s, v in parse_sets(args.set).items() if v}, args.metric)
    for target in todo:
        space = space_of(runner, target)
        if args.dry_run:
            print(f"{target.label} ({target.row}): " + ", ".join(f"{k} {s}" for k, (s, _) in space.items()))
    if args.dry_run:
        return 0
    for target in todo:  # bad input stops here, before any training
        resolved, _ = runner.plan(cells(target, settings, {}))
        for item in resolved:
            runner.check(item)
    runner.cache.check_writable()
    path = trials_store(runner.store.path)
    path.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
    command = "slide-bench " + shlex.join(sys.argv[1:])
    print(f"tune: {len(todo)} method(s) × {args.trials} trials, tuning seeds {settings.seeds}, reporting seeds "
          f"{settings.report_seeds} (trials: {path}, runs: {runner.store.path})", flush=True)
    try:
        with FileLock(f"{path}.lock", timeout=0):
            results = []
            for target in todo:
                results.append((target, tune(runner, storage, target, settings, print)))
                args.out.write_text(spec_toml(args.name or args.out.stem, results, settings, command))
    except Timeout:
        raise ConfigError(f"another slide-bench tune is using {path}; wait for it to finish") from None
    print(f"tune: best configurations written to {args.out} (slide-bench matrix {args.out})", flush=True)
    return 0


@hookimpl
def register_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("tune", help="equal-trials tuning of methods on tuning seeds (Optuna), written as a spec",
                              description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", default=None, help="tune every method of this matrix spec (e.g. compare) instead of --methods")
    add_names_argument(p, "--datasets", "datasets to tune on (default: Cora; with --spec: the spec's)", default=None)
    add_names_argument(p, "--pretrainers", "pretrainers (default: graphmae; with --spec: the spec's)", default=None)
    p.add_argument("--methods", nargs="+", metavar="SLIMMER/HEAD[=LABEL]", default=None,
                   help="compared methods, each tuned with the same number of trials; LABEL: its row in tables "
                        f"(default: {' '.join(METHODS)})")
    p.add_argument("--trials", type=checked(Count), default=10, help="trials per method")
    p.add_argument("--seeds", type=checked(NonNegativeInt), nargs="+", default=[100, 101],
                   help="tuning pretraining seeds (never reported)")
    p.add_argument("--finetune-seeds", type=checked(NonNegativeInt), nargs="+", default=[0],
                   help="fine-tuning seeds of each tuning run")
    p.add_argument("--report-seeds", type=checked(NonNegativeInt), nargs="+", default=None,
                   help="pretraining seeds the written spec runs, disjoint from --seeds (default: 0-4, or --spec's)")
    p.add_argument("--report-finetune-seeds", type=checked(NonNegativeInt), nargs="+", default=None,
                   help="fine-tuning seeds the written spec runs (default: 0 1 2, or --spec's)")
    p.add_argument("--metric", default=None, help="validation score maximised, a val_ metric (default: the one of "
                                                  "the task's primary metric, e.g. val_micro_f1 for node classification)")
    p.add_argument("--preset", choices=PRESETS, default=None, help="option preset of every run (default: official)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.OPTION=VALUE",
                   help="fix an option in every run (a head option fixed here is not searched)")
    p.add_argument("--startup-trials", type=checked(NonNegativeInt), default=5,
                   help="random trials before the TPE sampler models the results")
    p.add_argument("--sampler-seed", type=checked(NonNegativeInt), default=0, help="seed of the sampler")
    p.add_argument("--dry-run", action="store_true", help="list each method with its search space and exit")
    p.add_argument("--out", type=Path, default=Path("tuned.toml"), help="the spec file written")
    p.add_argument("--name", default=None, help="the spec's name (default: the file's stem)")
    add_run_arguments(p)
    p.set_defaults(func=run_tune)
