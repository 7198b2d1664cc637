"""Plain-data model of a host's PCI devices, built from what `pcipass.host` reads."""
