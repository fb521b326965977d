"""Orthogonality regularizers on CIFAR-10: the shipped sweep ``cifar10-ortho`` and its table.

    python -m e2train.bench.ortho --data-dir ../shared/data/cifar10-jpeg.tar.gz --iters 400 --seeds 0,1,2

Writes ``measurements/ortho_cifar10.{csv,md}``: per penalty the test accuracy (mean and std over seeds),
the training time and the penalty's own modelled energy (its fp32 MACs, ``mac_ortho``), absolute and as a
share of the run's modelled energy.

A long benchmark can span sittings whose run folders are gone: ``--earlier-rows`` keeps the rows of an
earlier table (its CSV) for the trials not run now, and ``--penalties`` runs only the missing ones.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import click
import pandas as pd

from e2train.bench.cifar_sweep import data_options, run_all_trials
from e2train.energy.profile import REPO_ROOT
from e2train.run_dir import RunDir
from e2train.sweep.spec import load_spec

SPEC = "cifar10-ortho"


ROW_COLUMNS = ["penalty", "seed", "test_accuracy", "train_time_s", "energy_model_j", "energy_ortho_model_j",
               "ortho_share", "sitting"]
EARLIER_SITTING = "earlier"  # rows of a table written before the column existed


def this_sitting() -> str:
    """Which machine boot made a row (Linux's boot id): training times compare only within one."""
    boot_id = Path("/proc/sys/kernel/random/boot_id")
    return boot_id.read_text().strip()[:8] if boot_id.is_file() else "unknown"


def trial_row(variant: str, seed: int, run_dir: Path) -> dict:
    s = RunDir(run_dir).summary()
    ortho_j = s.get("energy_ortho_model_j") or 0.0
    return {"penalty": variant, "seed": seed, "test_accuracy": s["test_accuracy"], "train_time_s": s["train_time_s"],
            "energy_model_j": s["energy_model_j"], "energy_ortho_model_j": ortho_j,
            "ortho_share": ortho_j / s["energy_model_j"], "sitting": this_sitting()}


def select_variants(variants: dict[str, dict], names: list[str]) -> dict[str, dict]:
    unknown = sorted(set(names) - set(variants))
    if unknown:
        raise click.BadParameter(f"unknown penalty {', '.join(unknown)}; the spec has {', '.join(variants)}",
                                 param_hint="--penalties")
    return {name: variants[name] for name in variants if name in names}


def with_earlier_rows(rows: pd.DataFrame, earlier: pd.DataFrame, order: list[str]) -> pd.DataFrame:
    """This sitting's rows plus an earlier table's rows for the (penalty, seed) pairs not run now."""
    if "sitting" not in earlier.columns:
        earlier = earlier.assign(sitting=EARLIER_SITTING)
    missing = sorted(set(ROW_COLUMNS) - set(earlier.columns))
    if missing:
        raise click.BadParameter(f"not a table of this benchmark (no column {', '.join(missing)})",
                                 param_hint="--earlier-rows")
    ran = set(zip(rows["penalty"], rows["seed"], strict=True))
    kept = earlier[[(p, s) not in ran for p, s in zip(earlier["penalty"], earlier["seed"], strict=True)]]
    both = pd.concat([kept[ROW_COLUMNS], rows], ignore_index=True)
    both["rank"] = both["penalty"].map({name: i for i, name in enumerate(order)})
    return both.sort_values(["rank", "seed"]).drop(columns="rank").reset_index(drop=True)


def time_vs_none(rows: pd.DataFrame) -> pd.Series:
    """Each trial's training time over the unregularized run's of the same seed and sitting (NaN where
    there is none): a long benchmark spans sittings on different machines, so absolute times do not
    compare, while two runs of one sitting ran on the same machine one after the other."""
    none = rows[rows["penalty"] == "none"].set_index(["seed", "sitting"])["train_time_s"]
    keys = pd.MultiIndex.from_frame(rows[["seed", "sitting"]])
    return rows["train_time_s"] / none.reindex(keys).to_numpy()


def markdown(rows: pd.DataFrame, command: str, iters: int) -> str:
    stats = rows.assign(time_ratio=time_vs_none(rows)).groupby("penalty", sort=False).agg(
        seeds=("seed", "count"), acc_mean=("test_accuracy", "mean"), acc_std=("test_accuracy", "std"),
        time_mean=("train_time_s", "mean"), time_ratio=("time_ratio", "mean"), ortho_j=("energy_ortho_model_j", "mean"),
        share=("ortho_share", "mean"))
    lines = [f"# Orthogonality regularizers, CIFAR-10, ResNet-20 fp32, {iters} iterations of batch 128", "",
             f"Regenerate: `{command}`", "",
             "The paper's schedule (coefficient 0.1, x1e-2 at 10 % of the run, 1e-3 at 25 %, 1e-5 at 35 %, 0 from "
             "60 %); SRIP as the paper (sigma, one power step from a random start). Test accuracy is mean ± std "
             "over seeds. The penalty's energy is its fp32 multiply-accumulates (Gram matrices or power steps, "
             "forward and backward) under the run's energy profile; training time includes the penalty, and its "
             "ratio to the unregularized run of the same seed in the same sitting (mean over the seeds that have "
             "one) is what compares across machines.",
             "",
             "| penalty | seeds | test acc. | training time (s) | time vs none | penalty energy (J) | "
             "share of the run's energy |",
             "|---|---|---|---|---|---|---|"]
    for name, r in stats.iterrows():
        std = "" if pd.isna(r["acc_std"]) else f" ± {r['acc_std']:.1%}"
        ratio = "" if pd.isna(r["time_ratio"]) else f"{r['time_ratio']:.2f}x"
        lines.append(f"| {name} | {int(r['seeds'])} | {r['acc_mean']:.1%}{std} | {r['time_mean']:.0f} | {ratio} | "
                     f"{r['ortho_j']:.3g} | {r['share']:.2%} |")
    return "\n".join(lines) + "\n"


@click.command()
@data_options
@click.option("--iters", default=400, show_default=True, help="Nominal iterations per run.")
@click.option("--seeds", default="0,1,2", show_default=True)
@click.option("--cpus-per-trial", default=1, show_default=True, help="Torch threads per run (runs in parallel).")
@click.option("--out", default="runs/ortho", show_default=True, type=click.Path(file_okay=False))
@click.option("--results", default=str(REPO_ROOT / "measurements"), show_default=True)
@click.option("--penalties", default=None, help="Comma-separated subset of the spec's variants (default: all).")
@click.option("--earlier-rows", type=click.Path(exists=True, dir_okay=False), default=None,
              help="A CSV this benchmark wrote in an earlier sitting: its rows stand for the trials not run now.")
@click.option("--table-only", is_flag=True,
              help="Train nothing: write the table from the trials finished so far (a sweep between sittings).")
def main(data_dir: str, dataset: str, iters: int, seeds: str, cpus_per_trial: int, out: str, results: str,
         penalties: str | None, earlier_rows: str | None, table_only: bool) -> None:
    """Run the orthogonality sweep (resuming finished or partial runs) and write the table."""
    spec = load_spec(SPEC)
    spec.base.update(data_dir=data_dir, dataset=dataset, iters=iters)
    spec.seeds = [int(s) for s in seeds.split(",")]
    if penalties:
        spec.variants = select_variants(spec.variants, penalties.split(","))
    if not table_only:
        run_all_trials(spec, Path(out), cpus_per_trial)
    finished = [t for t in spec.trials() if RunDir(Path(out) / t.name).finished]
    rows = pd.DataFrame([trial_row(t.params["variant"], t.params["seed"], Path(out) / t.name) for t in finished],
                        columns=ROW_COLUMNS)
    if earlier_rows:
        rows = with_earlier_rows(rows, pd.read_csv(earlier_rows), list(load_spec(SPEC).variants))
    if rows.empty:
        raise click.ClickException(f"no finished trial in {out} yet")
    results_dir = Path(results)
    results_dir.mkdir(parents=True, exist_ok=True)
    rows.to_csv(results_dir / "ortho_cifar10.csv", index=False)
    command = "python -m e2train.bench.ortho " + shlex.join(
        ["--data-dir", data_dir, "--dataset", dataset, "--iters", str(iters), "--seeds", seeds,
         "--cpus-per-trial", str(cpus_per_trial), "--out", out]
        + (["--penalties", penalties] if penalties else [])
        + (["--earlier-rows", earlier_rows] if earlier_rows else []))
    text = markdown(rows, command, iters)
    (results_dir / "ortho_cifar10.md").write_text(text)
    click.echo(text)


if __name__ == "__main__":
    main()
