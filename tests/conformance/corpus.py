"""The conformance corpus: PCI spec strings and xl.cfg files to feed both libxlutil and pcipass.

Nothing here holds an expected answer: the oracle (Xen's own libxlutil) decides at test time.
`spec_corpus()` has every form and option, boundaries, whitespace, case and garbage;
`config_corpus()` has real-world-looking configs and the lexical corner cases.
"""

from __future__ import annotations

import itertools
import random

BDFS = [
    "05:00.0",
    "0000:05:00.0",
    "5:0.0",
    "ffff:ff:1f.7",
    "FFFF:FF:1F.7",
    "05:0A.3",
    "05:0a.3",
    "10000:00:00.0",
    "00:20.0",
    "100:00.0",
    "05:00.8",
    "05:00.7",
    "05:00.*",
    "05:00.*1",
    "05:00.**",
    "0:0.0",
    "00000005:00.0",
    "05:1f.0",
    "dead:be:1f.7",
    "bdf:05:00.0",
]
ODD_NUMBERS = [
    "05:0x1f.7",
    "05:00.0X7",
    "05:+1.0",
    "05:-0.0",
    "05: 00.0",
    "05:00. 1",
    "0x5:00.0",
    " 05:00.0",
    "+5:00.0",
    "0000:0x5:00.0",
    "100000005:00.0",
    "05:00.100000001",
    "ffffffffff:00.0",
    "05:\t00.0",
    "05:00.-0",
    "05:00.+7",
    "05:100000000.0",
    "05:00.0x",
    "05:0x.1",
    "05:-1.0",
    "05:00.\v1",
    "0000:05: 1f.0",
    "05:00.fffffffff",
]
UNINIT = [
    "05:00",
    "0000:05:00",
    "05:00@3",
    "05:00,permissive=1",
    "05:0g.0",
    "05:00 .0",
    "0000:+5:00.0",
    "bdf=05:00",
    "05:00.1,bdf=05:00",
    "05:100",
    "ff:20",
    "a:b,name=x",
    "0000:05:00@3",
    "05:00,",
    "1:2",
    "bdf=0000:05:1f",
    "05:1f",
    "05:00:",
]
VSLOTS = [
    "@0",
    "@1",
    "@3",
    "@a",
    "@A",
    "@10",
    "@1f",
    "@1F",
    "@20",
    "@ 3",
    "@+3",
    "@0x3",
    "@100000003",
    "@3junk",
    "@-0",
    "@0x",
    "@",
    "@g",
    "@3,",
    "@3,,",
    "@-1",
    "@0x1f",
    "@01f",
]
FLAG_VALUES = [
    "0",
    "1",
    "yes",
    "true",
    "0x1",
    "",
    "2",
    "-1",
    "1abc",
    "01",
    " 1",
    "4294967296",
    "4294967297",
    "99999999999999999999",
    "-9223372036854775809",
    "+1",
    "\t1",
    "00",
    "1 ",
    "no",
    "false",
]
FLAG_KEYS = ["permissive", "msitranslate", "seize", "power_mgmt"]
RDM = ["strict", "relaxed", "STRICT", "Relaxed", "invalid", "INVALID", "bogus", "", " strict",
       "strict ", "stricT", "relaxed,"]  # fmt: skip
