"""The E2-Train ablation on CIFAR-10: the shipped sweep ``cifar10-ablation`` (five methods, one schedule)
and its table.

    python -m e2train.bench.ablation --data-dir ../shared/data/cifar10-jpeg.tar.gz --iters 400

The runs are the sweep's trials (``e2train sweep cifar10-ablation --set data_dir=... --out DIR`` runs the
same ones): resumable, on Ray, one run folder each.  The table is written to
``measurements/cifar10_ablation.{csv,md}`` with the command that produced it.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pandas as pd
import torch

from e2train.bench.cifar_sweep import data_options, run_all_trials
from e2train.energy.profile import REPO_ROOT
from e2train.energy.trace import read_trace
from e2train.run_dir import RunDir
from e2train.sweep.spec import load_spec

SPEC = "cifar10-ablation"


def summary_row(label: str, run_dir: Path) -> dict:
    s = RunDir(run_dir).summary()
    trace = read_trace(run_dir)
    return {"method": label, "test_accuracy": s["test_accuracy"], "energy_model_j": s["energy_model_j"],
            "savings_vs_baseline8": s["savings_vs_baseline8"], "savings_vs_baseline32": s["savings_vs_baseline32"],
            "static_share": float(trace["energy_static_model_j"].sum()) / s["energy_model_j"],
            "iterations_skipped": s["iterations_skipped"], "slu_executed_fraction": s["slu_executed_fraction"],
            "test_executed_fraction": s.get("test_executed_fraction"), "test_gate_p_std": s.get("test_gate_p_std"),
            "psg_recompute_fraction_hw": s["psg_recompute_fraction_hw"],
            "psg_recompute_fraction_sw": s.get("psg_recompute_fraction_sw"), "wall_time_s": s["wall_time_s"],
            "run_dir": str(run_dir)}


def markdown(table: pd.DataFrame, command: str, iters: int, profile: str) -> str:
    lines = [f"# CIFAR-10 ablation, ResNet-20, {iters} nominal iterations, batch 128", "",
             f"Regenerate: `{command}`", "",
             f"Energy is modelled with the `{profile}` profile (a labelled prior, not a measurement). "
             "Savings are `1 - E / E_baseline` for the same model and budget: baseline8 = 8-bit forward, "
             "fp32 backward, no SMD/SLU/PSG; baseline32 = fp32 throughout. Wall time includes evaluation.", "",
             "SLU exec. is the MAC-weighted fraction of gated-block work run in training / at test (gates "
             "evaluated by the run's rule); gate p std is the spread of the gates' p over test samples (0: "
             "input-independent). PSG recomputed: per entry as the psg_wgrad kernel does / whole output "
             "channels as the software path does. Static share: static power over the modelled accelerator "
             "time, as a fraction of the run's modelled energy.", "",
             "| method | test acc. | modelled energy (J) | savings vs 8-bit | savings vs fp32 | static share "
             "| skipped iters | SLU exec. (train / test) | gate p std | PSG recomputed (kernel / software) "
             "| wall time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        lines.append(f"| {r['method']} | {_pct(r['test_accuracy'])} | {r['energy_model_j']:.1f} | "
                     f"{_pct(r['savings_vs_baseline8'])} | {_pct(r['savings_vs_baseline32'])} | "
                     f"{_pct(r['static_share'])} | {r['iterations_skipped']} | "
                     f"{_pct(r['slu_executed_fraction'])} / {_pct(r['test_executed_fraction'])} | "
                     f"{_num(r['test_gate_p_std'])} | {_pct(r['psg_recompute_fraction_hw'])} / "
                     f"{_pct(r['psg_recompute_fraction_sw'])} | {r['wall_time_s']:.0f} |")
    return "\n".join(lines) + "\n"


def _missing(v: object) -> bool:
    return v is None or bool(pd.isna(v))


def _pct(v: object) -> str:
    return "n/a" if _missing(v) else f"{v:.1%}"


def _num(v: object) -> str:
    return "n/a" if _missing(v) else f"{v:.4f}"


def before_after(table: pd.DataFrame, before: pd.DataFrame, label: str) -> str:
    """Rows of an earlier measurement next to this one's, method by method."""
    old = before.set_index("method")
    lines = ["", f"## Before / after ({label})", "",
             "| method | test acc. before / after | savings vs 8-bit before / after "
             "| savings vs fp32 before / after | static share before / after |", "|---|---|---|---|---|"]
    for r in table.to_dict("records"):
        b = old.loc[r["method"]] if r["method"] in old.index else {}
        lines.append(f"| {r['method']} | {_pct(b.get('test_accuracy'))} / {_pct(r['test_accuracy'])} | "
                     f"{_pct(b.get('savings_vs_baseline8'))} / {_pct(r['savings_vs_baseline8'])} | "
                     f"{_pct(b.get('savings_vs_baseline32'))} / {_pct(r['savings_vs_baseline32'])} | "
                     f"{_pct(b.get('static_share'))} / {_pct(r['static_share'])} |")
    return "\n".join(lines) + "\n"


@click.command()
@data_options
@click.option("--iters", default=1200, show_default=True, help="Nominal iterations per run.")
@click.option("--seed", default=0, show_default=True)
@click.option("--out", default="runs/ablation", show_default=True, type=click.Path(file_okay=False))
@click.option("--results", default=str(REPO_ROOT / "measurements"), show_default=True)
@click.option("--before", type=click.Path(dir_okay=False, exists=True),
              help="An earlier cifar10_ablation.csv to compare with, method by method.")
@click.option("--before-label", default="earlier measurement", show_default=True)
def main(data_dir: str, dataset: str, iters: int, seed: int, out: str, results: str, before: str | None,
         before_label: str) -> None:
    """Run the ablation sweep (resuming finished or partial runs) and write the table."""
    spec = load_spec(SPEC)
    spec.base.update(data_dir=data_dir, dataset=dataset, iters=iters)
    spec.seeds = [seed]
    # as many torch threads as a plain `e2train train` here: float sums depend on the thread count
    run_all_trials(spec, Path(out), cpus_per_trial=torch.get_num_threads())
    table = pd.DataFrame([summary_row(t.params["variant"], Path(out) / t.name) for t in spec.trials()])
    results_dir = Path(results)
    results_dir.mkdir(parents=True, exist_ok=True)
    table.to_csv(results_dir / "cifar10_ablation.csv", index=False)
    command = "python -m e2train.bench.ablation " + shlex.join(
        ["--data-dir", data_dir, "--dataset", dataset, "--iters", str(iters), "--seed", str(seed), "--out", out]
        + (["--before", before, "--before-label", before_label] if before else []))
    profile = RunDir(Path(out) / spec.trials()[0].name).summary()["energy_profile"]["name"]
    text = markdown(table, command, iters, profile)
    if before:
        text += before_after(table, pd.read_csv(before), before_label)
    (results_dir / "cifar10_ablation.md").write_text(text)
    click.echo(text)


if __name__ == "__main__":
    main()
