"""The simulated host: a kernel-faithful stand-in for a Xen or KVM machine, kept in a directory.

Nothing in the product imports this package but the `--sim` switch and `pcipass sim`; tests
and benchmarks use it as the host the scenario suite runs on. `host.SimHost` implements the
`pcipass.host.base.Host` interface; `kernel/` is the driver core, SR-IOV, pciback and modules;
`xen/` is xenstore and xl (assignable devices, domains); `layout` describes a host,
`config_bytes` encodes config spaces, `tree` writes sysfs trees; `profiles` the bundled hosts.
"""
