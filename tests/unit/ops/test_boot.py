"""The boot files on the simulated host: pciback's modprobe.d (hide + softdep on the
device's driver), the udev override rule, the boot unit; a file that is not pcipass's is
refused before anything changes; update-initramfs as a plan step (its failure puts the
files back); `boot status` and `boot enable`."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import Cli
from helpers.fakes import Crash, crash_at
from helpers.sims import driver, fresh, template
from pcipass.host.base import DEFAULT_RUN_TIMEOUT, RunResult
from pcipass.ops.boot import MARK, MODPROBE_FILE, UDEV_FILE, UNIT_FILE, UNIT_WANTS
from pcipass.ops.boot_files import boot_plan, changes
from pcipass.ops.facts import gather_facts
from pcipass.ops.persist_store import declare_assignable, declare_vfs, load
from pcipass.run.executor import SLOW_PROGRAMS, Executor
from pcipass.run.records import RecordStore
from pcipass.sim.host import SimHost

PF, NIC = "0000:03:00.0", "0000:02:00.0"
NUMVFS = f"sys/bus/pci/devices/{PF}/sriov_numvfs"


@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {p: template(tmp_path_factory, p) for p in ("kernel-lab", "xen-lab")}


@pytest.fixture
def kvm(templates: dict[str, Path], tmp_path: Path) -> SimHost:
    return fresh(templates["kernel-lab"], tmp_path)


@pytest.fixture
def xen(templates: dict[str, Path], tmp_path: Path) -> SimHost:
    return fresh(templates["xen-lab"], tmp_path)


def text(host: SimHost, rel: str) -> str | None:
    path = host.root / rel
    return path.read_text() if path.exists() else None


def test_xen_hides_the_device_and_loads_pciback_before_its_driver(xen: SimHost,
                                                                   cli: Cli) -> None:
    declare_assignable(xen, NIC, "xen", claim_at_boot=True)
    declare_assignable(xen, PF, "xen")  # not claimed at boot: the unit applies it
    r = cli("apply", host=xen)
    assert r.code == 0, r.err
    assert text(xen, MODPROBE_FILE) == (
        f"{MARK}\noptions xen-pciback hide=({NIC})\nsoftdep e1000e pre: xen-pciback\n")
    assert text(xen, UDEV_FILE) is None
    unit = text(xen, UNIT_FILE)
    assert unit is not None and unit.startswith(MARK + "\n[Unit]\n")
    assert "ExecStart=/usr/bin/pcipass apply --boot\n" in unit
    assert "After=systemd-udev-settle.service" in unit and "Before=xencommons.service" in unit
    assert f"write /{MODPROBE_FILE} (3 lines)" in r.out.splitlines()


def test_kvm_rule_matches_address_and_ids_and_sets_the_override(kvm: SimHost,
                                                                 cli: Cli) -> None:
    declare_assignable(kvm, NIC, "vfio", claim_at_boot=True)
    assert cli("apply", host=kvm).code == 0
    rule = text(kvm, UDEV_FILE)
    assert rule is not None
    assert rule.splitlines() == [MARK, (
        f'ACTION=="add", SUBSYSTEM=="pci", KERNEL=="{NIC}", ATTR{{vendor}}=="0x8086", '
        'ATTR{device}=="0x10d3", ATTR{subsystem_vendor}=="0x8086", '
        'ATTR{subsystem_device}=="0x0000", ATTR{driver_override}="vfio-pci", '
        'RUN{builtin}+="kmod load vfio-pci"')]
    assert "ids=" not in rule
    assert text(kvm, MODPROBE_FILE) is None


def test_dry_run_shows_every_file_diff_and_writes_nothing(kvm: SimHost, cli: Cli) -> None:
    declare_assignable(kvm, NIC, "vfio", claim_at_boot=True)
    r = cli("apply", "--dry-run", host=kvm)
    assert r.code == 0
    lines = r.out.splitlines()
    assert f"+++ b/{UDEV_FILE}" in lines and f"+++ b/{UNIT_FILE}" in lines
    doc = cli("plan", "--json", host=kvm).json()
    assert [(f["path"], f["action"]) for f in doc["files"]] == [
        (f"/{MODPROBE_FILE}", "keep"), (f"/{UDEV_FILE}", "create"), (f"/{UNIT_FILE}", "create")]
    assert text(kvm, UDEV_FILE) is None and driver(kvm, NIC) == "e1000e"


def test_a_file_that_is_not_pcipass_s_is_refused_before_anything(xen: SimHost,
                                                                  cli: Cli) -> None:
    declare_vfs(xen, PF, 2)
    declare_assignable(xen, NIC, "xen", claim_at_boot=True)
    mine = xen.root / MODPROBE_FILE
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text("options xen-pciback permissive=1\n")
    for args in (("apply",), ("plan",)):
        r = cli(*args, host=xen)
        assert r.code == 2
        assert "pcipass.conf exists and is not pcipass's (its first line is not pcipass's " \
               "mark)" in r.err and r.err.count("\n") == 1
    assert mine.read_text() == "options xen-pciback permissive=1\n"
    assert xen.try_read_text(NUMVFS) == "0" and driver(xen, NIC) == "e1000e"


def test_initramfs_is_refreshed_as_a_step_and_its_failure_puts_files_back(
        xen: SimHost, cli: Cli) -> None:
    release = xen.try_read_text("proc/sys/kernel/osrelease")
    (xen.root / "boot").mkdir()
    (xen.root / f"boot/initrd.img-{release}").write_bytes(b"image")
    declare_assignable(xen, NIC, "xen", claim_at_boot=True)
    assert cli("plan", host=xen).out.splitlines()[-1] == "update-initramfs -u"
    r = cli("apply", host=xen)  # the simulated host has no update-initramfs
    assert r.code == 1
    assert r.err.startswith("pcipass: error: command 'update-initramfs' not found")
    assert "(the boot files were put back as they were; the VF counts and devices stay " \
           "applied)" in r.err
    assert text(xen, MODPROBE_FILE) is None and text(xen, UNIT_FILE) is None
    assert driver(xen, NIC) == "pciback"


def test_a_failing_update_initramfs_is_one_line_and_puts_files_back(
        xen: SimHost, cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    release = xen.try_read_text("proc/sys/kernel/osrelease")
    (xen.root / "boot").mkdir()
    (xen.root / f"boot/initrd.img-{release}").write_bytes(b"image")
    declare_assignable(xen, NIC, "xen", claim_at_boot=True)
    inner = SimHost.run

    def run(self: SimHost, argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        if argv[0] == "update-initramfs":  # mkinitramfs's failure line
            return RunResult(tuple(argv), 1, "", "E: mkinitramfs failure cpio 141 gzip 1\n")
        return inner(self, argv, timeout)

    monkeypatch.setattr(SimHost, "run", run)
    r = cli("apply", host=xen)
    assert r.code == 1 and r.err.count("\n") == 1
    assert r.err.startswith("pcipass: error: `update-initramfs -u` failed: E: mkinitramfs "
                            "failure cpio 141 gzip 1")
    assert "(the boot files were put back as they were" in r.err
    assert text(xen, MODPROBE_FILE) is None and text(xen, UNIT_FILE) is None


def test_a_built_in_pciback_is_not_claimed_early_by_modprobe_d(xen: SimHost, cli: Cli) -> None:
    """With CONFIG_XEN_PCIDEV_BACKEND=y (modules.builtin lists it) modprobe.d's options
    never reach pciback: `boot status` says the claim is lost at boot, `plan` says why."""
    release = xen.try_read_text("proc/sys/kernel/osrelease")
    index = xen.root / f"lib/modules/{release}/modules.builtin"
    index.write_text(index.read_text() + "kernel/drivers/xen/xen-pciback/xen-pciback.ko\n")
    declare_assignable(xen, NIC, "xen", claim_at_boot=True)
    assert cli("apply", host=xen).code == 0
    assert "# xen-pciback is built into this kernel (modules.builtin)" in \
        cli("plan", host=xen).out
    row = cli("boot", "status", "--json", host=xen).json()["boot"][0]
    assert (row["verdict"], row["next_boot"]) == (
        "active now", "lost: xen-pciback is built into this kernel (modules.builtin): "
        f"/{MODPROBE_FILE} does not reach it, only xen-pciback.hide=(BDF) on dom0's command "
        "line does (pcipass does not edit the boot loader's files)")


def test_initramfs_refresh_may_take_minutes(xen: SimHost, cli: Cli,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """update-initramfs took over the default 120 s in the Xen lab under TCG: its step gets
    the executor's longer limit (SLOW_PROGRAMS), other programs keep the default."""
    release = xen.try_read_text("proc/sys/kernel/osrelease")
    (xen.root / "boot").mkdir()
    (xen.root / f"boot/initrd.img-{release}").write_bytes(b"image")
    declare_assignable(xen, NIC, "xen", claim_at_boot=True)
    limits: dict[str, float] = {}
    inner = SimHost.run

    def run(self: SimHost, argv: list[str], timeout: float = DEFAULT_RUN_TIMEOUT) -> RunResult:
        limits[argv[0]] = timeout
        if argv[0] == "update-initramfs":
            return RunResult(tuple(argv), 0, "", "")
        return inner(self, argv, timeout)

    monkeypatch.setattr(SimHost, "run", run)
    r = cli("apply", host=xen)
    assert r.code == 0, r.err
    assert limits["update-initramfs"] == SLOW_PROGRAMS["update-initramfs"] > DEFAULT_RUN_TIMEOUT
    assert limits["modprobe"] == DEFAULT_RUN_TIMEOUT


