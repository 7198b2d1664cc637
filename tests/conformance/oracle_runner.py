"""Run the libxlutil oracle (tests/oracle/xlu_oracle.c) on a batch of inputs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def _decode(obj: Any) -> Any:
    """The oracle hex-encodes every string (inputs, names, reports): turn them back into text."""
    if isinstance(obj, dict):
        return {
            k: (
                bytes.fromhex(v).decode("utf-8", "surrogateescape")
                if isinstance(v, str) and k in ("input", "name", "report", "parse_report", "text",
                                                "value")
                else _decode(v)
            )
            for k, v in obj.items()
        }  # fmt: skip
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


class Oracle:
    """Xen 4.17's libxlutil behind a pipe: one process per batch, one fork per input inside."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary

    def _run(self, mode: str, inputs: list[bytes]) -> list[dict[str, Any]]:
        stdin = "".join(i.hex() + "\n" for i in inputs).encode()
        done = subprocess.run(
            [str(self.binary), mode], input=stdin, capture_output=True, timeout=120, check=True
        )
        lines = done.stdout.decode().splitlines()
        assert len(lines) == len(inputs), done.stderr.decode()
        return [_decode(json.loads(line)) for line in lines]

    def pci(self, specs: list[str]) -> list[dict[str, Any]]:
        return self._run("pci", [s.encode("utf-8", "surrogateescape") for s in specs])

    def cfg(self, files: list[bytes]) -> list[dict[str, Any]]:
        return self._run("cfg", files)
