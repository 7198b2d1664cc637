"""pcipass: hand PCI devices and SR-IOV VFs to virtual machines, safely and reversibly."""

__version__ = "0.1.0"