NAMES = ["nic0", "", "a=b", "a b", "gpu-1", "é", "x,y"]
HANDWRITTEN = [
    # man page examples and their variants
    "36:00.0@20,seize=1", "36:00.0,vslot=20,seize=1", "bdf=36:00.0,vslot=20,seize=1",
    "36:00.0@10,seize=1", "36:00.0,vslot=10,seize=1", "bdf=36:00.0,vslot=10,seize=1",
    # keys: case, blanks, bare flags, commas
    "Permissive=1,05:00.0", "05:00.0,Permissive=1", "BDF=05:00.0", " bdf=05:00.0",
    "bdf =05:00.0", "05:00.0,permissive =1", "05:00.0, permissive=1", "05:00.0,permissive",
    "05:00.0,,permissive=1", ",05:00.0", "05:00.0,", "05:00.0,,", "bdf=05:00.0,",
    "bdf=05:00.0,,", "foo=1", "05:00.0,foo=bar", "05:00.0,=1", "=", ",", "", "@3", "*", ".",
    "05:00.0=1", "permissive=1", "permissive=1,seize=1", "05:00.0@3@4",
    # keyword form and trailing junk
    "bdf=05:00.0junk", "bdf=05:00.0 ", "bdf=05:00.0\r", "bdf=05:00.0@3", "bdf= 05:00.0",
    "bdf=0000:05:00.0", "bdf=05:00.*", "bdf=05:00.*@3", "bdf=", "bdf=05:00.0,vslot=3junk",
    "bdf=05:00.0,vslot=", "bdf=05:00.0,vslot= 3", "bdf=05:00.0,vslot=20", "bdf=05:00.0,vslot=0",
    "bdf=05:00.0,vslot=1f", "bdf=05:00.0,vslot=0x1f", "05:00.0 ", "05:00.0\r", "05:00.0junk",
    "05:00.0\n", "05:00.0\t", "05:00.0#x", "05:00.0 junk", "05:00.0,anything",
    # duplicates and exclusivity
    "permissive=1,permissive=0,bdf=05:00.0", "bdf=05:00.0,bdf=06:00.1", "05:00.0,bdf=06:00.1",
    "05:00.0@3,vslot=4", "name=a,name=b", "name=nic0,bdf=05:00.0", "05:00.0,name=x",
    "bdf=05:00.0,name=x", "name=x,permissive=1", "name=x,vslot=3", "05:00.*,bdf=05:00.1",
    "05:00.1,bdf=05:00.*", "rdm_policy=strict,rdm_policy=relaxed,bdf=05:00.0",
    "05:00.0,seize=1,seize=1",
    # every key at once
    "0000:05:00.0@3,permissive=1,msitranslate=1,seize=1,power_mgmt=1,rdm_policy=relaxed",
    "bdf=0000:05:00.0,vslot=3,permissive=0,msitranslate=0,seize=0,power_mgmt=0,rdm_policy=strict",
    "name=nic0,permissive=1,msitranslate=1,seize=1,power_mgmt=1,rdm_policy=strict",
    "05:00.*@1f,rdm_policy=relaxed,seize=1",
]  # fmt: skip


def _flag_specs() -> list[str]:
    out = []
    for key, value in itertools.product(FLAG_KEYS, FLAG_VALUES):
        out.append(f"05:00.0,{key}={value}")
    for value in FLAG_VALUES[:8]:
        out.append(f"bdf=05:00.0,permissive={value},seize={value}")
    return out


def _combinations() -> list[str]:
    out = []
    for bdf, vslot in itertools.product(BDFS, ["", "@3", "@1f", "@20"]):
        out.append(bdf + vslot)
        out.append(f"bdf={bdf}" + (f",vslot={vslot[1:]}" if vslot else ""))
    for bdf in ODD_NUMBERS + UNINIT:
        out += [bdf, f"bdf={bdf}", f"{bdf},seize=1"]
    for vslot in VSLOTS:
        out += [f"05:00.0{vslot}", f"05:00.0{vslot},permissive=1", f"bdf=05:00.0,vslot={vslot[1:]}"]
    for policy in RDM:
        out += [f"05:00.0,rdm_policy={policy}", f"name=n,rdm_policy={policy}"]
    for name in NAMES:
        out += [f"name={name}", f"name={name},seize=1", f"05:00.0,name={name}"]
    return out


def _garbage(count: int, seed: int = 20240417) -> list[str]:
    rng = random.Random(seed)
    atoms = ["05", "00", "0", "1", "f", "1f", "20", ":", ".", "*", "@", ",", "=", " ", "x", "+",
             "-", "bdf", "vslot", "permissive", "seize", "name", "rdm_policy", "strict", "0000",
             "\t", "g", "yes"]  # fmt: skip
    return ["".join(rng.choice(atoms) for _ in range(rng.randint(1, 9))) for _ in range(count)]


def spec_corpus() -> list[str]:
    """>= 500 distinct spec strings, in a stable order."""
    seen: dict[str, None] = {}
    for text in (BDFS + ODD_NUMBERS + UNINIT + HANDWRITTEN + _flag_specs() + _combinations()
                 + _garbage(150)):  # fmt: skip
        seen.setdefault(text, None)
    return list(seen)


