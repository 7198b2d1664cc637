"""The one boundary to the machine: sysfs/procfs reads and writes, modules, subprocesses."""
