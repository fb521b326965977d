"""Register maps of the accelerator kernels: the one description that RTL, HLS and drivers share.

Layout follows Vitis HLS ``s_axilite`` + ``ap_ctrl_hs`` conventions: control at 0x00, interrupt
registers at 0x04-0x0C, arguments from 0x10 (a 64-bit address takes a low and a high word and a
reserved word, as Vitis HLS lays it out), read-only status and performance counters from 0x80.
On a board the driver takes offsets from the overlay's ``.hwh`` where it has them; everywhere
else it takes them from here, never from literals in code.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# Bits of the control register at 0x00.
AP_START = 1 << 0
AP_DONE = 1 << 1  # clear-on-read
AP_IDLE = 1 << 2
AP_READY = 1 << 3
AUTO_RESTART = 1 << 7

# Bits of the STATUS register: why a run was refused or what happened during it.
STATUS_BAD_DIMS = 1 << 0  # a dimension is zero or above the kernel's maximum
STATUS_MISALIGNED = 1 << 1  # an address is not a multiple of ADDRESS_ALIGN
STATUS_BAD_MODE = 1 << 2  # unknown operand mode
STATUS_OVERFLOW = 1 << 3  # at least one output saturated (gemm)

WORD_MASK = 0xFFFFFFFF  # registers are read and written as 32-bit words
ADDRESS_ALIGN = 8  # bytes; the AXI4 master's data bus is 64 bits wide
STATUS_ERRORS = {  # the STATUS bits that mean a run was refused, and what each says
    STATUS_BAD_DIMS: "BAD_DIMS (a dimension is zero or above the kernel's maximum)",
    STATUS_MISALIGNED: f"MISALIGNED (an address is not a multiple of {ADDRESS_ALIGN})",
    STATUS_BAD_MODE: "BAD_MODE (unknown operand mode)",
}
MAX_DIM = 65535  # largest M, N, K (gemm) or N, K (psg_wgrad)
MAX_P = 1 << 20  # largest reduction length P of psg_wgrad


def decode_status(status: int) -> list[str]:
    """The refusal reasons set in a STATUS value (empty: the run was accepted)."""
    return [text for bit, text in STATUS_ERRORS.items() if status & bit]


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    width_bits: int = 32  # 64 = two consecutive words, low word first
    read_only: bool = False
    doc: str = ""

    @property
    def word_offsets(self) -> tuple[int, ...]:
        """Offsets of the register's 32-bit words, low word first."""
        return tuple(self.offset + 4 * word for word in range(self.width_bits // 32))

    def split(self, value: int) -> tuple[int, ...]:
        """`value` as the register's words (low word first), each masked to 32 bits."""
        return tuple((value >> (32 * word)) & WORD_MASK for word in range(self.width_bits // 32))

    @staticmethod
    def join(words: Iterable[int]) -> int:
        """The value of a register from its words, low word first (each masked to 32 bits)."""
        return sum((int(w) & WORD_MASK) << (32 * i) for i, w in enumerate(words))


@dataclass(frozen=True)
class RegisterMap:
    kernel: str
    registers: tuple[Register, ...]

    def __getitem__(self, name: str) -> Register:
        for reg in self.registers:
            if reg.name == name:
                return reg
        allowed = ", ".join(r.name for r in self.registers)
        raise KeyError(f"{self.kernel} has no register {name!r}; registers: {allowed}")

    @property
    def names(self) -> list[str]:
        return [r.name for r in self.registers]


_CONTROL = (
    Register("CTRL", 0x00, doc="bit0 ap_start, bit1 ap_done (clear on read), bit2 ap_idle, bit3 ap_ready"),
    Register("GIE", 0x04, doc="global interrupt enable"),
    Register("IER", 0x08, doc="IP interrupt enable"),
    Register("ISR", 0x0C, doc="IP interrupt status (toggle on write)"),
)

_COUNTERS = (
    Register("STATUS", 0x80, read_only=True, doc="error and overflow bits of the last run"),
    Register("CYCLES_BUSY", 0x84, read_only=True, doc="cycles from ap_start to ap_done"),
    Register("CYCLES_MEM_STALL", 0x88, read_only=True, doc="busy cycles waiting on AXI data"),
    Register("MACS", 0x8C, 64, read_only=True, doc="multiply-accumulates issued"),
    Register("BYTES_READ", 0x94, 64, read_only=True, doc="bytes read over the AXI4 master"),
    Register("BYTES_WRITTEN", 0x9C, 64, read_only=True, doc="bytes written over the AXI4 master"),
    Register("OVERFLOWS", 0xA4, read_only=True, doc="saturated outputs (gemm)"),
    Register("RECOMPUTED", 0xA8, read_only=True, doc="entries recomputed at full precision (psg)"),
)

GEMM = RegisterMap(
    "gemm",
    _CONTROL
    + (
        Register("A_ADDR", 0x10, 64, doc="A: M x K int8, row-major"),
        Register("B_ADDR", 0x1C, 64, doc="B: K x N int8/uint8/int16, row-major"),
        Register("C_ADDR", 0x28, 64, doc="C: M x N int32, row-major"),
        Register("M", 0x34),
        Register("N", 0x3C),
        Register("K", 0x44),
        Register("MODE", 0x4C, doc="0: int8 x int8, 1: int8 x uint8, 2: int8 x int16"),
    )
    + _COUNTERS,
)

PSG_WGRAD = RegisterMap(
    "psg_wgrad",
    _CONTROL
    + (
        Register("X_ADDR", 0x10, 64, doc="X: K x P activation codes int8/uint8, row-major"),
        Register("G_ADDR", 0x1C, 64, doc="G: N x P int16 gradient codes, row-major"),
        Register("S_ADDR", 0x28, 64, doc="signs: N x K int8, row-major"),
        Register("MASK_ADDR", 0x34, 64, doc="recompute mask: N x K uint8, row-major"),
        Register("N", 0x40),
        Register("K", 0x48),
        Register("P", 0x50),
        Register("TAU", 0x58, 64, doc="threshold on |16 * Pr|, unsigned (|16 Pr| reaches 2**43)"),
        Register("MODE", 0x64, doc="0: X signed int8, 1: X unsigned uint8"),
    )
    + _COUNTERS,
)

# Names of the registers both kernels place identically, in offset order.
CONTROL_NAMES = tuple(r.name for r in _CONTROL)
COUNTER_NAMES = tuple(r.name for r in _COUNTERS)  # STATUS and the performance counters (read-only)

# The Vitis HLS build of the kernels places its counters where HLS puts output ports (each value
# followed by its ap_vld word) and has no cycle counters: hls/src/*.cpp state these offsets in their
# INTERFACE pragmas, and tests/hls checks the pragmas against this table.
_HLS_COUNTERS = (
    Register("STATUS", 0x80, read_only=True, doc="error and overflow bits of the last run"),
    Register("MACS", 0x88, 64, read_only=True, doc="multiply-accumulates issued"),
    Register("BYTES_READ", 0x94, 64, read_only=True, doc="bytes read over the AXI4 master"),
    Register("BYTES_WRITTEN", 0xA0, 64, read_only=True, doc="bytes written over the AXI4 master"),
    Register("OVERFLOWS", 0xAC, read_only=True, doc="saturated outputs (gemm)"),
    Register("RECOMPUTED", 0xB4, read_only=True, doc="entries recomputed at full precision (psg)"),
)

HLS_COUNTER_NAMES = tuple(r.name for r in _HLS_COUNTERS)  # what the HLS IP (and its C simulation) counts


def hls_register_map(rtl: RegisterMap) -> RegisterMap:
    """The register map of a kernel's HLS IP: the RTL's control and arguments, HLS counter offsets."""
    arguments = tuple(r for r in rtl.registers if r.name not in COUNTER_NAMES)
    return RegisterMap(rtl.kernel, arguments + _HLS_COUNTERS)


GEMM_MODE_CODES = {"i8i8": 0, "i8u8": 1, "i8i16": 2}
PSG_MODE_CODES = {"signed": 0, "unsigned": 1}
