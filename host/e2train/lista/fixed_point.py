"""Fixed-point inference of a trained CP-family network (LISTA-CP, LISTA-CPSS, ALISTA) on the gemm kernel.

Each layer is x_{k+1} = shrink(x_k + W_k^T (b - A x_k)): two matrix-vector products (for a batch, two
gemm runs) and a threshold.  The products run on the accelerator's gemm kernel in mode ``i8i16``:

- weights A (m x n) and W_k^T (n x m): signed 8-bit codes, one scale per row (``quant.quantize_weight``);
- activations x_k and the residual r_k, one column per signal: signed 16-bit codes with one scale per
  signal (``max|v| / 32767``, the project's 16-bit format and rounding rule, ``quant.quantize_codes``);
- the kernel returns exact int32 sums (saturated, with an overflow count); row and column scales, the
  residual, the addition and the threshold stay on the host in float64.

Why this split: the kernel's contract is exact integer arithmetic, so every backend (torch, reference,
csim, rtl, emulate, pynq) returns the same integers, and the host's float64 work on identical integers
is identical: the recovered signals are bit-identical across backends (tested).  The sums fit int32 for
K <= 516 (127 x 32767 x K < 2^31); larger n may saturate, which ``overflows`` reports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from e2train import quant
from e2train.kernels.reference import GemmResult
from e2train.lista.models import CoupledStep
from e2train.lista.shrink import shrink_ss, soft_threshold

Gemm = Callable[[np.ndarray, np.ndarray, str], GemmResult]


@dataclass(frozen=True)
class QuantizedMatrix:
    codes: np.ndarray  # (M, K) int8
    scale: np.ndarray  # (M, 1) float64: value = codes * scale


@dataclass(frozen=True)
class QuantizedLayer:
    w_t: QuantizedMatrix  # W_k^T (n, m), any learned step folded in
    theta: float
    fraction: float  # p_k of support selection; 0 = plain soft threshold


@dataclass(frozen=True)
class QuantizedNetwork:
    a: QuantizedMatrix  # (m, n)
    layers: list[QuantizedLayer]


@dataclass
class FixedPointResult:
    outputs: list[torch.Tensor]  # x_1 .. x_L, each (B, n) float64
    kernel_calls: int = 0
    macs: int = 0
    overflows: int = 0
    counters: list[dict[str, int]] = field(default_factory=list)


def quantize_matrix(w: torch.Tensor) -> QuantizedMatrix:
    q = quant.quantize_weight(w.detach().double())  # per-row int8 codes
    return QuantizedMatrix(q.codes.numpy().astype(np.int8), q.scale.numpy().astype(np.float64))


@torch.no_grad()
def quantize_network(model: CoupledStep) -> QuantizedNetwork:
    """The int8 weights of a trained network; thresholds and p_k as trained (host-side floats)."""
    layers = [QuantizedLayer(quantize_matrix(model.step_weight(k).T), float(model.theta[k]), model.fraction(k))
              for k in range(model.layers)]
    return QuantizedNetwork(quantize_matrix(model.a), layers)


def quantize_columns(v: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Rows of v (B, K) as int16 columns (K, B) with one scale per signal (1, B)."""
    scale = v.abs().amax(dim=1, keepdim=True).clamp_min(1e-300) / quant.GRAD_QMAX  # (B, 1)
    codes = quant.quantize_codes(v, scale, -quant.GRAD_QMAX, quant.GRAD_QMAX)  # (B, K)
    return codes.numpy().astype(np.int16).T.copy(), scale.numpy().T


def matvec(gemm: Gemm, w: QuantizedMatrix, v: torch.Tensor, result: FixedPointResult) -> torch.Tensor:
    """v (B, K) -> v W^T (B, M) with W's product on the kernel; counts the run in `result`."""
    codes, v_scale = quantize_columns(v)
    run = gemm(w.codes, codes, "i8i16")  # (M, B) int32
    result.kernel_calls += 1
    result.macs += run.macs
    result.overflows += run.overflows
    result.counters.append(dict(run.counters))
    return torch.from_numpy(run.c.astype(np.float64) * w.scale * v_scale).T  # (B, M)


def run_fixed_point(net: QuantizedNetwork, b: torch.Tensor, gemm: Gemm) -> FixedPointResult:
    """Every layer's output for measurements b (B, m), the products on `gemm` (a backend's function)."""
    b = b.double()
    x = b.new_zeros(b.shape[0], net.a.codes.shape[1])  # (B, n)
    result = FixedPointResult([])
    for layer in net.layers:
        residual = b - matvec(gemm, net.a, x, result)  # (B, m)
        v = x + matvec(gemm, layer.w_t, residual, result)  # (B, n)
        x = shrink_ss(v, layer.theta, layer.fraction) if layer.fraction > 0 else soft_threshold(v, layer.theta)
        result.outputs.append(x)
    return result


def backend_gemm(name: str, sim: str = "icarus") -> Gemm:
    """The gemm function of a kernel backend by name (rtl runs on `sim`)."""
    from e2train.backends import get_backend

    module = get_backend(name)
    if name == "rtl":
        return lambda a, b, mode: module.gemm(a, b, mode, sim=sim)
    return module.gemm  # type: ignore[no-any-return]
