"""A finished LISTA run as a Markdown report: NMSE per layer for every method, thresholds, fixed point, energy.

Reads only the run's output files (``nmse.csv``, ``thresholds.csv``, ``nmse_fixed_point.csv``,
``summary.json``): nothing is recomputed, so a report of a run made elsewhere costs nothing.  This is
what ``e2train lista report`` prints and what ``measurements/lista_*.md`` hold.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

from e2train.lista.evaluate import FIXED_FILE, NMSE_FILE, SUMMARY_FILE, THRESHOLDS_FILE
from e2train.lista.problem import ProblemError


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _pivot(rows: list[dict[str, str]], value: str) -> tuple[list[str], dict[int, dict[str, str]]]:
    methods: list[str] = []
    table: dict[int, dict[str, str]] = defaultdict(dict)
    for row in rows:
        if row["method"] not in methods:
            methods.append(row["method"])
        table[int(row["layer"])][row["method"]] = f"{float(row[value]):.2f}" if value != "threshold" \
            else f"{float(row[value]):.4f}"
    return methods, dict(table)


def _markdown(header: str, rows: list[dict[str, str]], value: str) -> list[str]:
    methods, table = _pivot(rows, value)
    lines = [header, "", "| layer | " + " | ".join(methods) + " |", "|---:|" + "---:|" * len(methods)]
    for layer in sorted(table):
        lines.append(f"| {layer} | " + " | ".join(table[layer].get(m, "") for m in methods) + " |")
    return [*lines, ""]


def run_report(run_dir: Path) -> str:
    """The Markdown report of one evaluated run directory."""
    summary_path = run_dir / SUMMARY_FILE
    if not summary_path.exists():
        raise ProblemError(f"{summary_path} does not exist: train the run (e2train lista train) or evaluate it "
                           "(e2train lista eval) first")
    summary = json.loads(summary_path.read_text())
    cfg = summary["config"]
    noise = "noiseless" if cfg["snr_db"] is None else f"SNR {cfg['snr_db']:g} dB"
    lines = [f"### {run_dir.name}: m={cfg['m']}, n={cfg['n']}, p={cfg['sparsity']:g}, {noise}, "
             f"{cfg['layers']} layers, {'tied' if cfg['tied'] else 'untied'} weights", ""]
    lines += _markdown("Test NMSE (dB) per layer (iteration for ISTA/FISTA):", _read_csv(run_dir / NMSE_FILE),
                       "nmse_db")
    thresholds = _read_csv(run_dir / THRESHOLDS_FILE)
    if thresholds:
        lines += _markdown("Learned thresholds theta_k:", thresholds, "threshold")
    fixed = _read_csv(run_dir / FIXED_FILE)
    if fixed:
        backend = next((m["fixed_point"]["backend"] for m in summary["methods"].values() if "fixed_point" in m), "")
        lines += _markdown(f"Fixed point (int8 weights x int16 activations on the gemm kernel, backend {backend}): "
                           "NMSE (dB) per layer", fixed, "nmse_db_fixed")
        lines += _markdown("Fixed-point loss (dB, fixed minus float) per layer:", fixed, "loss_db")
    for precision, e in summary["energy_per_signal"].items():
        lines.append(f"- modelled energy per recovered signal, CP-family network in {precision}: "
                     f"{e['energy_j']:.3e} J ({e['macs']:,} MACs; compute {e['compute_j']:.2e} J, DRAM "
                     f"{e['dram_j']:.2e} J, static {e['static_j']:.2e} J; profile {e['profile']}, {e['profile_kind']})")
    steps = {m: info["train_steps"] for m, info in summary["methods"].items() if "train_steps" in info}
    if steps:
        lines.append("- training steps (batches of "
                     f"{cfg['batch_size']}): " + ", ".join(f"{m} {s:,}" for m, s in steps.items()))
    return "\n".join(lines) + "\n"
