"""`pcipass`: the command group, global options, and the error contract.

Exit codes: 0 success, 1 the operation failed, 2 bad input or usage.
A user error prints exactly one line `pcipass: error: <what> — <fix>` on stderr.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from pcipass import __version__
from pcipass.cli.context import ROOT_ENV, SIM_ENV, AppContext, select_host
from pcipass.errors import PcipassError, one_line

#: Which module holds each command: commands are imported only when used, so a
#: `pcipass list` does not pay for the assignment or simulator code.
COMMAND_MODULES = {
    "spec": "cmd_spec",
    "config": "cmd_config",
    "doctor": "cmd_doctor",
    "list": "cmd_list",
    "show": "cmd_list",
    "tree": "cmd_list",
    "assignable": "cmd_assignable",
    "pci-assignable-add": "cmd_assignable",
    "pci-assignable-list": "cmd_assignable",
    "pci-assignable-remove": "cmd_assignable",
    "recover": "cmd_recover",
    "reset": "cmd_reset",
    "sim": "cmd_sim",
    "snapshot": "cmd_snapshot",
    "sriov": "cmd_sriov",
    "vf": "cmd_vf",
    "attach": "cmd_domain",
    "detach": "cmd_domain",
    "domain": "cmd_domain",
    "pci-attach": "cmd_domain",
    "pci-detach": "cmd_domain",
    "pci-list": "cmd_domain",
    "plan": "cmd_state",
    "apply": "cmd_state",
    "state": "cmd_state",
    "boot": "cmd_state",
}


class LazyGroup(click.Group):
    """A group whose subcommands live in `pcipass.cli.<module>.COMMANDS`, imported on demand."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None:
            return None
        module = importlib.import_module(f"pcipass.cli.{module_name}")
        commands: list[click.Command] = module.COMMANDS
        return next((c for c in commands if c.name == cmd_name), None)


@click.group(
    cls=LazyGroup,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default="/",
    envvar=ROOT_ENV,
    show_default=True,
    help="Another host's tree (an unpacked snapshot): read and write every host path "
    "(sys, proc, var/lib) under it; no program is run.",
)
@click.option(
    "--sim",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=SIM_ENV,
    help="Use the simulated host kept in this directory (see `pcipass sim init`).",
)
@click.option("--json", "json_", is_flag=True, help="Machine output: JSON only on stdout.")
@click.option("--debug", is_flag=True, help="Show tracebacks for internal errors.")
@click.version_option(__version__, prog_name="pcipass")
@click.pass_context
def cli(ctx: click.Context, root: Path, sim: Path | None, json_: bool, debug: bool) -> None:
    """Hand PCI devices and SR-IOV VFs to virtual machines, safely and reversibly."""
    if ctx.invoked_subcommand is None:  # bare `pcipass`: the help, as `pcipass --help`
        click.echo(ctx.get_help())
        return
    root, sim = select_host(ctx, root, sim)
    ctx.obj = AppContext(root=root, json=json_, debug=debug, sim=sim)


def _fail(line: str, code: int) -> int:
    sys.stderr.write(f"pcipass: error: {one_line(line)}\n")
    return code


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code (the testable entry point)."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        result = cli.main(args=argv, prog_name="pcipass", standalone_mode=False)
        return result if isinstance(result, int) else 0
    except PcipassError as exc:
        if debug:
            import traceback  # noqa: PLC0415 - only with --debug: keep the start fast

            traceback.print_exc()
        return _fail(exc.line(), exc.exit_code)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.exceptions.Abort:
        return _fail("aborted", 1)
    except click.UsageError as exc:
        hint = f"see `{exc.ctx.command_path} --help`" if exc.ctx else "see `pcipass --help`"
        return _fail(f"{exc.format_message()} — {hint}", 2)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except BrokenPipeError:
        return 1
    except Exception as exc:
        if debug:
            import traceback  # noqa: PLC0415 - only with --debug: keep the start fast

            traceback.print_exc()
        return _fail(
            f"internal error: {type(exc).__name__}: {exc} — rerun with --debug and report it", 1
        )


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
