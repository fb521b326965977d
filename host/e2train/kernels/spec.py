"""One ``KernelSpec`` per accelerator kernel: every fact about it that more than one layer needs.

The name a driver, a device, a manifest and the CLI use, and its short form; the top-level Verilog module the simulators
and synthesis build; the register map of the RTL and of the Vitis HLS IP (``regmap``, from which
``fpga/gen_regmap.py`` writes the RTL header and against which ``tests/hls`` checks the HLS pragmas);
the address registers of its buffers; the reference function every backend must equal bit for bit.
Code asks ``KERNELS[name]`` for these instead of restating them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from e2train.kernels import reference, regmap


@dataclass(frozen=True)
class KernelSpec:
    name: str
    short: str  # in port prefixes of the simulated device top and in trace columns ("psg_cycles")
    rtl_top: str  # top-level module in fpga/rtl (and the simulators' build target)
    registers: regmap.RegisterMap  # the RTL's AXI-Lite map (packed counters, cycle counters)
    hls_registers: regmap.RegisterMap  # the Vitis HLS IP's map (counters where HLS places outputs)
    buffers: tuple[str, ...]  # address registers of its operands and results, in argument order
    reference: Callable  # the definition: (operands...) -> GemmResult | PsgResult

    def __post_init__(self) -> None:
        missing = [b for b in self.buffers if b not in self.registers.names]
        if missing or self.registers.kernel != self.name:
            raise ValueError(f"kernel spec {self.name!r}: buffers {missing} are not registers of its map")


KERNELS: dict[str, KernelSpec] = {
    spec.name: spec
    for spec in (
        KernelSpec("gemm", "gemm", "e2_gemm", regmap.GEMM, regmap.hls_register_map(regmap.GEMM),
                   ("A_ADDR", "B_ADDR", "C_ADDR"), reference.gemm),
        KernelSpec("psg_wgrad", "psg", "e2_psg_wgrad", regmap.PSG_WGRAD, regmap.hls_register_map(regmap.PSG_WGRAD),
                   ("X_ADDR", "G_ADDR", "S_ADDR", "MASK_ADDR"), reference.psg_wgrad),
    )
}
KERNEL_NAMES = tuple(KERNELS)  # ("gemm", "psg_wgrad")
