"""The manifest of a built overlay: what built ``bitstreams/<board>/<overlay>.bit`` and how to check it.

Why: a bitstream is an opaque binary.  Without a record of the tool versions, kernel parameters
and clock it was built with, a measurement taken with it cannot be reproduced or even
interpreted; without checksums, a stale or half-copied ``.bit`` / ``.hwh`` pair loads and
misbehaves.  ``make -C fpga/board`` writes the manifest (``e2train overlay write-manifest ...``);
``PynqDevice`` reads it and refuses files whose sha256 differs.

Schema 1 (JSON)::

    {"schema": 1, "board": "pynq-z2", "overlay": "e2train", "part": "xc7z020clg400-1",
     "clock_mhz": 100.0,
     "files": {"bitstream": "e2train.bit", "hwh": "e2train.hwh"},      # relative to the manifest
     "sha256": {"e2train.bit": "<hex>", "e2train.hwh": "<hex>"},
     "tools": {"vivado": "v2023.2 (64-bit)", "vitis_hls": "..."},
     "kernels": {"gemm": {"ip": "gemm_0", "source": "hls", "parameters": {...},
                          "max_dim": 65535, "max_p": 1048576}, ...},
     "reports": {"utilization": "reports/utilization.rpt", "timing": "reports/timing.rpt"},
     "timing_met": true, "git_commit": "<hash or null>", "built_at": "<ISO 8601>"}
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2train.device.base import DeviceError, KernelLimits
from e2train.kernels import regmap
from e2train.kernels.spec import KERNELS

log = logging.getLogger(__name__)

SCHEMA = 1
REPO = Path(__file__).resolve().parents[3]
# board name -> (FPGA part, processing-system IP); mirrors fpga/board/Makefile and the Tcl
BOARDS = {
    "pynq-z2": ("xc7z020clg400-1", "processing_system7"),
    "pynq-z1": ("xc7z020clg400-1", "processing_system7"),
    "zedboard": ("xc7z020clg484-1", "processing_system7"),
    "zcu104": ("xczu7ev-ffvc1156-2-e", "zynq_ultra_ps_e"),
}
# what PYNQ images put in $BOARD -> our board names
_PYNQ_BOARD_ENV = {"pynq-z2": "pynq-z2", "pynq-z1": "pynq-z1", "zcu104": "zcu104", "zedboard": "zedboard"}


class ManifestError(DeviceError):
    """A manifest is missing, malformed, or does not match the files it describes."""


@dataclass(frozen=True)
class KernelEntry:
    ip: str
    source: str = "hls"
    parameters: dict[str, Any] = field(default_factory=dict)
    max_dim: int = regmap.MAX_DIM
    max_p: int = regmap.MAX_P

    @property
    def limits(self) -> KernelLimits:
        return KernelLimits(self.max_dim, self.max_p)


@dataclass(frozen=True)
class Manifest:
    path: Path
    board: str
    overlay: str
    part: str
    clock_mhz: float
    bitstream: Path
    hwh: Path
    sha256: dict[str, str]
    tools: dict[str, str]
    kernels: dict[str, KernelEntry]
    reports: dict[str, str] = field(default_factory=dict)
    timing_met: bool | None = None
    git_commit: str | None = None
    built_at: str | None = None

    def verify(self) -> None:
        """Raise ``ManifestError`` unless every listed file exists with the recorded sha256."""
        for name, expected in self.sha256.items():
            path = self.path.parent / name
            if not path.is_file():
                raise ManifestError(
                    f"{self.path}: lists {name}, which is missing; rebuild or copy the overlay again"
                )
            actual = sha256_file(path)
            if actual != expected:
                raise ManifestError(
                    f"{path}: sha256 {actual[:16]}... differs from the manifest's {expected[:16]}...: the file is "
                    f"stale, modified or half-copied; copy {self.path.parent} again or rebuild with "
                    f"'make -C fpga/board BOARD={self.board} OVERLAY={self.overlay}'"
                )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bitstreams_root() -> Path:
    env = os.environ.get("E2TRAIN_BITSTREAMS")
    return Path(env) if env else REPO / "bitstreams"


def manifest_path(board: str, overlay: str = "e2train", root: Path | None = None) -> Path:
    return (root or bitstreams_root()) / board / f"{overlay}.json"


def detect_board() -> str | None:
    """The board a PYNQ image says it is ($BOARD, e.g. "Pynq-Z2"), in our naming."""
    value = os.environ.get("BOARD", "").strip().lower()
    return _PYNQ_BOARD_ENV.get(value)


def _require(data: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    if key not in data:
        raise ManifestError(f"{path}: missing field {key!r}")
    if not isinstance(data[key], kind):
        raise ManifestError(f"{path}: field {key!r} has the wrong type ({type(data[key]).__name__})")
    return data[key]


def load_manifest(path: Path | str, verify: bool = True) -> Manifest:
    """Read and validate a manifest; with ``verify`` also check the files' sha256."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            f"no overlay manifest at {path}: build the overlay with 'make -C fpga/board BOARD=<board> "
            "OVERLAY=<name>' (needs Vivado) or copy a built bitstreams/<board>/ directory here"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ManifestError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: a manifest is a JSON object")
    schema = _require(data, "schema", int, path)
    if schema != SCHEMA:
        raise ManifestError(f"{path}: schema {schema} is not supported (this e2train reads schema {SCHEMA})")
    files = _require(data, "files", dict, path)
    kernels_raw = _require(data, "kernels", dict, path)
    kernels = {}
    for name, entry in kernels_raw.items():
        if name not in KERNELS or not isinstance(entry, dict) or "ip" not in entry:
            raise ManifestError(f"{path}: kernel entry {name!r} is not a known kernel with an 'ip' name")
        kernels[name] = KernelEntry(
            ip=str(entry["ip"]),
            source=str(entry.get("source", "hls")),
            parameters=dict(entry.get("parameters", {})),
            max_dim=int(entry.get("max_dim", regmap.MAX_DIM)),
            max_p=int(entry.get("max_p", regmap.MAX_P)),
        )
    sha = _require(data, "sha256", dict, path)
    for role in ("bitstream", "hwh"):
        if role not in files:
            raise ManifestError(f"{path}: 'files' lacks {role!r}")
        if files[role] not in sha:
            raise ManifestError(f"{path}: no sha256 recorded for {files[role]}")
    manifest = Manifest(
        path=path,
        board=str(_require(data, "board", str, path)),
        overlay=str(_require(data, "overlay", str, path)),
        part=str(_require(data, "part", str, path)),
        clock_mhz=float(_require(data, "clock_mhz", (int, float), path)),
        bitstream=path.parent / files["bitstream"],
        hwh=path.parent / files["hwh"],
        sha256={str(k): str(v) for k, v in sha.items()},
        tools={str(k): str(v) for k, v in data.get("tools", {}).items()},
        kernels=kernels,
        reports={str(k): str(v) for k, v in data.get("reports", {}).items()},
        timing_met=data.get("timing_met"),
        git_commit=data.get("git_commit"),
        built_at=data.get("built_at"),
    )
    if verify:
        manifest.verify()
    return manifest


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def write_manifest(
    out_dir: Path,
    board: str,
    overlay: str,
    *,
    clock_mhz: float = 100.0,
    tools: dict[str, str] | None = None,
    kernels: dict[str, dict[str, Any]] | None = None,
    reports: dict[str, str] | None = None,
    timing_met: bool | None = None,
) -> Path:
    """Write ``<out_dir>/<overlay>.json`` for ``<overlay>.bit`` and ``<overlay>.hwh`` found there."""
    if board not in BOARDS:
        raise ManifestError(f"unknown board {board!r}; allowed: {', '.join(BOARDS)}")
    bit, hwh = out_dir / f"{overlay}.bit", out_dir / f"{overlay}.hwh"
    for f in (bit, hwh):
        if not f.is_file():
            raise ManifestError(f"{f} is missing: the build did not produce it")
    data = {
        "schema": SCHEMA,
        "board": board,
        "overlay": overlay,
        "part": BOARDS[board][0],
        "clock_mhz": clock_mhz,
        "files": {"bitstream": bit.name, "hwh": hwh.name},
        "sha256": {bit.name: sha256_file(bit), hwh.name: sha256_file(hwh)},
        "tools": tools or {},
        "kernels": kernels or {},
        "reports": reports or {},
        "timing_met": timing_met,
        "git_commit": _git_commit(),
        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = out_dir / f"{overlay}.json"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    log.info("wrote %s", path)
    return path


def kernel_entries(
    values: list[str], source: str, params: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``gemm=gemm_0`` items -> kernel entries."""
    out = {}
    for item in values:
        name, _, ip = item.partition("=")
        if name not in KERNELS or not ip:
            raise ManifestError(
                f"--kernel {item!r}: expected KERNEL=IP_NAME with KERNEL in {', '.join(KERNELS)}"
            )
        out[name] = {
            "ip": ip,
            "source": source,
            "parameters": params.get(name, {}),
            "max_dim": regmap.MAX_DIM,
            "max_p": regmap.MAX_P,
        }
    return out


def kernel_parameters(source: str, kernels: list[str]) -> dict[str, dict[str, Any]]:
    """Build-time parameters of the kernels as the sources define them (recorded in the manifest).

    hls: the tile sizes ``E2T_<KERNEL>_<NAME>`` of ``hls/include/e2train_kernels.h``; rtl: the
    parameter defaults of the top-level modules in ``fpga/rtl``.  Missing sources give ``{}``.
    """
    out: dict[str, dict[str, Any]] = {k: {} for k in kernels}
    if source == "hls":
        header = REPO / "hls" / "include" / "e2train_kernels.h"
        if header.is_file():
            for line in header.read_text().splitlines():
                m = re.match(r"\s*#define\s+E2T_(GEMM|PSG)_(T[A-Z]+)\s+(\d+)", line)
                if m:
                    kernel = "gemm" if m.group(1) == "GEMM" else "psg_wgrad"
                    if kernel in out:
                        out[kernel][m.group(2)] = int(m.group(3))
    else:
        from e2train.device.rtl_sim import parse_module

        for kernel in kernels:
            top = f"e2_{kernel}"
            path = REPO / "fpga" / "rtl" / f"{top}.v"
            if path.is_file():
                params, _ = parse_module(path, top)
                out[kernel] = {name: int(v) if v.isdigit() else v for name, v in params}
    return out
