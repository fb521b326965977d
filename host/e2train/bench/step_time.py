"""Wall time per training step: the 8-bit+PSG path and SMD+SLU against plain fp32 PyTorch.

    python -m e2train.bench.step_time --data-dir ../shared/data/cifar10-jpeg.tar.gz

All variants train the same ResNet-20 on the same batches in one process, interleaved in rounds so
that a change in machine load hits every variant alike; the result is reported as ratios to plain
fp32 PyTorch (a hand-written loop with no accounting), written to ``measurements/step_time.{csv,md}``.
A step is a *nominal* iteration: an SMD-dropped one counts, with the (near zero) time it took.
Variants named "torch path" run with the VNNI kernel of the PSG weight gradient switched off
(``E2TRAIN_VNNI=0``): the software path before that kernel, measured in the same run.
"""

from __future__ import annotations

import os
import shlex
import tempfile
import time
from pathlib import Path
from unittest import mock

import click
import pandas as pd
import torch
import torch.nn.functional as F

from e2train import vnni_wgrad
from e2train.config import resolve_config
from e2train.energy.profile import REPO_ROOT
from e2train.energy.trace import read_trace
from e2train.train.loop import Trainer

VARIANTS = {
    "fp32 (trainer)": {"precision": "fp32"},
    "8-bit baseline": {},
    "8-bit + PSG": {"psg": True},
    "8-bit + PSG, torch path": {"psg": True},
    "8-bit + PSG, 16-bit input gradients": {"psg": True, "input_grad": "int16"},
    "SMD + SLU (fp32)": {"precision": "fp32", "smd": 0.5, "slu_target": 0.6},
    "SMD + SLU + PSG (8-bit)": {"smd": 0.5, "slu_target": 0.6, "psg": True},
    "SMD + SLU + PSG (8-bit), torch path": {"smd": 0.5, "slu_target": 0.6, "psg": True},
}
# Variants run with the VNNI kernel switched off (e2train.vnni_wgrad): the same run's before and after.
VARIANT_ENV = {name: {vnni_wgrad.DISABLE_ENV: "0"} for name in VARIANTS if name.endswith(", torch path")}

# The reference is the loop a user writes by default (standard layout); the channels-last row shows how
# much of a variant's gain is the layout alone.
REFERENCE = "plain PyTorch fp32"
PLAIN_LAYOUTS = {REFERENCE: torch.contiguous_format, "plain PyTorch fp32, channels-last": torch.channels_last}


def plain_pytorch_steps(trainer: Trainer, first: int, steps: int) -> list[float]:
    """The reference: the same model and batches in a bare PyTorch loop (no quantization, no counting)."""
    model, opt = trainer.model, trainer.optimizer
    times = []
    for it in range(first, first + steps):
        t0 = time.perf_counter()
        x, y = trainer.source.materialize(it)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss.item()  # waits for the device, as the trainer does when it records the loss
        times.append(time.perf_counter() - t0)
    return times


def trainer_steps(trainer: Trainer, first: int, steps: int) -> list[tuple[float, bool]]:
    """(wall time, dropped by SMD) of each step."""
    trainer.start_iter, trainer.total_iters = first, first + steps
    trainer.state.rows = []
    trainer.run()
    trace = read_trace(trainer.run_dir)
    return list(zip((trace["t_end"] - trace["t_start"]).tolist(), trace["skipped"].tolist(), strict=True))


def expected_step(steps: list[tuple[float, bool]], drop_probability: float) -> float:
    """Mean time of a nominal step at the configured SMD drop probability.

    Not the plain mean: which measured iterations the seeded draw drops is luck (54 % of the 90 measured
    in one run, 47.5 % of 40 in another), and with dropped steps near zero time the plain mean would
    credit that luck to the variant.  Without SMD it is the plain mean.
    """
    ran = [t for t, dropped in steps if not dropped]
    dropped = [t for t, was_dropped in steps if was_dropped]
    if not drop_probability or not dropped or not ran:
        return _mean([t for t, _ in steps])
    return (1 - drop_probability) * _mean(ran) + drop_probability * _mean(dropped)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


