"""Every command, recursively, has help text with an example, and the README names it."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from e2train.cli.main import cli
from e2train.cli.report import energy_report

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Command, path: str) -> list[tuple[str, click.Command]]:
    found = [(path, group)]
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            found += _commands(command, f"{path} {name}")
    return found


COMMANDS = _commands(cli, "e2train") + [("energy-report", energy_report)]


@pytest.mark.parametrize("path,command", COMMANDS, ids=[p for p, _ in COMMANDS])
def test_command_has_help_and_is_in_the_readme(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{path} has no help text"
    if not isinstance(command, click.Group):
        assert "Example:" in command.help, f"{path}: its help shows no example"
    assert path in README, f"the README never mentions `{path}`"