REAL_WORLD = """\
# =====================================================================
# Example PV guest: storage appliance with a passed-through NIC
# =====================================================================
name = "nas01"
type = "pv"
kernel = "/boot/vmlinuz-6.1.0-18-amd64"
ramdisk = "/boot/initrd.img-6.1.0-18-amd64"
extra = "root=/dev/xvda1 console=hvc0 net.ifnames=0"
memory = 2048
maxmem = 2048
vcpus = 2

vif = [ 'mac=00:16:3e:12:34:56,bridge=xenbr0' ]
disk = [ 'phy:/dev/vg0/nas01-root,xvda1,w',
         'phy:/dev/vg0/nas01-data,xvdb,w' ]

# Intel 82599 VF for the storage network (see the how-to)
pci_permissive = 0
pci = [ '0000:03:10.0', '0000:03:10.2,seize=1' ]   # two VFs

on_poweroff = "destroy"
on_reboot = "restart"
on_crash = "restart"
"""


def _pci_line(items: str) -> str:
    return f'name = "g"\npci = [ {items} ]\n'


_CFG_KEYS = ["pci", "pci_seize", "pci_permissive", "pci_msitranslate", "pci_power_mgmt", "name",
             "rdm", "memory", "kernel", "extra", "type"]  # fmt: skip
_CFG_STRINGS = [
    "'05:00.0'", '"06:00.1,seize=1"', "'a\\'b'", "'\\101x'", "'\\1 2'", "'\\12'", "'\\n\\t'",
    "'05:00'", "'name=x'", "'1'", "' 1'", "'1 '", "'-1'", "'strategy=host'",
    "'strategy=host,policy=relaxed'", "'05:00.0,permissive=yes'", "'bdf=05:00.0@3'", "'0x10'",
    "'\u00e9'", "''", '""', "'05:00.*@1f,rdm_policy=relaxed'", "'4294967296'",
]  # fmt: skip
_CFG_NUMBERS = ["1", "0", "2", "0x10", "010", "08", "0x", "99999999999999999999", "4294967296",
                "0xf", "1e5", "00", "0x7fffffffffffffff", "0x8000000000000000"]  # fmt: skip
_BLANKS = [" ", "\t", "#c\n", "\n", ""]


