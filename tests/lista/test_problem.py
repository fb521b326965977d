"""Problem generation: the distributions of ALGORITHMS.md 3, seeding, noise level, saving."""

from __future__ import annotations

import math

import pytest
import torch
from lista_tiny import tiny_config

from e2train.lista.problem import (
    ProblemError,
    generator,
    load_problem,
    make_problem,
    save_problem,
    sensing_matrix,
    sparse_signals,
)


def test_matrix_has_unit_columns_and_gaussian_entries() -> None:
    a = sensing_matrix(200, 400, generator(0, 0))
    torch.testing.assert_close(a.norm(dim=0), torch.ones(400))
    assert abs(float(a.mean())) < 0.005
    assert float(a.var()) == pytest.approx(1 / 200, rel=0.02)  # unit columns of m entries: variance 1/m


def test_condition_number_is_imposed() -> None:
    plain = torch.linalg.cond(sensing_matrix(50, 100, generator(0, 0)).double())
    shaped = torch.linalg.cond(sensing_matrix(50, 100, generator(0, 0), condition_number=30).double())
    assert float(plain) < 10
    assert float(shaped) == pytest.approx(30, rel=0.5)  # column normalisation moves it a little


def test_signals_are_bernoulli_gaussian() -> None:
    x = sparse_signals(2000, 500, 0.1, generator(1, 1))
    support = x != 0
    assert float(support.float().mean()) == pytest.approx(0.1, abs=0.003)
    assert float(x[support].std()) == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize("snr_db", [20.0, 40.0])
def test_noise_reaches_the_requested_snr(snr_db: float) -> None:
    cfg = tiny_config(m=64, n=128, snr_db=snr_db, test_size=2000)
    problem = make_problem(cfg)
    clean = problem.test_x @ problem.a.T
    noise = problem.test_b - clean
    measured = 10 * math.log10(float(clean.pow(2).sum() / noise.pow(2).sum()))
    assert measured == pytest.approx(snr_db, abs=0.3)


def test_noiseless_measurements_are_exact(tiny) -> None:
    problem = make_problem(tiny)
    torch.testing.assert_close(problem.val_b, problem.val_x @ problem.a.T)


def test_seed_fixes_everything_and_batches_are_fresh(tiny) -> None:
    one, two = make_problem(tiny), make_problem(tiny)
    assert torch.equal(one.a, two.a) and torch.equal(one.test_x, two.test_x)
    assert not torch.equal(one.val_x, one.test_x)
    assert torch.equal(one.train_batch(5, 8)[0], two.train_batch(5, 8)[0])  # a pure function of the step
    assert not torch.equal(one.train_batch(5, 8)[0], one.train_batch(6, 8)[0])
    other = make_problem(tiny_config(seed=4))
    assert not torch.equal(one.a, other.a)


def test_saved_problem_round_trips(tmp_path, tiny) -> None:
    problem = make_problem(tiny)
    save_problem(problem, tmp_path)
    loaded = load_problem(tmp_path)
    assert torch.equal(loaded.a, problem.a) and torch.equal(loaded.test_b, problem.test_b)
    assert loaded.snr_db is None and loaded.seed == tiny.seed


def test_missing_or_corrupt_problem_is_explained(tmp_path) -> None:
    with pytest.raises(ProblemError, match="not a LISTA run directory"):
        load_problem(tmp_path)
    (tmp_path / "problem.pt").write_bytes(b"not a tensor file")
    with pytest.raises(ProblemError, match="corrupt"):
        load_problem(tmp_path)
