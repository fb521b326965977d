"""The kernel specs: each kernel's facts in one place, and each consistent with the sources it names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from e2train.kernels import reference, regmap
from e2train.kernels.spec import KERNEL_NAMES, KERNELS, KernelSpec

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", KERNEL_NAMES)
def test_a_spec_names_an_rtl_top_that_exists_and_buffers_that_are_64_bit_addresses(name: str) -> None:
    spec = KERNELS[name]
    source = (REPO / "fpga" / "rtl" / f"{spec.rtl_top}.v").read_text()
    assert re.search(rf"^module\s+{spec.rtl_top}\b", source, re.MULTILINE)
    assert all(spec.registers[b].width_bits == 64 and b.endswith("_ADDR") for b in spec.buffers)
    assert [r.name for r in spec.registers.registers if r.name.endswith("_ADDR")] == list(spec.buffers)


def test_the_hls_map_keeps_the_arguments_and_moves_only_the_counters() -> None:
    for spec in KERNELS.values():
        rtl = {r.name: r.offset for r in spec.registers.registers if r.name not in regmap.COUNTER_NAMES}
        hls = {r.name: r.offset for r in spec.hls_registers.registers if r.name not in regmap.COUNTER_NAMES}
        assert rtl == hls and spec.hls_registers["MACS"].offset == 0x88 != spec.registers["MACS"].offset


def test_a_spec_whose_buffers_are_not_registers_is_refused() -> None:
    with pytest.raises(ValueError, match="Q_ADDR"):
        KernelSpec("gemm", "gemm", "e2_gemm", regmap.GEMM, regmap.hls_register_map(regmap.GEMM), ("Q_ADDR",),
                   reference.gemm)
