"""``e2train kernel``: run an accelerator kernel on .npy files through any backend, or self-test one.

    e2train kernel run gemm --a A.npy --b B.npy --backend csim --out C.npy
    e2train kernel run psg_wgrad --x X.npy --g G.npy --tau 4096 --backend rtl --sim icarus --out outdir
    e2train kernel selftest --backend rtl
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import numpy as np

from e2train.backends import BACKEND_MODULES, get_backend
from e2train.cli.user_error import UserError
from e2train.errors import E2TrainError
from e2train.kernels import reference
from e2train.kernels.reference import GEMM_MODES
from e2train.kernels.toolchain import SIMULATORS


def _load(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UserError(f"{what}: cannot read {path} as a .npy array ({err})") from err


def _backend(name: str, sim: str):
    """The backend module, with the simulator chosen for rtl; tool problems become one-line errors."""
    try:
        module = get_backend(name)
    except (E2TrainError, ImportError) as err:
        raise UserError(str(err)) from err
    if name != "rtl":
        return module.gemm, module.psg_wgrad
    return (lambda a, b, mode: module.gemm(a, b, mode, sim=sim),
            lambda x, g, tau, signed: module.psg_wgrad(x, g, tau, signed, sim=sim))


def _call(fn, *args):
    try:
        return fn(*args)
    except E2TrainError as err:  # bad operands, a missing tool, no board
        raise UserError(str(err)) from err


backend_option = click.option("--backend", type=click.Choice(sorted(BACKEND_MODULES)), default="torch",
                              show_default=True, help="Where the kernel runs.")
sim_option = click.option("--sim", type=click.Choice(SIMULATORS), default="icarus", show_default=True,
                          help="RTL simulator (backend rtl).")


@click.group()
def kernel() -> None:
    """Run the accelerator kernels (gemm, psg_wgrad) through any backend."""


@kernel.group("run")
def run() -> None:
    """Run one kernel on .npy operands."""


@run.command("gemm")
@click.option("--a", "a_path", required=True, help="A: M x K int8 .npy")
@click.option("--b", "b_path", required=True, help="B: K x N int8 / uint8 / int16 .npy")
@click.option("--mode", type=click.Choice(sorted(GEMM_MODES)), help="Operand mode (default: from B's dtype).")
@backend_option
@sim_option
@click.option("--out", required=True, help="C: M x N int32 .npy; counters go to <out>.json")
def run_gemm(a_path, b_path, mode, backend, sim, out) -> None:
    """C = A x B with exact accumulation, int32 saturation and an overflow count.

    Example: e2train kernel run gemm --a A.npy --b B.npy --backend csim --out C.npy
    """
    a, b = _load(a_path, "--a"), _load(b_path, "--b")
    mode = mode or {np.dtype(np.int8): "i8i8", np.dtype(np.uint8): "i8u8", np.dtype(np.int16): "i8i16"}.get(b.dtype)
    if mode is None:
        raise UserError(f"--b has dtype {b.dtype}; allowed: int8, uint8, int16")
    gemm, _ = _backend(backend, sim)
    result = _call(gemm, a, b, mode)
    np.save(out, result.c)
    info = {"backend": backend, "mode": mode, "overflows": result.overflows, "macs": result.macs,
            "counters": result.counters}
    Path(out).with_suffix(".json").write_text(json.dumps(info, indent=2))
    click.echo(f"C {result.c.shape} int32 -> {out}; overflows {result.overflows}; counters {result.counters}")


@run.command("psg_wgrad")
@click.option("--x", "x_path", required=True, help="X: K x P activation codes .npy (int8 signed or uint8)")
@click.option("--g", "g_path", required=True, help="G: N x P int16 gradient codes .npy")
@click.option("--tau", type=click.IntRange(0, 2**64 - 1), required=True, help="Threshold on |16 * Pr|.")
@backend_option
@sim_option
@click.option("--out", required=True, type=click.Path(file_okay=False),
              help="Folder for signs.npy, mask.npy and counters.json")
def run_psg(x_path, g_path, tau, backend, sim, out) -> None:
    """Predictive sign weight gradient: signs (N x K), recompute mask and counters.

    Example: e2train kernel run psg_wgrad --x X.npy --g G.npy --tau 4096 --backend torch --out psg/
    """
    x, g = _load(x_path, "--x"), _load(g_path, "--g")
    if x.dtype not in (np.int8, np.uint8):
        raise UserError(f"--x has dtype {x.dtype}; allowed: int8 (signed codes), uint8 (unsigned)")
    _, psg = _backend(backend, sim)
    result = _call(psg, x, g, tau, x.dtype == np.int8)
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "signs.npy", result.signs)
    np.save(folder / "mask.npy", result.recompute_mask)
    info = {"backend": backend, "tau": tau, "recomputed": result.recomputed, "macs_predict": result.macs_predict,
            "macs_full": result.macs_full, "counters": result.counters}
    (folder / "counters.json").write_text(json.dumps(info, indent=2))
    click.echo(f"signs {result.signs.shape}, recomputed {result.recomputed} entries -> {folder}")


def selftest_cases(seed: int = 0) -> list[tuple[str, tuple]]:
    """Small cases with edges: size 1, odd sizes, extreme codes, zeros, a saturating product."""
    rng = np.random.default_rng(seed)
    cases: list[tuple[str, tuple]] = []
    for m, k, n in ((1, 1, 1), (3, 17, 5), (9, 64, 10)):
        cases.append(("gemm", (rng.integers(-128, 128, (m, k)).astype(np.int8),
                               rng.integers(0, 256, (k, n)).astype(np.uint8), "i8u8")))
        cases.append(("gemm", (rng.integers(-128, 128, (m, k)).astype(np.int8),
                               rng.integers(-32768, 32768, (k, n)).astype(np.int16), "i8i16")))
    cases.append(("gemm", (np.full((2, 3), -128, np.int8), np.full((3, 2), 127, np.int8), "i8i8")))
    cases.append(("gemm", (np.zeros((4, 4), np.int8), np.zeros((4, 4), np.int8), "i8i8")))
    cases.append(("gemm", (np.full((1, 2000), -128, np.int8), np.full((2000, 1), -32768, np.int16), "i8i16")))
    for n, k, p in ((1, 1, 1), (5, 9, 33)):
        x = rng.integers(0, 256, (k, p)).astype(np.uint8)
        g = rng.integers(-32768, 32768, (n, p)).astype(np.int16)
        for tau in (0, 2**20, 2**40):
            cases.append(("psg_wgrad", (x, g, tau, False)))
        cases.append(("psg_wgrad", (rng.integers(-128, 128, (k, p)).astype(np.int8), g, 2**22, True)))
    return cases


def _same(kernel_name: str, got, ref) -> bool:
    if kernel_name == "gemm":
        return np.array_equal(got.c, ref.c) and got.overflows == ref.overflows
    return np.array_equal(got.signs, ref.signs) and np.array_equal(got.recompute_mask, ref.recompute_mask)


@kernel.command()
@backend_option
@sim_option
def selftest(backend: str, sim: str) -> None:
    """Check an installation: run edge cases of both kernels on a backend against the reference.

    Example: e2train kernel selftest --backend rtl --sim icarus
    """
    gemm, psg = _backend(backend, sim)
    failures = 0
    cases = selftest_cases()
    for name, args in cases:
        got = _call(gemm if name == "gemm" else psg, *args)
        ref = (reference.gemm if name == "gemm" else reference.psg_wgrad)(*args)
        ok = _same(name, got, ref)
        failures += not ok
        shape = "x".join(str(s) for s in args[0].shape) + "," + "x".join(str(s) for s in args[1].shape)
        click.echo(f"{'ok  ' if ok else 'FAIL'} {name:9s} {shape}")
    if failures:
        raise UserError(f"{failures} of {len(cases)} cases differ from the reference on {backend}")
    click.echo(f"all {len(cases)} cases bit-exact with the reference on backend {backend}")
