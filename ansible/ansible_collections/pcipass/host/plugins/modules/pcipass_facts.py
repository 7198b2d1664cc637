#!/usr/bin/python
# Copyright: (c) 2026, pcipass contributors
# MIT License (see the pcipass repository's pyproject.toml)
"""The pcipass_facts module: a host's PCI devices, SR-IOV, assignable devices, doctor."""

DOCUMENTATION = r"""
---
module: pcipass_facts
short_description: PCI devices, SR-IOV PFs and VFs, assignable devices and doctor's verdict as facts
version_added: 0.1.0
description:
  - Reads the managed host's PCI functions (as C(pcipass list --json)), its SR-IOV PFs with
    their VFs (C(pcipass sriov list --json)), the devices assignable to guests
    (C(pcipass assignable list --json)), the declared host state
    (C(pcipass state show --json)) and, unless C(doctor=false), doctor's checks
    (C(pcipass doctor --json)) with one verdict, and returns them as C(ansible_facts.pcipass).
  - Plays then select devices by vendor, class or driver instead of by address, e.g.
    C(pcipass.devices | selectattr('device_id', 'equalto', '10fb')).
  - Reads only; under C(root), no program is run (doctor's checks that need one say
    C(unknown)).
author:
  - pcipass contributors (!UNKNOWN)
extends_documentation_fragment:
  - pcipass.host.host
attributes:
  check_mode:
    support: full
    description: Reads only, so check mode returns the same facts.
  diff_mode:
    support: none
    description: Reads only.
  facts:
    support: full
    description: Returns C(ansible_facts.pcipass).
options:
  doctor:
    description:
      - Run doctor's checks (IOMMU, pciback/vfio, GRUB traps; read-only, but on a real host
        they run C(xl info) and C(xl dmesg) in a Xen dom0).
    type: bool
    default: true
  doctor_devices:
    description:
      - Devices (addresses or interface names) doctor also checks one by one (driver,
        reset, IOMMU group, SR-IOV).
    type: list
    elements: str
    default: []
seealso:
  - module: pcipass.host.pcipass_state
"""

EXAMPLES = r"""
- name: Read the PCI facts
  pcipass.host.pcipass_facts:

- name: Every 82599 PF of the host, whatever its address
  ansible.builtin.debug:
    msg: "{{ pcipass.sriov | selectattr('device_id', 'equalto', '10fb') | map(attribute='bdf') }}"

- name: Stop when the host cannot pass devices through
  ansible.builtin.assert:
    that: pcipass.doctor.verdict != 'fail'
    fail_msg: "{{ pcipass.doctor.checks | selectattr('status', 'equalto', 'fail')
                  | map(attribute='evidence') }}"

- name: Facts without doctor's checks, from a simulated host
  pcipass.host.pcipass_facts:
    sim: /var/tmp/sims/host1
    doctor: false
"""

RETURN = r"""
ansible_facts:
  description: The host's PCI facts, under the key C(pcipass).
  returned: always
  type: complex
  contains:
    pcipass:
      description: What pcipass reads on the host.
      type: complex
      contains:
        version:
          description: The pcipass library's version on the managed host.
          type: str
          sample: 0.1.0
        host:
          description:
            - C(kind) (doctor's host kind, C(xen) or C(kvm)), C(dom0) (a Xen dom0 where
              C(xl info) answers), C(iommu) (IOMMU groups present), C(pci_ids) (the pci.ids
              names' source) and C(pci_ids_from) (C(tree) or C(machine)), as in C(pcipass list
              --json).
          type: dict
        devices:
          description:
            - Every PCI function, as in C(pcipass list --json) (bdf, vendor_id, device_id,
              subsystem_vendor_id, subsystem_device_id, class, revision, vendor_name,
              device_name, subsystem_vendor_name, subsystem_device_name, class_name,
              description, subsystem_description, class_description, unknown, driver,
              iommu_group, status, physfn, sriov). IDs are lower-case hex without C(0x).
          type: list
          elements: dict
        sriov:
          description:
            - Every SR-IOV PF, as in C(pcipass sriov list --json) (bdf, description, driver,
              status, total_vfs, num_vfs, drivers_autoprobe, netdev, mac, and vfs, each VF
              with its bdf, index, driver, status, netdev, mac, admin_mac, vlan, spoofchk,
              trust); each PF also carries its C(vendor_id) and C(device_id).
          type: list
          elements: dict
        assignable:
          description:
            - Devices on xen-pciback or vfio-pci and in no domain (bdf, backend, name,
              original_driver, source), as in C(pcipass assignable list --json).
          type: list
          elements: dict
        declared:
          description:
            - The declared host state (assignable, vfs), as in C(pcipass state show --json).
          type: dict
        doctor:
          description:
            - C(verdict) (C(fail) when a check fails, else C(warn) when one warns, else
              C(pass)) and C(checks) (check, subject, status, evidence, fix), as in
              C(pcipass doctor --json); null with C(doctor=false).
          type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.pcipass.host.plugins.module_utils.pcipass_common import (
    HOST_ARGS,
    MODULE_KWARGS,
    on_host,
)

ARGUMENT_SPEC = dict(
    doctor=dict(type="bool", default=True),
    doctor_devices=dict(type="list", elements="str", default=[]),
    **HOST_ARGS,
)


def verdict(rows):
    """One word for doctor's rows: fail, else warn, else pass (unknown rows do not count)."""
    statuses = {str(r.status.value) for r in rows}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "pass"


def read_facts(host, params):
    """Everything the module returns, read from `host` with the pcipass library."""
    from pcipass import __version__
    from pcipass.model import views
    from pcipass.model.declared import to_json
    from pcipass.model.discovery import discover
    from pcipass.model.resolve import SHOW, resolve
    from pcipass.ops.assign import assignable
    from pcipass.ops.doctor.facts import gather
    from pcipass.ops.doctor.table import run_checks
    from pcipass.ops.facts import gather_facts
    from pcipass.ops.persist_store import load
    from pcipass.ops.sriov import list_json, list_pfs
    from pcipass.ops.vf import pf_links

    model = discover(host)
    facts = gather_facts(host, model)
    pfs = list_pfs(model)
    sriov = list_json(model, pfs, pf_links(pfs, host.vf_states))["sriov"]
    by_bdf = {str(d.bdf): d for d in pfs}
    for pf in sriov:
        dev = by_bdf[pf["bdf"]]
        pf["vendor_id"] = views.device_json(dev)["vendor_id"]
        pf["device_id"] = views.device_json(dev)["device_id"]
    doctor = None
    kind = None
    if params["doctor"]:
        devices = tuple(dict.fromkeys(resolve(model, n, SHOW) for n in params["doctor_devices"]))
        checked = gather(host, model, devices)
        rows = run_checks(checked)
        kind = checked.kind
        doctor = {"verdict": verdict(rows), "checks": [r.to_json() for r in rows]}
    return {
        "version": __version__,
        "host": {"kind": kind, "dom0": facts.dom0, **views.listing_head(model)},
        "devices": [views.device_json(model.devices[bdf]) for bdf in sorted(model.devices)],
        "sriov": sriov,
        "assignable": [a.to_json() for a in assignable(facts)],
        "declared": to_json(load(host)),
        "doctor": doctor,
    }


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, **MODULE_KWARGS)
    found = on_host(module, lambda host: read_facts(host, module.params))
    module.exit_json(changed=False, ansible_facts={"pcipass": found})


if __name__ == "__main__":
    main()
