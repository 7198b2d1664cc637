# Copyright: (c) 2026, pcipass contributors
# MIT License (see the pcipass repository's pyproject.toml)
"""What every pcipass module shares: the guarded import of pcipass (missing, or too old for
this collection), the host the options select (`sim` / `root`), and pcipass's errors as
one-line task failures (`pcipass.errors.PcipassError.line()`, the CLI's error text).

A module builds its `AnsibleModule` with `HOST_ARGS` in its argument_spec and
`**MODULE_KWARGS`, then does its work in `on_host(module, body)`."""

from __future__ import annotations

import importlib
import sys
import traceback

from ansible.module_utils.basic import missing_required_lib

PCIPASS_IMPORT_ERROR = None
try:
    import pcipass
except ImportError:
    PCIPASS_IMPORT_ERROR = traceback.format_exc()

#: The oldest pcipass this collection is written against.
MIN_VERSION = "0.1.0"
#: The library modules the collection calls: a pcipass without one of them is too old.
#: `module` or `module:name` (a name the collection calls in it).
NEEDED = (
    "pcipass.model.declared",
    "pcipass.ops.persist",
    "pcipass.ops.persist_apply",
    "pcipass.ops.persist_store:edit",
    "pcipass.ops.boot_files",
    "pcipass.ops.doctor.table",
    "pcipass.run.config_edit",
    "pcipass.xlcfg_edit:parse_editable",
    "pcipass.cli.context:check_host_tree",
)
#: The options that select the host, for every module's argument_spec.
HOST_ARGS = dict(sim=dict(type="path"), root=dict(type="path"))
#: The rest of every module's `AnsibleModule(...)` arguments.
MODULE_KWARGS = dict(mutually_exclusive=[("sim", "root")], supports_check_mode=True)


def _version(text):
    """`0.1.0` → (0, 1, 0); the leading digits of each part (`1rc2` → 1)."""
    parts = []
    for part in text.split("."):
        digits = ""
        for char in part:
            if not char.isdigit():
                break
            digits += char
        parts.append(int(digits or 0))
    return tuple(parts)


def require_pcipass(module):
    """Fail the task unless pcipass is importable and new enough on the managed host."""
    if PCIPASS_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib(
            "pcipass", reason="to read and change the host's PCI devices"),
            exception=PCIPASS_IMPORT_ERROR)
    have = getattr(pcipass, "__version__", "0")
    where = getattr(pcipass, "__file__", None) or "an unknown path"
    if _version(have) < _version(MIN_VERSION):
        module.fail_json(msg=f"pcipass {have} at {where} is too old for the pcipass.host "
                             f"collection, which needs pcipass {MIN_VERSION} or later: upgrade "
                             "pcipass on the managed host", pcipass_version=have)
    for needed in NEEDED:
        name, _, attribute = needed.partition(":")
        try:
            found = importlib.import_module(name)
        except ImportError as exc:
            if exc.name and exc.name.partition(".")[0] != "pcipass":  # a dependency
                module.fail_json(msg=f"pcipass {have} at {where} cannot be used: it needs the "
                                     f"Python library {exc.name}, which {sys.executable} "
                                     "cannot import: install pcipass with its dependencies "
                                     "(pip), or point ansible_python_interpreter at the "
                                     "Python that has them", pcipass_version=have,
                                 exception=traceback.format_exc())
            found = None
        if found is None or (attribute and not hasattr(found, attribute)):
            what = f"{name}.{attribute}" if found is not None else name
            module.fail_json(msg=f"pcipass {have} at {where} is too old for the pcipass.host "
                                 f"collection: it has no {what} (the declared host state and "
                                 "plan/apply): upgrade pcipass on the managed host",
                             pcipass_version=have, exception=traceback.format_exc())
    return have


def select_host(params):
    """The pcipass `Host` the options select: the simulated host in `sim`, else the tree
    `root` (default: this machine), checked as `--root` is (a `PcipassError` if not)."""
    from pathlib import Path

    from pcipass.cli.context import check_host_tree
    from pcipass.host.real import RealHost

    if params.get("sim"):
        from pcipass.sim.host import SimHost

        return SimHost(params["sim"])
    root = Path(params.get("root") or "/")
    check_host_tree(root, "root=")
    return RealHost(root)


def on_host(module, body):
    """`body(host)` on the host the module's options select, once pcipass is there and new
    enough; a pcipass error (the host's tree refused too) ends the task as pcipass's line."""
    require_pcipass(module)
    from pcipass.errors import InputError, PcipassError

    try:
        return body(select_host(module.params))
    except PcipassError as exc:
        kind = "input" if isinstance(exc, InputError) else "operation"
        module.fail_json(msg=exc.line(), pcipass_error=kind)
    return None
