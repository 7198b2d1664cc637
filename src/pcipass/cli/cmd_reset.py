"""`pcipass reset BDF`: FLR → PM → bus reset, refusing an unsafe bus reset."""

from __future__ import annotations

import click

from pcipass.cli.context import AppContext, pass_app
from pcipass.cli.output import run_change
from pcipass.model.resolve import SHOW, resolve
from pcipass.ops.assign import HostFacts
from pcipass.ops.guards import FORCE_NET, FORCE_STORAGE
from pcipass.ops.reset import reset_plan
from pcipass.run.plan import Plan


@click.command("reset")
@click.argument("device")
@click.option(FORCE_STORAGE, "force_storage", is_flag=True,
              help="Reset a device that backs mounted filesystems, swap, LVM/MD/dm or /.")
@click.option(FORCE_NET, "force_net", is_flag=True,
              help="Reset a NIC that carries the default route or an address.")
@click.option("--dry-run", is_flag=True, help="Print the exact writes; change nothing.")
@pass_app
def reset_cmd(app: AppContext, device: str, force_storage: bool, force_net: bool,
              dry_run: bool) -> None:
    """Reset one device (BDF or interface name) with the safest method it supports."""
    flags = {FORCE_STORAGE: force_storage, FORCE_NET: force_net}
    overrides = frozenset(f for f, on in flags.items() if on)

    def build(facts: HostFacts) -> Plan:
        bdf = str(resolve(facts.model, device, SHOW).bdf)
        return reset_plan(facts.model, bdf, facts.domid(bdf), overrides)

    run_change(app, build, dry_run)


COMMANDS: list[click.Command] = [reset_cmd]
