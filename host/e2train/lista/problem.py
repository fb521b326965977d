"""The sparse recovery problem of ALGORITHMS.md 3: b = A x* (+ noise), seeded and saved with the run.

Every random draw comes from its own stream, derived from (seed, stream, index) by numpy's SeedSequence:
the matrix, the validation set and the test set are fixed by the seed, and training batch ``t`` is a pure
function of (seed, t).  A resumed run therefore sees exactly the batches an uninterrupted one would, with
no generator state to checkpoint.  Signals are rows: x (B, n), b (B, m), b = x A^T.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from e2train.errors import E2TrainError
from e2train.lista.config import ListaConfig

PROBLEM_FILE = "problem.pt"
_MATRIX, _VAL, _TEST, _TRAIN = range(4)  # stream ids


class ProblemError(E2TrainError, ValueError):
    """A saved problem is missing, corrupt, or does not belong to this configuration."""


def generator(seed: int, stream: int, index: int = 0) -> torch.Generator:
    """A torch generator for one named stream; independent of every other (seed, stream, index)."""
    state = np.random.SeedSequence([seed, stream, index]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def sensing_matrix(m: int, n: int, gen: torch.Generator, condition_number: float | None = None) -> torch.Tensor:
    """A_ij ~ N(0, 1/m), columns scaled to unit length.

    With a condition number, the Gaussian matrix's singular values are replaced by values spaced
    geometrically from 1 down to 1/kappa before the columns are normalised; normalising moves the
    condition number a little (``Problem.condition_number`` holds the value actually reached).
    """
    a = torch.randn(m, n, generator=gen, dtype=torch.float64) / math.sqrt(m)  # (m, n)
    if condition_number is not None and condition_number > 1:
        u, _, vh = torch.linalg.svd(a, full_matrices=False)  # u (m, m), vh (m, n)
        s = torch.logspace(0, -math.log10(condition_number), m, dtype=torch.float64)
        a = u @ torch.diag(s) @ vh
    return (a / a.norm(dim=0, keepdim=True)).float()


def sparse_signals(count: int, n: int, sparsity: float, gen: torch.Generator) -> torch.Tensor:
    """Bernoulli-Gaussian rows: each entry non-zero with probability `sparsity`, non-zeros N(0, 1)."""
    support = torch.rand(count, n, generator=gen) < sparsity
    return torch.randn(count, n, generator=gen) * support  # (count, n)


def measure(x: torch.Tensor, a: torch.Tensor, snr_db: float | None, gen: torch.Generator) -> torch.Tensor:
    """b = x A^T plus white Gaussian noise at `snr_db` per signal (||A x||^2 / E||e||^2); none if None."""
    b = x @ a.T  # (B, m)
    if snr_db is None:
        return b
    power = b.pow(2).mean(dim=1, keepdim=True)  # (B, 1): signal power per measurement
    sigma = torch.sqrt(power / 10 ** (snr_db / 10))
    return b + sigma * torch.randn(b.shape, generator=gen)


@dataclass
class Problem:
    a: torch.Tensor  # (m, n)
    val_x: torch.Tensor  # (V, n)
    val_b: torch.Tensor  # (V, m)
    test_x: torch.Tensor  # (T, n)
    test_b: torch.Tensor  # (T, m)
    seed: int
    sparsity: float
    snr_db: float | None

    @property
    def condition_number(self) -> float:
        s = torch.linalg.svdvals(self.a.double())
        return float(s[0] / s[-1])

    def train_batch(self, step: int, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Training batch number `step`: fresh signals every step, a pure function of (seed, step)."""
        gen = generator(self.seed, _TRAIN, step)
        x = sparse_signals(batch_size, self.a.shape[1], self.sparsity, gen)
        return x, measure(x, self.a, self.snr_db, gen)


def make_problem(cfg: ListaConfig) -> Problem:
    """The matrix, validation and test sets of a configuration (deterministic in cfg.seed)."""
    a = sensing_matrix(cfg.m, cfg.n, generator(cfg.seed, _MATRIX), cfg.condition_number)
    sets = []
    for stream, size in ((_VAL, cfg.val_size), (_TEST, cfg.test_size)):
        gen = generator(cfg.seed, stream)
        x = sparse_signals(size, cfg.n, cfg.sparsity, gen)
        sets += [x, measure(x, a, cfg.snr_db, gen)]
    return Problem(a, *sets, seed=cfg.seed, sparsity=cfg.sparsity, snr_db=cfg.snr_db)


def save_problem(problem: Problem, run_dir: Path) -> Path:
    """Write the problem next to the run (temporary name, then rename: a crash leaves no half file)."""
    path = run_dir / PROBLEM_FILE
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"a": problem.a, "val_x": problem.val_x, "val_b": problem.val_b, "test_x": problem.test_x,
                "test_b": problem.test_b, "seed": problem.seed, "sparsity": problem.sparsity,
                "snr_db": problem.snr_db}, tmp)
    os.replace(tmp, path)
    return path


def load_problem(run_dir: Path) -> Problem:
    path = run_dir / PROBLEM_FILE
    if not path.exists():
        raise ProblemError(f"{path} does not exist: not a LISTA run directory (run `e2train lista train` first)")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        return Problem(**data)
    except Exception as err:  # torch raises several types for truncated or foreign files
        raise ProblemError(f"{path} is corrupt or not a LISTA problem ({err}); rerun with --force") from err
