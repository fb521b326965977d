"""Fixed-point inference on the gemm kernel: bit-identical across backends, close to float, energy counted."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from lista_tiny import tiny_config

from e2train.energy.profile import load_profile
from e2train.lista import fixed_point
from e2train.lista.energy import energy_per_signal
from e2train.lista.metrics import nmse_db
from e2train.lista.models import build_model
from e2train.lista.problem import make_problem
from e2train.lista.stagewise import StagewiseTrainer

CFG = tiny_config(methods=("lista-cpss",), layers=2, max_steps=20, test_size=6)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):  # noqa: ANN001, ANN201 - (problem, model)
    problem = make_problem(CFG)
    model = build_model("lista-cpss", problem.a, CFG)
    StagewiseTrainer("lista-cpss", model, problem, CFG, tmp_path_factory.mktemp("cpss")).run()
    return problem, model


def _run(trained, gemm) -> fixed_point.FixedPointResult:  # noqa: ANN001
    problem, model = trained
    return fixed_point.run_fixed_point(fixed_point.quantize_network(model), problem.test_b, gemm)


def _assert_identical(got: fixed_point.FixedPointResult, want: fixed_point.FixedPointResult) -> None:
    assert got.kernel_calls == want.kernel_calls == 2 * CFG.layers
    for x_got, x_want in zip(got.outputs, want.outputs, strict=True):
        assert torch.equal(x_got, x_want)  # bit for bit, every layer


@pytest.mark.parametrize("backend", ["reference", "emulate"])
def test_backends_are_bit_identical(trained, backend: str) -> None:
    torch_result = _run(trained, fixed_point.backend_gemm("torch"))
    _assert_identical(_run(trained, fixed_point.backend_gemm(backend)), torch_result)


def test_csim_is_bit_identical(trained) -> None:
    if shutil.which("g++") is None:
        pytest.skip("g++ not found (apt-get install g++): the csim backend cannot be built")
    torch_result = _run(trained, fixed_point.backend_gemm("torch"))
    _assert_identical(_run(trained, fixed_point.backend_gemm("csim")), torch_result)


def test_rtl_is_bit_identical(trained) -> None:
    from e2train.device.rtl_sim import missing_reason

    reason = missing_reason("icarus", ("gemm",))
    if reason:
        pytest.skip(reason)
    _assert_identical(_run(trained, fixed_point.backend_gemm("rtl", "icarus")),
                      _run(trained, fixed_point.backend_gemm("torch")))


def test_fixed_point_tracks_float(trained) -> None:
    problem, model = trained
    result = _run(trained, fixed_point.backend_gemm("torch"))
    with torch.no_grad():
        floats = model(problem.test_b)
    assert result.overflows == 0
    for x_fixed, x_float in zip(result.outputs, floats, strict=True):
        assert abs(nmse_db(x_fixed, problem.test_x) - nmse_db(x_float, problem.test_x)) < 0.5


def test_activations_use_the_full_16_bit_range() -> None:
    v = torch.tensor([[0.5, -1.0, 0.25], [0.0, 0.0, 0.0]], dtype=torch.float64)
    codes, scale = fixed_point.quantize_columns(v)
    assert codes.dtype == np.int16 and codes.shape == (3, 2)
    assert codes[:, 0].tolist() == [16384, -32767, 8192]  # half-to-even rounding of 16383.5
    assert codes[:, 1].tolist() == [0, 0, 0]
    np.testing.assert_allclose(codes[:, 0] * scale[0, 0], [0.5, -1.0, 0.25], atol=1 / 32767)


def test_energy_counts_two_products_per_layer(trained) -> None:
    profile = load_profile("fpga_zynq7020_prior")
    e8 = energy_per_signal(CFG.m, CFG.n, CFG.layers, CFG.test_size, profile, "int8x16")
    e32 = energy_per_signal(CFG.m, CFG.n, CFG.layers, CFG.test_size, profile, "fp32")
    run = _run(trained, fixed_point.backend_gemm("torch"))
    assert e8.macs == 2 * CFG.m * CFG.n * CFG.layers == run.macs // CFG.test_size
    assert 0 < e8.energy_j < e32.energy_j
    assert e8.energy_j == pytest.approx(e8.compute_j + e8.dram_j + e8.static_j)
