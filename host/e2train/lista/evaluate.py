"""Evaluation of a LISTA run: NMSE per layer on the test set for every method, thresholds, fixed point,
modelled energy, plots and ``summary.json``.

Output files (all written to a temporary name and renamed):

- ``nmse.csv``: ``method,layer,nmse_db`` (layer = iteration for ISTA / FISTA);
- ``thresholds.csv``: ``method,layer,threshold`` of every learned method;
- ``nmse_fixed_point.csv`` (with a kernel backend): ``method,layer,nmse_db_float,nmse_db_fixed,loss_db``
  for the CP family run through the gemm kernel (``fixed_point``);
- ``nmse.png``, ``thresholds.png``; ``summary.json``: configuration, NMSE at the last layer, training
  stages, fixed-point results and modelled joules per recovered signal.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from e2train.energy.profile import load_profile
from e2train.lista import fixed_point
from e2train.lista.baselines import fista, ista
from e2train.lista.config import BASELINES, CP_FAMILY, ListaConfig
from e2train.lista.energy import energy_per_signal
from e2train.lista.metrics import nmse_db
from e2train.lista.models import CoupledStep, build_model
from e2train.lista.plots import plot_nmse, plot_thresholds
from e2train.lista.problem import Problem
from e2train.lista.stagewise import load_trained, method_dir

log = logging.getLogger(__name__)

NMSE_FILE = "nmse.csv"
THRESHOLDS_FILE = "thresholds.csv"
FIXED_FILE = "nmse_fixed_point.csv"
SUMMARY_FILE = "summary.json"
OUTPUT_FILES = (NMSE_FILE, THRESHOLDS_FILE, FIXED_FILE, SUMMARY_FILE, "nmse.png", "thresholds.png")
NMSE_COLUMNS = ("method", "layer", "nmse_db")


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def _baseline_rows(method: str, problem: Problem, cfg: ListaConfig) -> list[dict]:
    solver = ista if method == "ista" else fista
    return [{"method": method, "layer": k + 1, "nmse_db": round(nmse_db(x, problem.test_x), 4)}
            for k, x in enumerate(solver(problem.a, problem.test_b, cfg.lam, cfg.layers))]


def _fixed_point(method: str, model: CoupledStep, problem: Problem, float_rows: list[dict], backend: str,
                 sim: str) -> tuple[list[dict], dict[str, Any]]:
    """The network on the gemm kernel of `backend`: per-layer NMSE next to float, and the run's totals."""
    result = fixed_point.run_fixed_point(fixed_point.quantize_network(model), problem.test_b,
                                         fixed_point.backend_gemm(backend, sim))
    rows = []
    for row, x in zip(float_rows, result.outputs, strict=True):
        fixed = nmse_db(x, problem.test_x)
        rows.append({"method": method, "layer": row["layer"], "nmse_db_float": row["nmse_db"],
                     "nmse_db_fixed": round(fixed, 4), "loss_db": round(fixed - row["nmse_db"], 4)})
    totals = {"backend": backend, "kernel_calls": result.kernel_calls, "macs": result.macs,
              "overflows": result.overflows, "nmse_db_fixed": rows[-1]["nmse_db_fixed"]}
    return rows, totals


def _energy(cfg: ListaConfig, batch: int) -> dict[str, Any]:
    profile = load_profile(cfg.energy_profile)
    out = {}
    for precision in ("int8x16", "fp32"):
        e = energy_per_signal(cfg.m, cfg.n, cfg.layers, batch, profile, precision)
        out[precision] = asdict(e)
    return out


@torch.no_grad()
def evaluate_run(run_dir: Path, cfg: ListaConfig, problem: Problem, fixed_point_backend: str | None = None,
                 sim: str = "icarus") -> dict[str, Any]:
    """Evaluate every method of a trained run and write the output files; returns the summary."""
    backend = fixed_point_backend or cfg.fixed_point_backend
    rows: list[dict] = []
    thresholds: list[dict] = []
    fixed_rows: list[dict] = []
    methods: dict[str, dict[str, Any]] = {}
    for method in cfg.methods:
        if method in BASELINES:
            method_rows = _baseline_rows(method, problem, cfg)
            methods[method] = {}
        else:
            model = build_model(method, problem.a, cfg)
            position, stages = load_trained(method_dir(run_dir, method), model)
            if not position.done:
                log.warning("%s: training stopped at layer %d; evaluating the partly trained network",
                            method, position.layer + 1)
            outputs = model(problem.test_b)
            method_rows = [{"method": method, "layer": k + 1, "nmse_db": round(nmse_db(x, problem.test_x), 4)}
                           for k, x in enumerate(outputs)]
            thresholds += [{"method": method, "layer": k + 1, "threshold": t}
                           for k, t in enumerate(model.thresholds())]
            methods[method] = {"trained": position.done, "train_steps": position.global_step,
                               "stages": [asdict(s) for s in stages]}
            if backend and method in CP_FAMILY:
                assert isinstance(model, CoupledStep)
                rows_fp, methods[method]["fixed_point"] = _fixed_point(method, model, problem, method_rows,
                                                                       backend, sim)
                fixed_rows += rows_fp
        methods[method]["nmse_db_last_layer"] = method_rows[-1]["nmse_db"]
        rows += method_rows
    _write_csv(run_dir / NMSE_FILE, NMSE_COLUMNS, rows)
    _write_csv(run_dir / THRESHOLDS_FILE, ("method", "layer", "threshold"), thresholds)
    if fixed_rows:
        _write_csv(run_dir / FIXED_FILE, ("method", "layer", "nmse_db_float", "nmse_db_fixed", "loss_db"), fixed_rows)
    noise = "noiseless" if cfg.snr_db is None else f"SNR {cfg.snr_db:g} dB"
    title = f"m={cfg.m}, n={cfg.n}, p={cfg.sparsity:g}, {noise}"
    plot_nmse(rows, run_dir / "nmse.png", title, fixed_rows)
    if thresholds:
        plot_thresholds(thresholds, run_dir / "thresholds.png", title)
    summary = {"config": cfg.to_dict(), "methods": methods, "test_signals": int(problem.test_x.shape[0]),
               "condition_number": problem.condition_number,
               "energy_per_signal": _energy(cfg, int(problem.test_x.shape[0]))}
    tmp = run_dir / (SUMMARY_FILE + ".tmp")
    tmp.write_text(json.dumps(summary, indent=2, allow_nan=False))
    os.replace(tmp, run_dir / SUMMARY_FILE)
    return summary