def _random_value(rng: random.Random, depth: int = 0) -> str:
    r = rng.random()
    if r < 0.45 or depth > 2:
        return rng.choice(_CFG_STRINGS)
    if r < 0.7:
        return rng.choice(_CFG_NUMBERS)
    items = [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    sep = rng.choice([",", ", ", ",\n", "\n,", ", #x\n"])
    tail = rng.choice(["", ",", ",\n", "\n"]) + rng.choice(_BLANKS)
    return "[" + rng.choice(_BLANKS) + sep.join(items) + tail + "]"


def generated_configs(count: int, seed: int = 417) -> list[bytes]:
    """Seeded random configs built from xl.cfg's pieces (statements, lists, quirks)."""
    rng = random.Random(seed)
    files = []
    for _ in range(count):
        text = "".join(
            rng.choice(_CFG_KEYS)
            + rng.choice(["=", " = ", "+=", " += ", "\t=\t"])
            + _random_value(rng)
            + rng.choice(["\n", "\n", ";", " # c\n", "; ", "\n\n"])
            for _ in range(rng.randint(0, 6))
        )
        if rng.random() < 0.3:
            text = text.removesuffix("\n")
        files.append(text.encode("utf-8"))
    return files


def config_corpus() -> list[bytes]:
    """>= 50 hand-written xl.cfg files (realistic ones and lexical corner cases)."""
    texts: list[str | bytes] = [
        REAL_WORLD,
        REAL_WORLD.replace("pci_permissive = 0", "pci_permissive = 1"),
        REAL_WORLD + "pci_seize = 1\npci_msitranslate = 1\npci_power_mgmt = 1\n",
        REAL_WORLD + "pci += [ '04:00.0@5,permissive=1' ]\n",
        "",
        "# only a comment\n",
        "\n\n\n",
        _pci_line("'05:00.0'"),
        _pci_line("'05:00.0', '06:00.1@3,permissive=1'"),
        _pci_line("'05:00.0',"),
        _pci_line("\n  '05:00.0',\n  # comment inside\n  '06:00.0'\n"),
        _pci_line("") + "pci_permissive = 1\n",
        _pci_line("'05:00.0', '06:00.0,permissive=0'") + "pci_permissive = 1\n",
        "pci_permissive = 1\n" + _pci_line("'05:00.0,permissive=yes'"),
        _pci_line("'05:00.0'") + "pci_permissive = 2\n",
        _pci_line("'05:00.0'") + "pci_permissive = 4294967296\n",
        _pci_line("'05:00.0'") + "pci_permissive = 4294967297\n",
        _pci_line("'05:00.0'") + "pci_permissive = 99999999999999999999\n",
        _pci_line("'05:00.0'") + "pci_permissive = '1'\n",
        _pci_line("'05:00.0'") + 'pci_permissive = " 1"\n',
        _pci_line("'05:00.0'") + 'pci_permissive = "1 "\n',
        _pci_line("'05:00.0'") + "pci_permissive = 0x10\npci_seize = 010\n",
        _pci_line("'05:00.0'") + "pci_seize = 08\n",
        _pci_line("'05:00.0'") + "pci_seize = 0x\n",
        _pci_line("'05:00.0'") + "pci_seize += 1\n",
        _pci_line("'05:00.0'") + "pci_seize = [1]\n",
        _pci_line("'05:00.0'") + "pci_seize = -1\n",
        _pci_line("'05:00.0'") + 'pci_seize = "-1"\n',
        _pci_line("'05:00.0'") + "pci_msitranslate = 0xFF\n",
        _pci_line("'05:00.0'") + "pci_rdm_policy = 'relaxed'\n",
        "pci = '05:00.0'\n",
        _pci_line("'05:00.0', ['x'], '06:00.0'"),
        _pci_line("5, 0x10"),
        _pci_line("'05:00.0', 'bogus', '06:00.0'"),
        _pci_line("'05:00'"),
        _pci_line("'name=\\101\\102'"),
        _pci_line("'05:00.0,name=a\\1234b'"),
        _pci_line("'name=\\1'"),
        _pci_line("'name=\\x41'"),
        _pci_line("'name=\\q'"),
        _pci_line("'name=a\\tb\\n'"),
        _pci_line('"05:00.0", "06:00.0,seize=1"'),
        _pci_line("'05:00.0'").replace("\n", "\r\n"),
        b"\xef\xbb\xbf" + _pci_line("'05:00.0'").encode(),
        _pci_line("'05:00.0'") + "# final comment without newline",
        _pci_line("'05:00.0'").rstrip("\n"),
        "PCI = [ '05:00.0' ]\n",
        "pci = [ 05:00.0 ]\n",
        "pci =\n [ '05:00.0' ]\n",
        "pci = [ '05:00.0' ]; pci_seize = 1; name = 'x'\n",
        "pci = [ '05:00.0' ]\npci = [ '06:00.0' ]\n",
        "pci = [ '05:00.0' ]\npci += [ '06:00.0' ]\npci += [ '07:00.0' ]\n",
        "pci += [ '05:00.0' ]\n",
        "pci = [ '05:00.0' ]\npci += '06:00.0'\n",
        "name = 'a'\nname += 'b'\n",
        "pci = [ [ '05:00.0' ] ]\n",
        "pci = [ ]\n",
        "pci = [ , ]\n",
        "pci = [ '05:00.0' '06:00.0' ]\n",
        "pci = [ '05:00.0',, '06:00.0' ]\n",
        "memory = 1024\nx = (1)\n",
        "memory = 1024\nx = 1 (",
        "memory = 1024\n(",
        "memory = 1024\n\0\n",
        "memory = -1\n",
        "rdm = 'strategy=host,policy=relaxed'\n" + _pci_line("'05:00.0'"),
        "rdm = 'strategy=host,policy=bogus'\n" + _pci_line("'05:00.0'"),
        "rdm = 'strategy=host'\n" + _pci_line("'05:00.0,rdm_policy=relaxed'"),
        "rdm = 'strategy=ignore'\n" + _pci_line("'05:00.0'"),
        _pci_line("'05:00.0,rdm_policy=STRICT', 'name=nic0', '06:00.*@1f'"),
        _pci_line("'bdf=05:00.0@3', '36:00.0@20,seize=1'"),
        "name = 'a' # trailing comment\n" + _pci_line("'05:00.0'"),
        "name='caf\u00e9'\n" + _pci_line("'name=caf\u00e9'"),
        "a.b_c = 1\n" + _pci_line("'05:00.0'"),
        "name = 'x'\n\tpci\t=\t[\t'05:00.0'\t]\n",
    ]
    return [t if isinstance(t, bytes) else t.encode("utf-8") for t in texts]
