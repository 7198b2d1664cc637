"""The CLI contract: lazy command table, one-line errors, exit codes."""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from helpers.cli import Result, pcipass
from pcipass.cli import main
from pcipass.sim.host import SimHost, create_sim

Cli = Callable[..., Result]


def test_command_table_names_every_command_of_every_module() -> None:
    modules = {m for m in main.COMMAND_MODULES.values()}
    exported = {
        command.name: name
        for name in modules
        for command in importlib.import_module(f"pcipass.cli.{name}").COMMANDS
    }
    assert exported == main.COMMAND_MODULES


def test_unknown_option_is_one_line_and_exit_2(cli: Cli) -> None:
    code, _, err = cli("--no-such-option")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("pcipass: error: ") and "--help" in err


def test_unknown_command_is_exit_2(cli: Cli) -> None:
    code, _, err = cli("frobnicate")
    assert code == 2
    assert "frobnicate" in err


def test_internal_error_has_no_traceback_without_debug(
    monkeypatch: pytest.MonkeyPatch, cli: Cli
) -> None:
    def boom(ctx: object) -> None:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(main.cli, "invoke", boom)
    code, _, err = cli("list")
    assert code == 1
    assert "Traceback" not in err
    assert err.strip() == (
        "pcipass: error: internal error: RuntimeError: kaboom — rerun with --debug and report it"
    )
    code, _, err = cli("--debug", "list")
    assert code == 1
    assert "Traceback" in err


# -- bare `pcipass` ------------------------------------------------------------
def test_bare_pcipass_prints_the_help_on_stdout_and_exits_0(cli: Cli) -> None:
    bare, helped = cli(), cli("--help")
    assert (bare.code, bare.err) == (0, "")
    assert bare.out == helped.out and bare.out.startswith("Usage: pcipass")


# -- which host: --root, --sim and the environment -----------------------------
@pytest.fixture
def two_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[SimHost, Path]:
    """A simulated kernel-lab host, and the tree of a Xen dom0 (another host) to --root at."""
    monkeypatch.delenv("PCIPASS_SIM", raising=False)
    monkeypatch.delenv("PCIPASS_ROOT", raising=False)
    return create_sim(tmp_path / "sim", "kernel-lab"), create_sim(tmp_path / "xen", "xen-host").root


def bdfs(res: Result) -> set[str]:
    assert res.code == 0, res.err
    return {d["bdf"] for d in res.json()["devices"]}


def test_an_explicit_option_beats_the_environment(
    cli: Cli, two_hosts: tuple[SimHost, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    sim, tree = two_hosts
    on_sim = bdfs(cli("--sim", str(sim.directory), "--json", "list"))
    on_tree = bdfs(cli("--root", str(tree), "--json", "list"))
    assert on_sim != on_tree
    monkeypatch.setenv("PCIPASS_SIM", str(sim.directory))
    assert bdfs(cli("--json", "list")) == on_sim
    assert bdfs(cli("--root", str(tree), "--json", "list")) == on_tree
    monkeypatch.delenv("PCIPASS_SIM")
    monkeypatch.setenv("PCIPASS_ROOT", str(tree))
    assert bdfs(cli("--json", "list")) == on_tree
    assert bdfs(cli("--sim", str(sim.directory), "--json", "list")) == on_sim


def test_root_with_sim_is_a_usage_error(cli: Cli, two_hosts: tuple[SimHost, Path]) -> None:
    sim, tree = two_hosts
    res = cli("--root", str(tree), "--sim", str(sim.directory), "list")
    assert (res.code, res.out) == (2, "")
    assert res.err == (
        "pcipass: error: --root and --sim select different hosts; give one of them"
        " — see `pcipass --help`\n"
    )


COMMANDS = [
    ["recover"],
    ["recover", "--dry-run"],
    ["list"],
    ["show", "00:00.0"],
    ["assignable", "list"],
    ["assignable", "add", "01:00.0"],
    ["assignable", "remove", "01:00.0"],
    ["reset", "01:00.0"],
    ["snapshot", "s.tgz"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
@pytest.mark.parametrize("kind", ["missing", "not-a-host"])
def test_a_root_that_is_not_a_host_tree_is_exit_2_and_creates_nothing(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], kind: str
) -> None:
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "typo"
    if kind == "not-a-host":
        (root / "sys").mkdir(parents=True)
    before = sorted(tmp_path.rglob("*"))
    res = cli("--root", str(root), *args)
    assert (res.code, res.out) == (2, "")
    why = "does not exist" if kind == "missing" else "has no sys/bus/pci"
    assert res.err.startswith(f"pcipass: error: --root {root} is not a host tree: it {why} — ")
    assert res.err.count("\n") == 1
    assert sorted(tmp_path.rglob("*")) == before


def test_a_root_from_the_environment_is_checked_too(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PCIPASS_SIM", raising=False)
    monkeypatch.setenv("PCIPASS_ROOT", str(tmp_path / "typo"))
    res = cli("recover")
    assert res.code == 2 and "PCIPASS_ROOT=" in res.err and not (tmp_path / "typo").exists()


@pytest.fixture
def no_programs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every program pcipass tries to start on this machine (none is started)."""
    started: list[list[str]] = []

    def refuse(argv: list[str], **_: object) -> None:
        started.append(list(argv))
        raise FileNotFoundError(argv[0])

    monkeypatch.setattr(subprocess, "run", refuse)
    return started


def dom0_tree(tmp_path: Path) -> Path:
    """The tree of a Xen dom0 (another host) with 0000:05:00.1 made assignable there."""
    xen = create_sim(tmp_path / "xen", "xen-host")
    assert pcipass("assignable", "add", "05:00.1", host=xen).code == 0
    return xen.root


def test_under_root_reads_read_only_the_tree(
    cli: Cli, tmp_path: Path, no_programs: list[list[str]]
) -> None:
    tree = dom0_tree(tmp_path)
    for args in (["list"], ["show", "05:00.1"], ["tree"], ["recover", "--dry-run"]):
        res = cli("--root", str(tree), *args)
        assert res.code == 0, (args, res.err)
    res = cli("--root", str(tree), "--json", "assignable", "list")
    assert res.code == 0, res.err
    (row,) = res.json()["assignable"]
    assert (row["bdf"], row["backend"], row["original_driver"]) == ("0000:05:00.1", "xen", "ixgbe")
    assert no_programs == []


@pytest.mark.parametrize(
    ("args", "program"),
    [
        (["assignable", "remove", "-r", "05:00.1"], "xl pci-assignable-remove 0000:05:00.1"),
        (["pci-assignable-add", "05:00.0"], "xl pci-assignable-add 0000:05:00.0"),
    ],
)
def test_under_root_no_program_runs_against_this_machine(
    cli: Cli, tmp_path: Path, no_programs: list[list[str]], args: list[str], program: str
) -> None:
    tree = dom0_tree(tmp_path)
    res = cli("--root", str(tree), *args)
    assert (res.code, res.out) == (1, "")
    assert res.err.startswith(
        f"pcipass: error: `{program}` runs on this machine, not on the tree under --root {tree}"
    )
    assert res.err.endswith(" — run pcipass on that host\n") and res.err.count("\n") == 1
    assert no_programs == []