def test_forgetting_everything_removes_the_files(kvm: SimHost, cli: Cli) -> None:
    declare_assignable(kvm, NIC, "vfio", claim_at_boot=True)
    assert cli("apply", host=kvm).code == 0
    assert cli("state", "forget", NIC, host=kvm).code == 0
    r = cli("apply", host=kvm)
    assert r.code == 0, r.err
    assert f"rm /{UDEV_FILE}" in r.out.splitlines()
    assert text(kvm, UDEV_FILE) is None and text(kvm, UNIT_FILE) is None


def test_boot_status_says_now_and_next_boot(kvm: SimHost, cli: Cli) -> None:
    declare_vfs(kvm, PF, 2)
    declare_assignable(kvm, NIC, "vfio", claim_at_boot=True)

    def status() -> dict[str, tuple[str, str]]:
        rows = cli("boot", "status", "--json", host=kvm).json()["boot"]
        return {r["bdf"]: (r["verdict"], r["next_boot"]) for r in rows}

    assert status() == {
        PF: ("differs", "lost: the boot unit is not installed (`pcipass apply`)"),
        NIC: ("differs", f"lost: /{UDEV_FILE} is not up to date (`pcipass apply`)"),
    }
    assert cli("apply", host=kvm).code == 0
    assert status() == {
        PF: ("active now", "lost: the boot unit is not enabled (`pcipass boot enable`)"),
        NIC: ("active now", f"claimed early by /{UDEV_FILE}"),
    }
    assert cli("boot", "enable", "--dry-run", host=kvm).out == \
        "systemctl enable pcipass-apply.service\n"
    wants = kvm.root / UNIT_WANTS  # what `systemctl enable` makes
    wants.parent.mkdir(parents=True)
    wants.symlink_to(f"/{UNIT_FILE}")
    kvm.write(NUMVFS, "0")  # as after a reboot
    assert status()[PF] == ("applies at next boot", "by the boot unit")
    assert "already enabled" in cli("boot", "enable", host=kvm).err


