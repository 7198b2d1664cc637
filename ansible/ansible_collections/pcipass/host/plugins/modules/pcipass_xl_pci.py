#!/usr/bin/python
# Copyright: (c) 2026, pcipass contributors
# MIT License (see the pcipass repository's pyproject.toml)
"""The pcipass_xl_pci module: one device in a domain's xl config, edited byte for byte."""

DOCUMENTATION = r"""
---
module: pcipass_xl_pci
short_description: A PCI device in a Xen domain's xl config, edited with pcipass's round-trip editor
version_added: 0.1.0
description:
  - Makes the C(pci = [...]) list of an xl domain config (xl.cfg) name one device with the
    given options (C(state=present)), or not name it (C(state=absent)), with pcipass's
    round-trip editor (C(pcipass config pci add/remove)); every other byte of the file
    stays as it was (comments, order, quoting, layout).
  - Each edit is re-read as xl reads it and refused unless every other setting is unchanged
    and the pci list is exactly the intended one; a config xl cannot parse, or whose pci
    value is not a plain list, is refused with pcipass's one-line reason.
  - Idempotent. C(present) compares what xl would use (the entry after the config's
    C(pci_*) globals), so an entry that already means the same is left alone, and an entry
    for the same device with other options is replaced (it then goes to the end of the list).
  - The previous version is kept as C(FILE.pcipass-bak); the file's owner, group and mode
    are kept.
author:
  - pcipass contributors (!UNKNOWN)
extends_documentation_fragment:
  - pcipass.host.host
attributes:
  check_mode:
    support: full
    description: Computes the new text and writes nothing.
  diff_mode:
    support: full
    description: The file before and after.
options:
  path:
    description:
      - The domain's xl config, a path on the managed host (under C(root) or C(sim), that
        host's file, e.g. C(SIM/root/etc/xen/guest.cfg) for C(/etc/xen/guest.cfg)).
    type: path
    required: true
  device:
    description:
      - With C(state=present), a strict xl PCI spec, as an entry of C(pci = [...]), e.g.
        C(05:00.0), C(0000:05:10.0,permissive=1) or C(05:00.*).
      - With C(state=absent), a function, a slot (C(BB:DD.*)) or a name.
    type: str
    required: true
  state:
    description:
      - C(present), the list has an entry meaning exactly C(device); C(absent), it has no
        entry for it.
    type: str
    choices: [present, absent]
    default: present
  split_slot:
    description:
      - When a function to remove (or to replace) is one function of a C(BB:DD.*) entry,
        rewrite that entry as the slot's other functions on the host (each then a guest
        device of its own); without it, such an edit is refused.
    type: bool
    default: false
seealso:
  - module: pcipass.host.pcipass_state
"""

EXAMPLES = r"""
- name: The guest gets the first VF, permissive
  pcipass.host.pcipass_xl_pci:
    path: /etc/xen/guest1.cfg
    device: "0000:05:10.0,permissive=1"

- name: No longer the old NIC
  pcipass.host.pcipass_xl_pci:
    path: /etc/xen/guest1.cfg
    device: "0000:03:00.0"
    state: absent
"""

RETURN = r"""
backup_file:
  description: The previous version of the file (C(FILE.pcipass-bak)), when it was written.
  returned: changed and not check mode
  type: str
  sample: /etc/xen/guest1.cfg.pcipass-bak
pci:
  description: The config's pci entries after the edit (in check mode, as it would be), as written.
  returned: success
  type: list
  elements: str
  sample: ["0000:05:10.0,permissive=1"]
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

ARGUMENT_SPEC = dict(
    path=dict(type="path", required=True),
    device=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    split_slot=dict(type="bool", default=False),
    **HOST_ARGS,
)


def _removal_key(spec):
    """What `plan_remove` is asked to remove for the device `spec` names."""
    if spec.address is None:
        return f"name={spec.name}"
    return f"{spec.address.slot}.*" if spec.all_functions else str(spec.address)


def new_text(data, params, functions):
    """The config's bytes with the device present or absent (`data` when already so)."""
    from pcipass.spec import parse_spec, with_defaults
    from pcipass.xlcfg import effective_pci, global_flags, same_device
    from pcipass.xlcfg_edit import parse_editable, plan_add, plan_remove

    device = params["device"]
    cfg = parse_editable(data.decode("latin-1"))
    current = effective_pci(cfg)
    if params["state"] == "absent":
        text = device.strip()
        target = parse_spec(text if "=" in text or ":" in text else f"name={text}")
        if not any(same_device(d, target) for d in current.devices):
            return data
        return plan_remove(data, [device], functions)
    target = parse_spec(device)
    wanted = with_defaults(target, global_flags(cfg, []))
    overlapping = [d for d in current.devices if same_device(d, target)]
    if [d.as_json() for d in overlapping] == [wanted.as_json()]:
        return data
    if overlapping:
        data = plan_remove(data, [_removal_key(target)], functions)
    return plan_add(data, [device])


def edit(host, params, check_mode):
    from pathlib import Path

    from pcipass.run.config_edit import edit_config, slot_functions
    from pcipass.xlcfg import effective_pci, parse_config

    functions = (lambda slot: slot_functions(host, slot)) if params["split_slot"] else None
    done = edit_config(host, Path(params["path"]), lambda data: new_text(data, params, functions),
                       check_mode)
    pci = list(effective_pci(parse_config(done.new.decode("latin-1"))).items)
    return done, pci


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, **MODULE_KWARGS)
    done, pci = on_host(module, lambda host: edit(host, module.params, module.check_mode))
    result = dict(changed=done.new != done.old, pci=pci)
    if done.backup is not None:
        result["backup_file"] = str(done.backup)
    if module._diff:
        path = module.params["path"]
        result["diff"] = dict(before=done.old.decode("latin-1"), after=done.new.decode("latin-1"),
                              before_header=path, after_header=path)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
