"""Training with the convs on a device (``e2train.backends.device_kernels``) is bit-identical to the
software path: the same losses in the trace and the same final weights, through the emulated device
and through the RTL in the simulator (Icarus in the default tier, Verilator opt-in with
``-m verilator``).  Also: the kernels one by one against ``TorchKernels``, the configuration rules
of device backends, the counters and simulated measurement a run records, and the CLI flags."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from e2train import quant
from e2train.backends.device_kernels import DeviceKernels, attach_kernels
from e2train.cli.main import cli
from e2train.config import ConfigError, TrainConfig, resolve_config
from e2train.device import DeviceError, EmulatedDevice
from e2train.device.rtl_sim import missing_reason
from e2train.energy.trace import read_trace
from e2train.kernels import reference
from e2train.kernels.driver_conv import as_codes, im2col
from e2train.models import build_model
from e2train.nn.qconv import TORCH_KERNELS
from e2train.run_dir import COUNTERS_FILE
from e2train.techniques.psg import PsgConfig
from e2train.train.in_simulator import train_in_simulator
from e2train.train.loop import Trainer

# PSG in "abs" mode with a threshold that recomputes a few percent of the entries, so that both the
# predicted and the recomputed path of psg_wgrad are exercised
BASE = {"model": "resnet8", "input_grad": "int16", "psg_threshold_mode": "abs", "psg_threshold": 1e-4}
EMULATE_RUN = {**BASE, "batch_size": 8, "iters": 3}  # SMD skips iteration 0 of seed 0
RTL_RUN = {**BASE, "batch_size": 2, "iters": 1, "smd": 0.0}  # one training step: ~1 min on Icarus
RTL_RUN_VERILATOR = {**BASE, "batch_size": 8, "iters": 3}

_software_runs: dict[str, tuple[pd.DataFrame, dict, dict]] = {}


def _config(overrides: dict, backend: str, out: Path, **extra: str) -> TrainConfig:
    return resolve_config("quickstart", overrides={**overrides, "backend": backend, "out": str(out), **extra})


def _result(run_dir: Path) -> tuple[pd.DataFrame, dict, dict]:
    trace = read_trace(run_dir)
    weights = torch.load(run_dir / "checkpoint.pt", weights_only=False)["model"]
    summary = json.loads((run_dir / "summary.json").read_text())
    return trace, weights, summary


def _software(overrides: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, dict, dict]:
    key = json.dumps(overrides, sort_keys=True)
    if key not in _software_runs:
        out = tmp_path_factory.mktemp("torch")
        Trainer(_config(overrides, "torch", out), out).run()
        _software_runs[key] = _result(out)
    return _software_runs[key]


def _assert_same_training(device_run: tuple, software_run: tuple) -> None:
    trace, weights, summary = device_run
    ref_trace, ref_weights, ref_summary = software_run
    for column in ("skipped", "loss", "psg_recompute_fraction_hw", "slu_executed_fraction", "energy_model_j"):
        np.testing.assert_array_equal(trace[column].to_numpy(), ref_trace[column].to_numpy(), err_msg=column)
    assert weights.keys() == ref_weights.keys()
    for name, tensor in ref_weights.items():
        assert torch.equal(weights[name], tensor), f"{name} differs from the software path"
    assert summary["test_accuracy"] == ref_summary["test_accuracy"]


def _assert_device_accounting(run_dir: Path, summary: dict, backend: str) -> None:
    trace = read_trace(run_dir)
    ran = trace[~trace["skipped"]]
    device = summary["device"]
    assert device["backend"] == backend
    assert device["iterations"] == len(ran) > 0
    assert device["cycles"] > 0 and device["kernel_calls"] > 0 and device["macs"] > 0
    assert device["cycles"] == device["gemm_cycles"] + device["psg_cycles"]
    assert device["cycles_per_s"] > 0 and device["wall_time_s"] > 0
    counters = pd.read_csv(run_dir / COUNTERS_FILE)
    assert counters["iteration"].tolist() == ran["iteration"].tolist()
    assert int(counters["cycles"].sum()) == device["cycles"]
    # PSG: the device's recomputed count is what the trainer's statistics say
    assert int(counters["recomputed"].sum()) > 0
    # the measured columns come from the device's simulated rails, and the summary says so
    assert summary["measured_simulated"] is True
    assert summary["power_source"] == "simulated-rails"
    assert summary["energy_measured_j"] is not None
    assert ran["energy_measured_j"].notna().all() and ran["energy_measured_j"].sum() > 0
    assert device["rails_dynamic_energy_j"] > 0


# ---------------------------------------------------------------------------------------------
# the whole trainer
# ---------------------------------------------------------------------------------------------


def test_training_on_the_emulated_device_equals_software(tmp_path: Path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "emulate"
    trainer = Trainer(_config(EMULATE_RUN, "emulate", out), out)
    assert all(conv.kernels is trainer.device_kernels for conv in trainer.model.qconvs())
    summary = trainer.run()
    result = _result(out)
    _assert_same_training(result, _software(EMULATE_RUN, tmp_path_factory))
    _assert_device_accounting(out, summary, "emulate")
    assert result[2]["device"] == summary["device"]
    assert 0 < result[0]["psg_recompute_fraction_hw"].dropna().max() < 1


def _rtl_training(sim: str, overrides: dict, tmp_path: Path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    reason = missing_reason(sim, ("gemm", "psg_wgrad"))
    if reason:
        pytest.skip(f"the RTL cannot be simulated on {sim} here: {reason}")
    out = tmp_path / sim
    reports = []
    summary = train_in_simulator(_config(overrides, "rtl", out, sim=sim), out, on_iteration=reports.append,
                                 poll_s=0.1)
    _assert_same_training(_result(out), _software(overrides, tmp_path_factory))
    _assert_device_accounting(out, summary, "rtl")
    assert summary["device"]["sim"] == sim and summary["device"]["device"] == f"rtl-{sim}"
    assert [r.iteration for r in reports] == list(range(1, overrides["iters"] + 1))  # relayed out of the simulator


def test_training_in_the_rtl_on_icarus_equals_software(tmp_path: Path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    _rtl_training("icarus", RTL_RUN, tmp_path, tmp_path_factory)


@pytest.mark.verilator
def test_training_in_the_rtl_on_verilator_equals_software(tmp_path: Path, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    _rtl_training("verilator", RTL_RUN_VERILATOR, tmp_path, tmp_path_factory)


# ---------------------------------------------------------------------------------------------
# the kernels one by one
# ---------------------------------------------------------------------------------------------

CONVS = [  # (B, Cin, H, W, Cout, k, stride, padding, x_signed)
    (3, 4, 7, 7, 5, 3, 1, 1, False),
    (2, 3, 8, 8, 6, 3, 2, 1, True),
    (2, 5, 7, 5, 4, 1, 2, 0, False),  # 1x1 shortcut, odd sizes
    (1, 64, 3, 3, 2, 3, 1, 1, False),  # forward bound >= 2**24: the software path uses float64
]


def _codes(shape: tuple[int, ...], lo: int, hi: int, gen: torch.Generator) -> torch.Tensor:
    return torch.randint(lo, hi + 1, shape, generator=gen).to(torch.float32)


@pytest.mark.parametrize("case", CONVS, ids=[f"conv{i}" for i in range(len(CONVS))])
def test_device_kernels_equal_torch_kernels(case: tuple) -> None:
    b, cin, h, w, cout, k, stride, padding, signed = case
    gen = torch.Generator().manual_seed(b * 100 + cin)
    x = _codes((b, cin, h, w), -127 if signed else 0, 127 if signed else 255, gen)
    wt = _codes((cout, cin, k, k), -127, 127, gen)
    if cin == 64:
        x.fill_(255)
        wt.fill_(127)
    kernels = DeviceKernels(EmulatedDevice(memory_bytes=8 << 20))

    y, ref_y = kernels.forward(x, wt, stride, padding, signed), TORCH_KERNELS.forward(x, wt, stride, padding, signed)
    assert y.dtype == ref_y.dtype and torch.equal(y, ref_y)
    if cin == 64:
        assert y.dtype == torch.float64

    g = _codes(tuple(ref_y.shape), -32767, 32767, gen)
    dx = kernels.input_grad(g, wt, x.shape, stride, padding)
    ref_dx = TORCH_KERNELS.input_grad(g, wt, x.shape, stride, padding)
    assert dx.dtype == ref_dx.dtype and dx.shape == x.shape and torch.equal(dx, ref_dx)

    grad_out = torch.randn(ref_y.shape, generator=gen)
    x_scale = torch.tensor(0.02)
    # a threshold at the median |16 Pr| recomputes about half of the entries
    g_q = quant.quantize_gradient(grad_out)
    cols = reference.msb4(im2col(as_codes(x, np.int8 if signed else np.uint8, "x"), k, stride, padding), signed)
    g_rows = g_q.codes.permute(1, 0, 2, 3).reshape(cout, -1).numpy().astype(np.int64)
    pred16 = np.abs(16 * (g_rows @ cols.T.astype(np.int64)))
    threshold = float(np.median(pred16)) * float(x_scale) * float(g_q.scale)
    cfg = PsgConfig(threshold, "abs")
    signs, decision, reduction = kernels.wgrad_psg(x, signed, x_scale, grad_out, wt.shape, stride, padding, cfg)
    ref_signs, ref_decision, ref_reduction = TORCH_KERNELS.wgrad_psg(x, signed, x_scale, grad_out, wt.shape,
                                                                     stride, padding, cfg)
    assert signs.dtype == ref_signs.dtype and torch.equal(signs, ref_signs)
    assert torch.equal(decision.signs, ref_decision.signs)
    assert torch.equal(decision.recompute, ref_decision.recompute)
    assert decision.tau == ref_decision.tau and reduction == ref_reduction
    assert 0 < int(decision.recompute.sum()) < decision.recompute.numel()
    record = kernels.end_iteration()
    assert record["gemm_calls"] == 2 and record["psg_calls"] == 1
    assert record["cycles"] > 0 and record["recomputed"] == int(decision.recompute.sum())


def test_device_kernels_refuse_a_relative_threshold() -> None:
    kernels = DeviceKernels(EmulatedDevice(memory_bytes=1 << 20))
    x = torch.ones(1, 2, 4, 4)
    with pytest.raises(ValueError, match="psg_threshold_mode='abs'"):
        kernels.wgrad_psg(x, False, torch.tensor(0.1), torch.ones(1, 3, 4, 4), torch.Size((3, 2, 3, 3)), 1, 1,
                          PsgConfig(0.05, "rel"))


def test_disabled_kernels_run_in_software_and_count_nothing() -> None:
    device = EmulatedDevice(memory_bytes=1 << 20)
    kernels = DeviceKernels(device, enabled=False)
    x = torch.ones(1, 2, 4, 4)
    w = torch.ones(3, 2, 3, 3)
    assert torch.equal(kernels.forward(x, w, 1, 1, False), TORCH_KERNELS.forward(x, w, 1, 1, False))
    assert device.runs == []
    kernels.begin_iteration(7)
    kernels.forward(x, w, 1, 1, False)
    record = kernels.end_iteration()
    assert record["iteration"] == 7 and record["kernel_calls"] == 1 and len(device.runs) == 1
    assert not kernels.enabled


# ---------------------------------------------------------------------------------------------
# configuration, wiring, CLI
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides,message", [
    ({"input_grad": "fp32"}, "needs input_grad=int16"),
    ({"precision": "fp32", "psg": False}, "needs precision=int8"),
    ({"psg_threshold_mode": "rel"}, "needs psg_threshold_mode=abs"),
    ({"sim": "xsim"}, "sim='xsim' is not allowed"),
    ({"backend": "fpga"}, "backend='fpga' is not allowed; choose one of: torch, emulate, rtl, pynq"),
])
def test_device_backends_are_validated(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_config("quickstart", overrides={**BASE, "backend": "emulate", **overrides})


def test_relative_threshold_stays_allowed_in_software() -> None:
    assert resolve_config("quickstart", overrides={"backend": "torch"}).psg_threshold_mode == "rel"


def test_rtl_backend_outside_a_simulation_says_how_to_run_it() -> None:
    cfg = resolve_config("quickstart", overrides={**BASE, "backend": "rtl"})
    with pytest.raises(DeviceError, match="train_in_simulator"):
        attach_kernels(build_model("resnet8", 10, 1), cfg)
    with pytest.raises(ValueError, match="runs backend 'rtl'"):
        train_in_simulator(resolve_config("quickstart", overrides={**BASE, "backend": "emulate"}), "unused")


def test_cli_trains_on_the_emulated_device(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    result = CliRunner().invoke(cli, [
        "train", "--out", str(out), "--model", "resnet8", "--iters", "2", "--batch-size", "4", "--smd", "0",
        "--input-grad", "int16", "--psg-threshold-mode", "abs", "--psg-threshold", "1e-4", "--backend", "emulate",
    ])
    assert result.exit_code == 0, result.output
    assert "busy cycles" in result.output and "SIMULATED" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["backend"] == "emulate" and summary["device"]["iterations"] == 2
    assert summary["measured_simulated"] is True


def test_cli_refuses_a_device_backend_with_a_relative_threshold(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["train", "--out", str(tmp_path / "r"), "--backend", "rtl", "--sim", "icarus",
                                      "--input-grad", "int16"])
    assert result.exit_code != 0 and "psg_threshold_mode=abs" in result.output