def test_a_replaced_device_gets_no_claim(xen: SimHost, cli: Cli) -> None:
    declare_assignable(xen, NIC, "xen", claim_at_boot=True)
    path = xen.root / "etc/pcipass/host.toml"
    path.write_text(path.read_text().replace('id = "8086:10d3"', 'id = "8086:1533"'))
    rows = cli("boot", "status", "--json", host=xen).json()["boot"]
    assert [r["verdict"] for r in rows] == ["differs"]
    assert rows[0]["next_boot"].startswith("not applied (0000:02:00.0 is now 8086:10d3")
    r = cli("apply", "--boot", host=xen)
    assert r.code == 1 and text(xen, MODPROBE_FILE) is None


def test_a_kill_before_update_initramfs_is_not_finished_without_running_it(
        xen: SimHost, cli: Cli) -> None:
    release = xen.try_read_text("proc/sys/kernel/osrelease")
    (xen.root / "boot").mkdir()
    (xen.root / f"boot/initrd.img-{release}").write_bytes(b"image")
    declare_assignable(xen, NIC, "xen", claim_at_boot=True)
    plan = boot_plan(xen, changes(xen, gather_facts(xen), load(xen)))
    assert plan.steps[-1].argv == ("update-initramfs", "-u")
    with pytest.raises(Crash):  # killed with the files written, the initramfs not refreshed
        Executor(xen, RecordStore(xen), settle=0,
                 fault=crash_at("before", len(plan.steps))).run(plan)
    assert text(xen, MODPROBE_FILE) is not None
    r = cli("recover", host=xen)  # the simulated host has no update-initramfs: it must try
    assert r.code == 1 and "update-initramfs" in r.err, (r.code, r.out, r.err)
    assert text(xen, MODPROBE_FILE) is None
