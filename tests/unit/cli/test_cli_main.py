"""The CLI contract: lazy command table, one-line errors, exit codes."""

from __future__ import annotations

import importlib

import pytest

from pcipass.cli import main


def test_command_table_names_every_command_of_every_module() -> None:
    modules = {m for m in main.COMMAND_MODULES.values()}
    exported = {
        command.name: name
        for name in modules
        for command in importlib.import_module(f"pcipass.cli.{name}").COMMANDS
    }
    assert exported == main.COMMAND_MODULES


def test_unknown_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run(["--no-such-option"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("pcipass: error: ") and "--help" in err


def test_unknown_command_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main.run(["frobnicate"]) == 2
    assert "frobnicate" in capsys.readouterr().err


def test_internal_error_has_no_traceback_without_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def boom(ctx: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(main.cli, "invoke", boom)
    assert main.run(["list"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip() == (
        "pcipass: error: internal error: RuntimeError: kaboom — rerun with --debug and report it"
    )
    assert main.run(["--debug", "list"]) == 1
    assert "Traceback" in capsys.readouterr().err
