"""`e2train kernel run` / `selftest`: files in, files out, clear errors."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from e2train.cli.main import cli
from e2train.kernels import reference


def test_gemm_run_writes_result_and_counters(tmp_path) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (4, 7)).astype(np.int8)
    b = rng.integers(-32768, 32768, (7, 3)).astype(np.int16)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    out = tmp_path / "c.npy"
    result = CliRunner().invoke(cli, ["kernel", "run", "gemm", "--a", str(tmp_path / "a.npy"), "--b",
                                      str(tmp_path / "b.npy"), "--backend", "torch", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(out), reference.gemm(a, b, "i8i16").c)
    assert json.loads(out.with_suffix(".json").read_text())["mode"] == "i8i16"


def test_psg_run_writes_signs_mask_counters(tmp_path) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (5, 20)).astype(np.uint8)
    g = rng.integers(-32768, 32768, (3, 20)).astype(np.int16)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "g.npy", g)
    result = CliRunner().invoke(cli, ["kernel", "run", "psg_wgrad", "--x", str(tmp_path / "x.npy"), "--g",
                                      str(tmp_path / "g.npy"), "--tau", "100000", "--out", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    ref = reference.psg_wgrad(x, g, 100000, False)
    assert np.array_equal(np.load(tmp_path / "o" / "signs.npy"), ref.signs)
    assert json.loads((tmp_path / "o" / "counters.json").read_text())["recomputed"] == ref.recomputed


def test_errors_are_one_line_messages(tmp_path) -> None:
    np.save(tmp_path / "a.npy", np.zeros((2, 3), np.int8))
    np.save(tmp_path / "b.npy", np.zeros((4, 2), np.int8))
    runner = CliRunner()
    bad_shape = runner.invoke(cli, ["kernel", "run", "gemm", "--a", str(tmp_path / "a.npy"), "--b",
                                    str(tmp_path / "b.npy"), "--out", str(tmp_path / "c.npy")])
    assert bad_shape.exit_code == 2 and "inner dimensions differ" in bad_shape.output
    missing = runner.invoke(cli, ["kernel", "run", "gemm", "--a", str(tmp_path / "nope.npy"), "--b",
                                  str(tmp_path / "b.npy"), "--out", str(tmp_path / "c.npy")])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_selftest_on_the_software_backends() -> None:
    for backend in ("reference", "torch", "emulate"):
        result = CliRunner().invoke(cli, ["kernel", "selftest", "--backend", backend])
        assert result.exit_code == 0, result.output
        assert "bit-exact" in result.output
