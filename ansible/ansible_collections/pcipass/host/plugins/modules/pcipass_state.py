#!/usr/bin/python
# Copyright: (c) 2026, pcipass contributors
# MIT License (see the pcipass repository's pyproject.toml)
"""The pcipass_state module: declare a host's passthrough state and converge to it."""

DOCUMENTATION = r"""
---
module: pcipass_state
short_description: Declare assignable devices and SR-IOV VF counts, and apply them with pcipass
version_added: 0.1.0
description:
  - Declares, in pcipass's declared host state (C(/etc/pcipass/host.toml) on the managed
    host), devices to keep assignable to guests (on C(xen-pciback) or C(vfio-pci), with a
    name, optionally claimed at boot before any host driver binds), VF counts per SR-IOV PF
    (with C(sriov_drivers_autoprobe)) and VF settings (MAC, VLAN, ...), then converges the
    host to it with C(pcipass apply) (the VF counts, the VF settings, then the devices, each
    phase one journalled plan with pcipass's guards, then the boot files and the boot unit).
  - Each device is keyed by its address and its vendor/device/subsystem IDs, read from the
    device; a declared device that is gone or was replaced fails the task, and nothing is
    applied to whatever now sits at its address.
  - Check mode returns the plan (C(pcipass plan) of the state the task declares) and
    touches nothing. Diff mode shows the declared state before and after, and the steps.
  - C(changed) is true exactly when the plan was not empty (or the declared state's
    content changed); a second run with the same options reports ok.
  - A VF made assignable in the same task that creates it (C(assignable[].pf) with
    C(assignable[].vfs)) is declared once the VF phase has created it, and applied by a
    second apply in the same task (check mode lists it under C(plan.pending)).
  - A guard that refuses (the host's root disk controller, the NIC of its default route, a
    PF whose VFs are in use) fails the task with pcipass's one-line reason before anything
    is written.
author:
  - pcipass contributors (!UNKNOWN)
extends_documentation_fragment:
  - pcipass.host.host
attributes:
  check_mode:
    support: full
    description: Computes the plan on the live host and writes nothing.
  diff_mode:
    support: full
    description: The declared state file before and after, and the plan's steps and file diffs.
options:
  assignable:
    description:
      - Devices to keep assignable. Each entry replaces the declaration of the same address.
      - Give either C(assignable[].device), or C(assignable[].pf) with C(assignable[].vfs).
      - A device named twice (also as a VF of C(assignable[].pf)) fails the task with
        nothing changed.
    type: list
    elements: dict
    default: []
    suboptions:
      device:
        description:
          - The device, as a PCI address (C(0000:03:00.0) or C(03:00.0)) or a network
            interface name.
        type: str
      pf:
        description:
          - An SR-IOV PF (address or interface); C(assignable[].vfs) names which of its VFs.
        type: str
      vfs:
        description:
          - VF indexes of C(assignable[].pf) and ranges, e.g. C(0-3) or C(0,2-3).
          - Each index must be below the PF's VF count (the count C(vfs) declares for it,
            else the VFs enabled now).
        type: str
      backend:
        description:
          - C(xen) (xen-pciback, C(xl pci-assignable-add)), C(vfio) (vfio-pci, KVM), or
            C(auto) (xen in a Xen dom0, else vfio).
        type: str
        choices: [auto, xen, vfio]
        default: auto
      name:
        description:
          - The device's name (as C(xl pci-assignable-add -n)); one device only.
        type: str
      claim_at_boot:
        description:
          - Claim the device at boot, before any host driver binds (Xen, C(options
            xen-pciback hide=) and a softdep; KVM, a udev C(driver_override) rule).
        type: bool
        default: false
      id:
        description:
          - The vendor:device ID the device (for C(assignable[].pf), the PF) must have, as
            C(lspci -n) prints it (C(8086:10fb)); another device at that address fails
            the task with nothing changed.
        type: str
  vfs:
    description:
      - VF counts per SR-IOV PF. Each entry replaces the declaration of the same PF.
      - A PF named twice (by address or interface), or a VF index twice in one
        C(vfs[].settings), fails the task with nothing changed.
    type: list
    elements: dict
    default: []
    suboptions:
      pf:
        description:
          - The PF, as a PCI address or a network interface name.
        type: str
        required: true
      count:
        description:
          - The number of VFs (0, none); at most the PF's C(sriov_totalvfs).
        type: int
        required: true
      autoprobe:
        description:
          - Whether host drivers take the new VFs (C(sriov_drivers_autoprobe)); default,
            leave it as it is.
        type: bool
      method:
        description:
          - How apply creates the VFs, as C(pcipass sriov enable --method) - C(sysfs)
            (C(sriov_numvfs)) or C(module) (the PF's driver reloaded with its VF count
            parameter, C(max_vfs); refused for drivers pcipass does not know to take one).
        type: str
        choices: [sysfs, module]
        default: sysfs
      reload_other_devices:
        description:
          - With C(method=module), apply also reloads the other devices the PF's driver
            drives (they go down while it reloads); without it, such a reload is refused.
        type: bool
        default: false
      id:
        description:
          - The vendor:device ID the PF must have (C(8086:10fb)); another device at that
            address fails the task with nothing changed.
        type: str
      settings:
        description:
          - VF settings, set through the PF (C(ip link set PF vf N ...)) by apply's VF
            phase after the count, as C(pcipass vf set) does; each element declares exactly
            the settings of VF C(index) (a key left out is not declared). Without this
            option, the VFs' declared settings are kept.
        type: list
        elements: dict
        suboptions:
          index:
            description: The VF's index, below C(count).
            type: int
            required: true
          mac:
            description: The VF's MAC (unicast, not zero).
            type: str
          vlan:
            description: The VF's VLAN ID (0-4094, 0 none).
            type: int
          qos:
            description: The VLAN priority (0-7).
            type: int
          spoofchk:
            description: MAC spoof checking.
            type: bool
          trust:
            description: Trusted VF (may change its MAC, promiscuous mode).
            type: bool
          link_state:
            description: The VF's link state.
            type: str
            choices: [auto, enable, disable]
          min_tx_rate:
            description: Minimum TX rate, Mb/s.
            type: int
          max_tx_rate:
            description: Maximum TX rate, Mb/s (0 none).
            type: int
  purge:
    description:
      - Drop every declaration this task does not list (the devices are left as they are
        now, as C(pcipass state forget) does). Default, the task's entries are added to the
        declared state and the others kept.
    type: bool
    default: false
  apply:
    description:
      - Converge the host to the declared state (C(pcipass apply)). With C(false), only
        the declared state is written (it applies at the next boot, or at the next
        C(pcipass apply)).
    type: bool
    default: true
notes:
  - C(pcipass apply) also installs the boot files (a modprobe.d file for C(xen-pciback),
    a udev rule for C(vfio-pci), the C(pcipass-apply.service) boot unit); enabling the boot
    unit is C(pcipass boot enable).
seealso:
  - module: pcipass.host.pcipass_facts
  - module: pcipass.host.pcipass_xl_pci
"""

