"""Efficiency of the RTL kernels on ResNet-20 workloads, measured with the hardware counters.

Run: ``python fpga/bench/efficiency.py`` (a few minutes; Verilator when installed, else Icarus).

gemm: the im2col GEMMs of CIFAR ResNet-20's convolutions at batch 1 (M = Cout, K = Cin * 9,
N = H * W; 1x1 stride-2 projection shortcuts with K = Cin), in the forward mode (int8 weights x
uint8 post-ReLU activations; int8 x int8 for the first layer, whose input is signed), and the
backward input-gradient GEMMs (W^T x G: int8 x int16) of the three main shapes.  Per layer:
cycles (CYCLES_BUSY), useful MACs, MACs per cycle over the array's peak (ROWS * COLS), the
memory-stall fraction (CYCLES_MEM_STALL / CYCLES_BUSY) and bytes moved, each result checked bit
for bit against the numpy reference.  Two layers are repeated with a memory model that stalls
every AXI channel 25 % of the cycles at random.

psg_wgrad: the weight gradient of ResNet-20's first stride-2 convolution at batch 1 (N = 32
output channels, K = 16 * 9, P = 16 * 16 positions) at several thresholds, from "recompute
nothing" to the always-full baseline (TAU = 2**64 - 1 recomputes every entry).

Writes measurements/rtl_gemm_efficiency.csv, measurements/rtl_psg_counters.csv and
measurements/rtl_gemm_efficiency.md.  The memory model is cocotbext-axi's AxiRam (answers at once
unless stalled): the numbers are cycle counts of the RTL, not of a board.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from e2train.backends import BackendUnavailable, rtl
from e2train.kernels import reference
from e2train.kernels.reference import exact_matmul, msb4

REPO = Path(__file__).resolve().parents[2]
TAU_ALL = 2**64 - 1

# (layer, M, K, N, mode)
FORWARD = [
    ("conv1 3->16 32x32", 16, 27, 1024, "i8i8"),
    ("stage1 16->16 32x32", 16, 144, 1024, "i8u8"),
    ("stage2.0 16->32 s2 16x16", 32, 144, 256, "i8u8"),
    ("stage2 32->32 16x16", 32, 288, 256, "i8u8"),
    ("stage3.0 32->64 s2 8x8", 64, 288, 64, "i8u8"),
    ("stage3 64->64 8x8", 64, 576, 64, "i8u8"),
    ("shortcut 1x1 16->32 s2", 32, 16, 256, "i8u8"),
    ("shortcut 1x1 32->64 s2", 64, 32, 64, "i8u8"),
]
BACKWARD = [
    ("dgrad stage1 16<-16 32x32", 16, 144, 1024, "i8i16"),
    ("dgrad stage2 32<-32 16x16", 32, 288, 256, "i8i16"),
    ("dgrad stage3 64<-64 8x8", 64, 576, 64, "i8i16"),
]
STALLED = [FORWARD[1], FORWARD[5]]
PSG_SHAPE = ("stage2.0 wgrad 32x144, P=256", 32, 144, 256)
PSG_FRACTIONS = (0.0, 0.05, 0.1, 0.25, 0.5, 1.0)


@dataclass
class GemmRow:
    layer: str
    M: int
    K: int
    N: int
    mode: str
    memory: str
    cycles: int
    macs: int
    macs_per_cycle: float
    efficiency: float
    mem_stall_fraction: float
    bytes_read: int
    bytes_written: int
    exact: bool


@dataclass
class PsgRow:
    workload: str
    N: int
    K: int
    P: int
    target_fraction: float
    tau: int
    recomputed: int
    recompute_fraction: float
    cycles: int
    macs: int
    mem_stall_fraction: float
    cycles_vs_full: float
    macs_vs_full: float
    exact: bool


def _operands(rng: np.random.Generator, m: int, k: int, n: int, mode: str) -> tuple[np.ndarray, np.ndarray]:
    a_dtype, b_dtype = reference.GEMM_MODES[mode]
    ia, ib = np.iinfo(a_dtype), np.iinfo(b_dtype)
    a = rng.integers(ia.min, ia.max, (m, k), endpoint=True).astype(a_dtype)
    b = rng.integers(ib.min, ib.max, (k, n), endpoint=True).astype(b_dtype)
    return a, b


def run_gemm_layers(
    layers: list[tuple[str, int, int, int, str]], sim: str, peak: int, stall: float, seed: int
) -> list[GemmRow]:
    """One simulator start per mode (operands of one batch share the mode)."""
    rng = np.random.default_rng(seed)
    rows: list[GemmRow] = []
    for mode in dict.fromkeys(layer[4] for layer in layers):
        chosen = [layer for layer in layers if layer[4] == mode]
        pairs = [_operands(rng, m, k, n, mode) for _, m, k, n, _ in chosen]
        results = rtl.gemm_batch(pairs, mode, sim, stall=stall)
        for (name, m, k, n, _), (a, b), res in zip(chosen, pairs, results, strict=True):
            cnt = res.counters
            exact = bool(np.array_equal(res.c, reference.gemm(a, b, mode).c)) and cnt["MACS"] == m * n * k
            rows.append(
                GemmRow(
                    name,
                    m,
                    k,
                    n,
                    mode,
                    f"stall {stall:.0%}" if stall else "ideal",
                    cnt["CYCLES_BUSY"],
                    cnt["MACS"],
                    cnt["MACS"] / cnt["CYCLES_BUSY"],
                    cnt["MACS"] / (cnt["CYCLES_BUSY"] * peak),
                    cnt["CYCLES_MEM_STALL"] / cnt["CYCLES_BUSY"],
                    cnt["BYTES_READ"],
                    cnt["BYTES_WRITTEN"],
                    exact,
                )
            )
    order = {layer[0]: i for i, layer in enumerate(layers)}
    return sorted(rows, key=lambda r: order[r.layer])


def run_psg(sim: str, seed: int) -> list[PsgRow]:
    name, n, k, p = PSG_SHAPE
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (k, p), endpoint=True).astype(np.uint8)  # post-ReLU activations
    g = rng.integers(-32767, 32767, (n, p), endpoint=True).astype(np.int16)
    mags = np.sort(np.abs(16 * exact_matmul(g, msb4(x, False).T)).ravel())
    taus = []
    for fraction in PSG_FRACTIONS:
        if fraction <= 0:
            taus.append(0)
        elif fraction >= 1:
            taus.append(TAU_ALL)
        else:
            taus.append(int(mags[min(round(fraction * mags.size), mags.size - 1)]))
    results = rtl.psg_batch([(x, g, tau) for tau in taus], x_signed=False, sim=sim)
    full = results[-1].counters
    rows = []
    for fraction, tau, res in zip(PSG_FRACTIONS, taus, results, strict=True):
        want = reference.psg_wgrad(x, g, tau, False)
        exact = (
            bool(np.array_equal(res.signs, want.signs))
            and bool(np.array_equal(res.recompute_mask, want.recompute_mask))
            and res.recomputed == want.recomputed
        )
        cnt = res.counters
        rows.append(
            PsgRow(
                name,
                n,
                k,
                p,
                fraction,
                tau,
                res.recomputed,
                res.recomputed / (n * k),
                cnt["CYCLES_BUSY"],
                cnt["MACS"],
                cnt["CYCLES_MEM_STALL"] / cnt["CYCLES_BUSY"],
                cnt["CYCLES_BUSY"] / full["CYCLES_BUSY"],
                cnt["MACS"] / full["MACS"],
                exact,
            )
        )
    return rows


def _write_csv(path: Path, rows: list) -> None:
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        for row in rows:
            record = asdict(row)
            writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in record.items()})


def _markdown(gemm_rows: list[GemmRow], psg_rows: list[PsgRow], sim: str, seconds: float, peak: int) -> str:
    lines = [
        "# RTL kernel efficiency (cycle counts from the hardware counters)",
        "",
        (
            f"Generated by `python fpga/bench/efficiency.py` on {sim} in {seconds:.0f} s; default RTL "
            f"parameters (gemm: 8 x 8 MAC array, peak {peak} MACs/cycle; "
            "psg_wgrad: 8 x 8 PE array, blocks of 4 x 4 subtiles).  Memory: "
            "cocotbext-axi AxiRam (answers at once; rows marked 'stall 25%' stall every AXI channel 25 % of "
            "the cycles at random).  These are simulated RTL cycles, not board measurements; no clock "
            "frequency is implied."
        ),
        "",
        (
            "efficiency = MACS / (CYCLES_BUSY x ROWS x COLS), useful MACs only; stall = CYCLES_MEM_STALL / "
            "CYCLES_BUSY (cycles in which the array issued nothing while waiting for operands or the write "
            "path)."
        ),
        "",
        "## gemm (ResNet-20 im2col GEMMs, batch 1)",
        "",
        "| layer | M x K x N | mode | memory | cycles | MACs | MACs/cycle | efficiency | stall | exact |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in gemm_rows:
        lines.append(
            f"| {r.layer} | {r.M} x {r.K} x {r.N} | {r.mode} | {r.memory} | {r.cycles} | {r.macs} | "
            f"{r.macs_per_cycle:.1f} | {r.efficiency:.1%} | {r.mem_stall_fraction:.1%} | {r.exact} |"
        )
    big = [r for r in gemm_rows if r.K >= 64 and r.memory == "ideal"]
    if big:
        worst = min(big, key=lambda r: r.efficiency)
        lines += [
            "",
            (
                f"Layers with K >= 64 (ideal memory): efficiency {min(r.efficiency for r in big):.1%} to "
                f"{max(r.efficiency for r in big):.1%} (lowest: {worst.layer}, {worst.mode})."
            ),
        ]
    lines += [
        "",
        "## psg_wgrad (recompute fraction vs the always-full baseline)",
        "",
        "Predictor MACs are 4 x 16 bit, recompute MACs 8 x 16 bit; MACS counts both.",
        "",
        "| workload | target | TAU | recomputed | fraction | cycles | MACs | stall | cycles vs full "
        "| MACs vs full | exact |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in psg_rows:
        tau = "2**64-1" if r.tau == TAU_ALL else str(r.tau)
        lines.append(
            f"| {r.workload} | {r.target_fraction:.2f} | {tau} | {r.recomputed} | "
            f"{r.recompute_fraction:.3f} | "
            f"{r.cycles} | {r.macs} | {r.mem_stall_fraction:.1%} | {r.cycles_vs_full:.3f} | "
            f"{r.macs_vs_full:.3f} | {r.exact} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sim",
        choices=("auto", *rtl.SIMULATORS),
        default="auto",
        help="simulator (auto: Verilator when installed, else Icarus)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "measurements", help="output directory")
    parser.add_argument("--quick", action="store_true", help="forward layers only, no stall or psg runs")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)

    try:
        sim = rtl.pick_simulator(args.sim)
    except BackendUnavailable as exc:
        print(f"cannot run the RTL: {exc}", file=sys.stderr)
        return 2
    peak = 8 * 8
    start = time.monotonic()
    gemm_rows = run_gemm_layers(FORWARD + ([] if args.quick else BACKWARD), sim, peak, 0.0, args.seed)
    if not args.quick:
        gemm_rows += run_gemm_layers(STALLED, sim, peak, 0.25, args.seed + 1)
    psg_rows = [] if args.quick else run_psg(sim, args.seed + 2)
    seconds = time.monotonic() - start

    args.out.mkdir(parents=True, exist_ok=True)
    _write_csv(args.out / "rtl_gemm_efficiency.csv", gemm_rows)
    if psg_rows:
        _write_csv(args.out / "rtl_psg_counters.csv", psg_rows)
    (args.out / "rtl_gemm_efficiency.md").write_text(_markdown(gemm_rows, psg_rows, sim, seconds, peak))
    print((args.out / "rtl_gemm_efficiency.md").read_text())
    bad = [r.layer for r in gemm_rows if not r.exact] + [
        f"psg {r.target_fraction}" for r in psg_rows if not r.exact
    ]
    if bad:
        print(f"NOT EXACT: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