@click.command()
@click.option("--data-dir", required=True, help="CIFAR-10 image folder / .tar.gz (or pickles with --dataset cifar10).")
@click.option("--dataset", default="imagefolder", type=click.Choice(["imagefolder", "cifar10"]))
@click.option("--steps", default=30, show_default=True, help="Measured nominal steps per variant and round.")
@click.option("--warmup", default=3, show_default=True)
@click.option("--rounds", default=2, show_default=True)
@click.option("--batch-size", default=128, show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N (every variant on it).")
@click.option("--threads", type=int, default=None, help="torch threads (default: torch's choice).")
@click.option("--variant", "variants", multiple=True, type=click.Choice(list(VARIANTS)),
              help="Measure only these variants (repeatable; default: all). The plain loops always run.")
@click.option("--results", default=str(REPO_ROOT / "measurements"), show_default=True)
def main(data_dir: str, dataset: str, steps: int, warmup: int, rounds: int, batch_size: int, device: str,
         threads: int | None, variants: tuple[str, ...], results: str) -> None:
    """Measure per-step wall time of each variant and write ratios to plain fp32 PyTorch."""
    if threads is not None:
        torch.set_num_threads(threads)
    work = Path(tempfile.mkdtemp(prefix="e2train-steptime-"))
    base = {"dataset": dataset, "data_dir": data_dir, "model": "resnet20", "batch_size": batch_size,
            "iters": 10**6, "eval_every": 10**6, "checkpoint_every": 10**6, "torch_device": device}
    trainers = {name: Trainer(resolve_config(None, None, {**base, **over, "out": str(work / str(i))}), work / str(i))
                for i, (name, over) in enumerate(VARIANTS.items()) if not variants or name in variants}
    plains = {}
    for i, (name, layout) in enumerate(PLAIN_LAYOUTS.items()):
        out_dir = work / f"plain{i}"
        plains[name] = Trainer(resolve_config(None, None, {**base, "precision": "fp32", "out": str(out_dir)}), out_dir)
        plains[name].model.memory_format = layout
    samples: dict[str, list[tuple[float, bool]]] = {name: [] for name in plains} | {name: [] for name in trainers}
    for r in range(rounds):
        first = r * (steps + warmup)
        for name, plain in plains.items():
            samples[name] += [(t, False) for t in plain_pytorch_steps(plain, first, steps + warmup)[warmup:]]
        for name, trainer in trainers.items():
            with mock.patch.dict(os.environ, VARIANT_ENV.get(name, {})):
                samples[name] += trainer_steps(trainer, first, steps + warmup)[warmup:]
        click.echo(f"round {r + 1}/{rounds} done")
    drop = {name: trainer.cfg.smd for name, trainer in trainers.items()}
    means = {name: expected_step(steps_, drop.get(name, 0.0)) for name, steps_ in samples.items()}
    ref = means[REFERENCE]
    table = pd.DataFrame([{
        "variant": name, "mean_step_s": mean, "ratio_to_plain_fp32": mean / ref,
        "mean_executed_step_s": _mean([t for t, dropped in samples[name] if not dropped]),
        "steps": len(samples[name]), "steps_dropped": sum(dropped for _, dropped in samples[name]),
    } for name, mean in means.items()])
    out = Path(results)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "step_time.csv", index=False)
    command = "python -m e2train.bench.step_time " + shlex.join(
        ["--data-dir", data_dir, "--dataset", dataset, "--steps", str(steps), "--rounds", str(rounds),
         "--device", device] + (["--threads", str(threads)] if threads is not None else [])
        + [arg for name in variants for arg in ("--variant", name)])
    lines = [f"# Wall time per training step, ResNet-20, CIFAR-10, batch {batch_size}", "",
             f"Regenerate: `{command}`", "",
             f"Device: {device}; torch threads: {torch.get_num_threads()}. Variants interleaved in {rounds} "
             f"rounds of {steps} measured steps (after warm-up); ratios to the plain PyTorch loop (standard "
             "layout) of the same run; the trainer's variants run channels-last. An SMD variant's mean step is "
             "its expectation at the drop probability: (1 - p) x mean executed step + p x mean dropped step. "
             "\"torch path\": the VNNI kernel of the PSG weight gradient switched off (E2TRAIN_VNNI=0; "
             f"available here: {vnni_wgrad.available(torch.zeros(1))}). Absolute times depend on machine load; "
             "compare ratios.", "",
             "| variant | mean step (s) | ratio to plain fp32 | mean executed step (s) | steps (dropped) |",
             "|---|---|---|---|---|"]
    lines += [f"| {r.variant} | {r.mean_step_s:.3f} | {r.ratio_to_plain_fp32:.2f} | {r.mean_executed_step_s:.3f} | "
              f"{r.steps} ({r.steps_dropped}) |" for r in table.itertuples()]
    (out / "step_time.md").write_text("\n".join(lines) + "\n")
    click.echo("\n".join(lines))


if __name__ == "__main__":
    main()
