"""Kernel modules: modprobe / modprobe -r, driver registration, and boot.

A module registers its drivers (which then probe unbound devices); its parameters show in
``sys/module/<m>/parameters``; xen-pciback's ``hide=`` fills the slot list before it registers.
A parameter the module does not have is dropped with the kernel's "unknown parameter 'P'
ignored" and the module loads (measured: `modprobe e1000e max_vfs=2` exits 0).
"""

from __future__ import annotations

from pcipass.host import paths
from pcipass.sim.kernel.device_attrs import DeviceAttrs
from pcipass.sim.kernel.kstr import kstrtoul, param_text, parse_hide, parse_ids_param
from pcipass.sim.kernel.state import RELEASE, module_name
from pcipass.sim.layout import Driver, Module

UINT_PARAMS = ("max_vfs",)
"""Parameters the drivers declare `uint` (igb, ixgbe): a value that is not one fails the load."""


class Modules(DeviceAttrs):
    """Loading and unloading modules, registering and unregistering drivers."""

    def register_driver(self, name: str) -> None:
        """driver_register: the driver appears in sysfs and probes unbound devices."""
        drv = self.state.driver(name)
        self.tree.add_driver(Driver(drv.name, drv.module))
        if drv.kind == "pciback":
            ddir = self.root / paths.drv(drv.name)
            for extra in ("new_slot", "remove_slot", "quirks", "irq_handlers",
                          "irq_handler_state", "allow_interrupt_control"):  # fmt: skip
                (ddir / extra).write_text("")
            self._write_pciback_files()
        if name not in self.state.registered:
            self.state.registered.append(name)
        self.driver_attach(name)

    def unregister_driver(self, name: str) -> None:
        for bdf in sorted(self.state.functions):
            if self.exists(bdf) and self.driver_of(bdf) == name:
                self._detach(bdf)
        self.tree.remove_driver(name)
        if name in self.state.registered:
            self.state.registered.remove(name)
        self.state.dynids.pop(name, None)

    def load_module(self, name: str, params: dict[str, str]) -> tuple[int, str]:
        """modprobe NAME k=v...: (exit code, stderr). A loaded module ignores new params."""
        name = module_name(name)
        if name not in self.state.modules:
            return (
                1,
                f"modprobe: FATAL: Module {name} not found in directory /lib/modules/{RELEASE}\n",
            )
        mod = self.state.module(name)
        if mod.builtin or name in self.state.loaded:
            return 0, ""
        if mod.xen_only and not self.state.xen:
            return 1, f"modprobe: ERROR: could not insert '{name}': No such device\n"
        known = {k for k, _ in mod.params} | set(mod.hidden_params)
        for key in [k for k in params if k not in known]:  # kernel/module/main.c: loads anyway
            self.log.append(f"{name}: unknown parameter '{key}' ignored")
        params = {k: v for k, v in params.items() if k in known}
        bad = [k for k in UINT_PARAMS if k in params and kstrtoul(params[k]) is None]
        if bad:  # param_set_uint refuses it and the module is not loaded
            self.log.append(f"{name}: `{params[bad[0]]}' invalid for parameter `{bad[0]}'")
            return 1, f"modprobe: ERROR: could not insert '{name}': Invalid argument\n"
        hide = parse_hide(params.get("hide", "")) if name == "xen_pciback" else []
        if hide is None:
            return 1, f"modprobe: ERROR: could not insert '{name}': Invalid argument\n"
        for dep in mod.deps:
            self.load_module(dep, {})
        for slot in hide:
            self.add_slots(slot)
        defaults = dict(mod.params)
        values = defaults | {k: param_text(defaults.get(k), v) for k, v in params.items()}
        self.state.params[name] = values
        self.state.loaded.append(name)
        visible = tuple((k, v) for k, v in values.items() if k not in mod.hidden_params)
        self.tree.add_module(Module(name, visible))
        for drv in mod.drivers:
            self.register_driver(drv)
        if values.get("ids") and mod.drivers:  # vfio-pci / pci-stub `ids=`: dynamic ids
            for pid in parse_ids_param(values["ids"]):
                self.state.dynids.setdefault(mod.drivers[0], []).append(pid)
            self.driver_attach(mod.drivers[0])
        return 0, ""

    def unload_module(self, name: str) -> tuple[int, str]:
        """modprobe -r NAME."""
        name = module_name(name)
        if name not in self.state.modules:
            return 1, f"modprobe: FATAL: Module {name} not found.\n"
        mod = self.state.module(name)
        if mod.builtin:
            return 1, f"modprobe: FATAL: Module {name} is builtin.\n"
        if name not in self.state.loaded:
            return 1, f"modprobe: FATAL: Module {name} is not in kernel.\n"
        users = [m for m in self.state.loaded if name in self.state.module(m).deps]
        if users:
            return 1, f"modprobe: FATAL: Module {name} is in use.\n"
        for drv in mod.drivers:
            self.unregister_driver(drv)
        self.state.loaded.remove(name)
        self.state.params.pop(name, None)
        self.tree.remove_module(name)
        for dep in mod.deps:  # modprobe -r also removes dependencies nothing else uses
            if dep in self.state.loaded and not any(
                dep in self.state.module(m).deps for m in self.state.loaded
            ):
                self.unload_module(dep)
        return 0, ""

    def boot(self, modules: list[str]) -> None:
        """Register built-in drivers, then load `modules` in order (as the initramfs/udev do)."""
        for name in self.state.modules:
            mod = self.state.module(name)
            if mod.builtin:
                if mod.params:
                    self.tree.add_module(Module(name, mod.params, builtin=True))
                for drv in mod.drivers:
                    self.register_driver(drv)
        for name in modules:
            self.load_module(name, {})