EXAMPLES = r"""
- name: Every host's 82599 PF gets 7 VFs, VFs 0-3 on pciback, persisted
  pcipass.host.pcipass_state:
    vfs:
      - pf: "0000:05:00.0"
        id: "8086:10fb"
        count: 7
    assignable:
      - pf: "0000:05:00.0"
        vfs: "0-3"
        backend: xen

- name: A KVM host's e1000e on vfio-pci from boot on
  pcipass.host.pcipass_state:
    assignable:
      - device: "0000:02:00.0"
        backend: vfio
        claim_at_boot: true

- name: Only this, forgetting every other declaration (devices are left as they are)
  pcipass.host.pcipass_state:
    vfs:
      - pf: enp5s0f0
        count: 2
        autoprobe: false
    purge: true

- name: Against a simulated host (tests)
  pcipass.host.pcipass_state:
    sim: /var/tmp/sims/host1
    vfs:
      - pf: "0000:05:00.0"
        count: 7
"""

RETURN = r"""
declared:
  description: The declared state after the task (as C(pcipass state show --json)).
  returned: always
  type: dict
  contains:
    assignable:
      description: Declared assignable devices (bdf, id, subsystem, backend, name, claim_at_boot).
      type: list
      elements: dict
    vfs:
      description:
        - Declared VF counts (pf, id, subsystem, count, autoprobe, method,
          reload_other_devices) and each PF's declared VF settings (vf).
      type: list
      elements: dict
      contains:
        vf:
          description:
            - The declared settings of the PF's VFs, one element per VF that has any, in
              index order; each has the VF's C(index) and only the settings declared for it
              (mac, vlan, qos, spoofchk, trust, link_state, min_tx_rate, max_tx_rate).
          type: list
          elements: dict
          sample: [{"index": 0, "mac": "02:00:00:00:00:00"}, {"index": 1, "vlan": 10}]
  sample: {"assignable": [], "vfs": [{"pf": "0000:05:00.0", "id": "8086:10fb",
           "subsystem": "8086:000c", "count": 7, "autoprobe": null,
           "vf": [{"index": 0, "mac": "02:00:00:00:00:00"}]}]}
plan:
  description:
    - The plan before the task ran (as C(pcipass plan --json)), for the state the task
      declares; in check mode, what a run would do.
  returned: always
  type: dict
  contains:
    items:
      description: Each declared item's status (holds, differs, waits, changed, gone).
      type: list
      elements: dict
    plans:
      description: The VF phase, the device phase and the boot programs, each with its steps.
      type: list
      elements: dict
    refusals:
      description: Phases a guard refuses (the task fails then).
      type: list
      elements: str
    files:
      description: The boot files, each with its action (create, replace, remove, keep).
      type: list
      elements: dict
    pending:
      description: VFs declared assignable once the VF phase has created them.
      type: list
      elements: dict
    converged:
      description: Whether the host was already in the declared state.
      type: bool
applied:
  description: Each journalled plan apply ran (command, state, steps, warnings).
  returned: always
  type: list
  elements: dict
files:
  description: The boot files apply created, replaced or removed.
  returned: always
  type: list
  elements: dict
converged:
  description: Whether the host is in the declared state after the task (in check mode, before it).
  returned: always
  type: bool
pcipass_error:
  description: On failure, C(input) (bad input, exit 2 in the CLI) or C(operation).
  returned: failed
  type: str
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pcipass.host.plugins.module_utils.pcipass_common import (
    HOST_ARGS,
    MODULE_KWARGS,
    on_host,
)

ASSIGNABLE_ARGS = dict(
    device=dict(type="str"),
    pf=dict(type="str"),
    vfs=dict(type="str"),
    backend=dict(type="str", choices=["auto", "xen", "vfio"], default="auto"),
    name=dict(type="str"),
    claim_at_boot=dict(type="bool", default=False),
    id=dict(type="str"),
)
VF_SETTINGS_ARGS = dict(
    index=dict(type="int", required=True),
    mac=dict(type="str"),
    vlan=dict(type="int"),
    qos=dict(type="int"),
    spoofchk=dict(type="bool"),
    trust=dict(type="bool"),
    link_state=dict(type="str", choices=["auto", "enable", "disable"]),
    min_tx_rate=dict(type="int"),
    max_tx_rate=dict(type="int"),
)
VFS_ARGS = dict(
    pf=dict(type="str", required=True),
    count=dict(type="int", required=True),
    autoprobe=dict(type="bool"),
    method=dict(type="str", choices=["sysfs", "module"], default="sysfs"),
    reload_other_devices=dict(type="bool", default=False),
    id=dict(type="str"),
    settings=dict(type="list", elements="dict", options=VF_SETTINGS_ARGS),
)
ARGUMENT_SPEC = dict(
    assignable=dict(type="list", elements="dict", default=[], options=ASSIGNABLE_ARGS,
                    mutually_exclusive=[("device", "pf"), ("device", "vfs")],
                    required_one_of=[("device", "pf")],
                    required_together=[("pf", "vfs")]),
    vfs=dict(type="list", elements="dict", default=[], options=VFS_ARGS),
    purge=dict(type="bool", default=False),
    apply=dict(type="bool", default=True),
    **HOST_ARGS,
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, **MODULE_KWARGS)

    def body(host):
        # imported once on_host found pcipass new enough (pcipass_declare imports it whole)
        from ansible_collections.pcipass.host.plugins.module_utils.pcipass_declare import (
            converge,
        )

        return converge(host, module.params, module.check_mode, module.warn)

    result = on_host(module, body)
    doc = result.to_json()
    if module._diff:
        doc["diff"] = result.diff()
    module.exit_json(**doc)


if __name__ == "__main__":
    main()
