"""Soft threshold and support selection against naive element-by-element implementations."""

from __future__ import annotations

import math

import pytest
import torch

from e2train.lista.shrink import selected_count, shrink_ss, soft_threshold, ss_fraction, support_mask


def naive_soft(v: list[float], theta: float) -> list[float]:
    return [math.copysign(max(abs(x) - theta, 0.0), x) if abs(x) > theta else 0.0 for x in v]


def naive_ss(v: list[float], theta: float, fraction: float) -> list[float]:
    """Keep x when at least c-th largest |.| (ties included) and above theta; else soft-threshold."""
    count = int(math.floor(fraction * len(v) + 1e-9))
    kth = sorted((abs(x) for x in v), reverse=True)[count - 1] if count else math.inf
    return [x if (abs(x) >= kth and abs(x) > theta) else naive_soft([x], theta)[0] for x in v]


@pytest.mark.parametrize("seed", range(5))
def test_soft_threshold_matches_naive(seed: int) -> None:
    v = torch.randn(4, 17, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    got = soft_threshold(v, 0.3)
    want = torch.tensor([naive_soft(row, 0.3) for row in v.tolist()], dtype=torch.float64)
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("fraction", [0.0, 0.01, 0.1, 0.25, 0.5, 1.0])
@pytest.mark.parametrize("seed", range(3))
def test_support_selection_matches_naive(fraction: float, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(6, 20, generator=gen, dtype=torch.float64)
    v[0, :5] = 2.0  # ties at the top
    v[1, 3:9] = -0.7  # ties across the cut
    v[2] = 0.0
    got = shrink_ss(v, 0.5, fraction)
    want = torch.tensor([naive_ss(row, 0.5, fraction) for row in v.tolist()], dtype=torch.float64)
    torch.testing.assert_close(got, want)


def test_zero_fraction_is_a_plain_soft_threshold() -> None:
    v = torch.randn(3, 50, dtype=torch.float64)
    assert not support_mask(v, 0.1, 0.0).any()
    assert torch.equal(shrink_ss(v, 0.1, 0.0), soft_threshold(v, 0.1))
    assert selected_count(0.019, 50) == 0  # p_k n < 1 selects nothing


def test_selection_needs_the_threshold_too() -> None:
    v = torch.tensor([[3.0, 0.2, 0.1, -0.05]])
    assert support_mask(v, 0.5, 0.5).tolist() == [[True, False, False, False]]  # 0.2 is top-2 but below theta


def test_ties_pass_together() -> None:
    v = torch.tensor([[1.0, -1.0, 1.0, 0.1]])
    assert int(support_mask(v, 0.0, 0.25).sum()) == 3  # c = 1, three entries tie at the c-th magnitude


def test_schedule_grows_then_caps() -> None:
    assert [round(ss_fraction(k, 0.012, 0.13), 4) for k in (1, 2, 10, 11, 16)] == [0.012, 0.024, 0.12, 0.13, 0.13]
    assert selected_count(ss_fraction(5, 0.012, 0.13), 500) == 30


def test_selected_entries_pass_gradient_unchanged() -> None:
    v = torch.tensor([[3.0, -2.0, 0.6, 0.1]], requires_grad=True)
    theta = torch.tensor(0.5, requires_grad=True)
    out = shrink_ss(v, theta, 0.5)  # selects 3.0 and -2.0
    out.sum().backward()
    assert v.grad.tolist() == [[1.0, 1.0, 1.0, 0.0]]
    assert float(theta.grad) == -1.0  # only the shrunk 0.6 depends on theta
