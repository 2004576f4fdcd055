"""The command line explains itself: a version, a description for every sub-command, help for every
option and argument (options' help ends with their default)."""

from __future__ import annotations

import argparse

import pytest

from registry import __version__
from registry.cli import build_parser, main


def commands(parser: argparse.ArgumentParser, prefix: str = "") -> dict[str, argparse.ArgumentParser]:
    found = {}
    for action in parser._subparsers._group_actions if parser._subparsers else ():
        for name, sub in action.choices.items():
            found[f"{prefix}{name}"] = sub
            found.update(commands(sub, f"{prefix}{name} "))
    return found


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"slide-bench {__version__}"


def test_every_command_has_a_description_and_every_argument_help():
    missing = []
    for name, parser in commands(build_parser()).items():
        if not (parser.description or "").strip():
            missing.append(f"{name}: no description")
        if "``" in (parser.description or ""):
            missing.append(f"{name}: literal double backticks in the description")
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            if not (action.help or "").strip():
                missing.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help")
    assert not missing, "\n".join(missing)


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: Cora)" in out and "(default: graphmae)" in out and "(default: 0)" in out


def test_multi_valued_options_take_one_form_and_the_old_ones_still_work(capsys):
    parser = build_parser()
    assert parser.parse_args(["table", "--datasets", "Cora", "CiteSeer"]).datasets == ["Cora", "CiteSeer"]
    assert "deprecated" not in capsys.readouterr().err
    for old in (["--dataset", "Cora", "--dataset", "CiteSeer"], ["--datasets", "Cora,CiteSeer"]):
        assert parser.parse_args(["table", *old]).datasets == ["Cora", "CiteSeer"]
        assert "--datasets A B" in capsys.readouterr().err
