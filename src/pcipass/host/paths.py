"""Where things are on a Linux host: the one table of the sysfs, procfs and data paths pcipass
reads and writes, relative to the host root (``/``, a `--root` tree, a sim's root). `dev`,
`drv`, `net` and `block` name a PCI function's, a driver's, an interface's and a block device's
files (``dev(bdf, "driver")``); the simulator builds its tree from the same table."""

PCI_BUS = "sys/bus/pci"
PCI_DEVICES = f"{PCI_BUS}/devices"  # one link per function, to its directory under DEVICES
PCI_DRIVERS = f"{PCI_BUS}/drivers"
DRIVERS_PROBE = f"{PCI_BUS}/drivers_probe"
RESCAN = f"{PCI_BUS}/rescan"
DEVICES = "sys/devices"  # the real device directories: pci<domain>:<bus>/<bridge>/<bdf>
MODULES = "sys/module"
IOMMU_GROUPS = "sys/kernel/iommu_groups"
CLASS_NET, CLASS_BLOCK = "sys/class/net", "sys/class/block"
CLASS_NVME, CLASS_IOMMU = "sys/class/nvme", "sys/class/iommu"
BLOCK = "sys/block"
HYPERVISOR_TYPE = "sys/hypervisor/type"

OSRELEASE = "proc/sys/kernel/osrelease"
CMDLINE = "proc/cmdline"
MOUNTS, SELF_MOUNTS = "proc/mounts", "proc/self/mounts"
SWAPS = "proc/swaps"
PROC_MODULES = "proc/modules"
ROUTE, IPV6_ROUTE, IF_INET6 = "proc/net/route", "proc/net/ipv6_route", "proc/net/if_inet6"
XEN_CAPABILITIES = "proc/xen/capabilities"

#: Where distributions install pci.ids, in the order lspci's builds look.
PCI_IDS_PATHS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids", "usr/share/pci.ids")


def dev(bdf: str, attr: str = "") -> str:
    """``sys/bus/pci/devices/<bdf>[/<attr>]``: a function (its bus link) or one of its files."""
    return f"{PCI_DEVICES}/{bdf}/{attr}" if attr else f"{PCI_DEVICES}/{bdf}"


def drv(name: str, attr: str = "") -> str:
    """``sys/bus/pci/drivers/<name>[/<attr>]``: a PCI driver or one of its files."""
    return f"{PCI_DRIVERS}/{name}/{attr}" if attr else f"{PCI_DRIVERS}/{name}"


def net(name: str, attr: str = "") -> str:
    """``sys/class/net/<name>[/<attr>]``: a network interface or one of its files."""
    return f"{CLASS_NET}/{name}/{attr}" if attr else f"{CLASS_NET}/{name}"


def block(name: str, attr: str = "") -> str:
    """``sys/class/block/<name>[/<attr>]``: a disk, a partition or a stacked device, or its file."""
    return f"{CLASS_BLOCK}/{name}/{attr}" if attr else f"{CLASS_BLOCK}/{name}"


def modules_alias(release: str) -> str:
    """The ``modules.alias`` of kernel `release` (the text of `OSRELEASE`)."""
    return f"lib/modules/{release}/modules.alias"
