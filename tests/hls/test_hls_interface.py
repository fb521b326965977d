"""The HLS sources declare the register map of host/e2train/kernels/regmap.py.

Why: Vitis HLS generates the control registers from the `#pragma HLS INTERFACE` lines and the
argument types, and the driver programs the IP from regmap.py; a drift between the two would only
show on a board.  These tests read the C++ text: constants, argument offsets and widths, and the
layout of the counter outputs (which cannot follow regmap.py exactly, see hls/README.md).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from e2train.kernels import regmap
from e2train.kernels.spec import KERNELS

HLS_DIR = Path(__file__).resolve().parents[2] / "hls"
HEADER = (HLS_DIR / "include" / "e2train_kernels.h").read_text()
SOURCES = {"gemm": HLS_DIR / "src" / "gemm.cpp", "psg_wgrad": HLS_DIR / "src" / "psg_wgrad.cpp"}
MAPS = {"gemm": regmap.GEMM, "psg_wgrad": regmap.PSG_WGRAD}

# Where the HLS IP puts its outputs (data word(s) followed by an ap_vld word): STATUS keeps 0x80.
# the HLS IP's counter offsets as the drivers use them (a board whose .hwh lists no registers)
HLS_OUTPUT_OFFSETS = {r.name: r.offset for r in KERNELS["gemm"].hls_registers.registers if r.read_only}


def header_define(name: str) -> int:
    match = re.search(rf"#define {name} \(?(\d+)u?(?: << (\d+))?\)?", HEADER)
    assert match, f"{name} not defined in e2train_kernels.h"
    value = int(match.group(1))
    return value << int(match.group(2)) if match.group(2) else value


def axilite_offsets(kernel: str) -> dict[str, int]:
    text = SOURCES[kernel].read_text()
    pattern = r"#pragma HLS INTERFACE mode\s*=\s*s_axilite port\s*=\s*(\w+) offset\s*=\s*(0x[0-9A-Fa-f]+)"
    return {port.upper(): int(offset, 16) for port, offset in re.findall(pattern, text)}


def argument_widths(kernel: str) -> dict[str, int]:
    """Bit width of each scalar argument of the top function, from its declaration in the header."""
    decl = re.search(rf"void {kernel}\((.*?)\);", HEADER, re.DOTALL)
    assert decl, f"{kernel} not declared in e2train_kernels.h"
    widths = {}
    for param in decl.group(1).split(","):
        match = re.fullmatch(r"\s*u?int(\d+)_t\s+(\w+)\s*", param)
        if match:  # scalars only; pointers (memory ports and outputs) do not match
            widths[match.group(2).upper()] = int(match.group(1))
    return widths


def register_bytes(width_bits: int) -> int:
    """Bytes Vitis HLS gives an s_axilite port: its data words plus one word, reserved (a 64-bit
    input, a 32-bit input's 0x..4 gap) or ap_vld (an output)."""
    return 4 * (width_bits // 32) + 4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("E2T_ADDRESS_ALIGN", regmap.ADDRESS_ALIGN),
        ("E2T_MAX_DIM", regmap.MAX_DIM),
        ("E2T_MAX_P", regmap.MAX_P),
        ("E2T_STATUS_BAD_DIMS", regmap.STATUS_BAD_DIMS),
        ("E2T_STATUS_MISALIGNED", regmap.STATUS_MISALIGNED),
        ("E2T_STATUS_BAD_MODE", regmap.STATUS_BAD_MODE),
        ("E2T_STATUS_OVERFLOW", regmap.STATUS_OVERFLOW),
        ("E2T_GEMM_MODE_I8I8", regmap.GEMM_MODE_CODES["i8i8"]),
        ("E2T_GEMM_MODE_I8U8", regmap.GEMM_MODE_CODES["i8u8"]),
        ("E2T_GEMM_MODE_I8I16", regmap.GEMM_MODE_CODES["i8i16"]),
        ("E2T_PSG_MODE_SIGNED", regmap.PSG_MODE_CODES["signed"]),
        ("E2T_PSG_MODE_UNSIGNED", regmap.PSG_MODE_CODES["unsigned"]),
    ],
)
def test_header_constants_equal_regmap(name: str, value: int) -> None:
    assert header_define(name) == value


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_argument_offsets_and_widths_equal_regmap(kernel: str) -> None:
    offsets, widths = axilite_offsets(kernel), argument_widths(kernel)
    arguments = [r for r in MAPS[kernel].registers if 0x10 <= r.offset < 0x80]
    assert {r.name for r in arguments} == set(widths), "every argument register is a kernel argument"
    for reg in arguments:
        assert offsets[reg.name] == reg.offset, reg.name
        assert widths[reg.name] == reg.width_bits, reg.name


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_register_layout_is_one_vitis_can_generate(kernel: str) -> None:
    """No two ports share a word, given the reserved/ap_vld word Vitis adds to each."""
    offsets = axilite_offsets(kernel)
    widths = argument_widths(kernel) | {"STATUS": 32, "OVERFLOWS": 32, "RECOMPUTED": 32}
    widths |= {"MACS": 64, "BYTES_READ": 64, "BYTES_WRITTEN": 64}
    spans = sorted((offsets[name], offsets[name] + register_bytes(widths[name]), name) for name in offsets)
    assert spans[0][0] >= 0x10, "0x00-0x0C belong to ap_ctrl_hs and the interrupt registers"
    for (_, end, name), (start, _, following) in itertools.pairwise(spans):
        assert end <= start, f"{name} overlaps {following}"
    assert all(offset % 4 == 0 for offset in offsets.values())


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_counter_outputs_follow_the_documented_layout(kernel: str) -> None:
    offsets = axilite_offsets(kernel)
    hls_map = {r.name: r.offset for r in KERNELS[kernel].hls_registers.registers if r.read_only}
    assert {name: offsets[name] for name in hls_map} == hls_map  # the pragmas equal the drivers' HLS map
    assert offsets["STATUS"] == MAPS[kernel]["STATUS"].offset
    readme = (HLS_DIR / "README.md").read_text()
    for name, offset in HLS_OUTPUT_OFFSETS.items():
        assert re.search(rf"\| {name} \| 0x{offset:02X} ", readme), (
            f"README table lacks {name} at {offset:#x}"
        )


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_readme_argument_table_equals_regmap(kernel: str) -> None:
    """hls/README.md's argument table (kernel | names | offsets | width) lists every argument
    register of regmap.py with its offset and width, and nothing else."""
    readme = (HLS_DIR / "README.md").read_text()
    rows = re.findall(rf"^\| {kernel} \| ([A-Z_, ]+) \| ([0-9xA-Fa-f, ]+) \| (\d+) \|$", readme, re.MULTILINE)
    documented = {}
    for names, offsets, width in rows:
        name_list, offset_list = names.split(", "), offsets.split(", ")
        assert len(name_list) == len(offset_list), f"README row {names!r} has {len(offset_list)} offsets"
        for name, offset in zip(name_list, offset_list, strict=True):
            documented[name] = (int(offset, 16), int(width))
    arguments = {r.name: (r.offset, r.width_bits) for r in MAPS[kernel].registers if 0x10 <= r.offset < 0x80}
    assert documented == arguments


def test_tau_is_a_64_bit_argument_below_mode() -> None:
    """The contract change this guards: TAU 0x58 (low) / 0x5C (high), MODE 0x64."""
    assert regmap.PSG_WGRAD["TAU"].offset == 0x58 and regmap.PSG_WGRAD["TAU"].width_bits == 64
    assert axilite_offsets("psg_wgrad")["TAU"] == 0x58 and argument_widths("psg_wgrad")["TAU"] == 64
    assert axilite_offsets("psg_wgrad")["MODE"] == regmap.PSG_WGRAD["MODE"].offset == 0x64
    # The C ABI of the csim library passes tau as 64 bits as well.
    capi = (HLS_DIR / "csim" / "capi.cpp").read_text()
    assert re.search(r"e2t_psg_wgrad\([^)]*uint64_t tau", capi)


@pytest.mark.parametrize("kernel", sorted(SOURCES))
def test_control_is_ap_ctrl_hs_over_s_axilite(kernel: str) -> None:
    text = SOURCES[kernel].read_text()
    assert re.search(r"mode\s*=\s*ap_ctrl_hs port\s*=\s*return", text)
    assert re.search(r"mode\s*=\s*s_axilite port\s*=\s*return bundle\s*=\s*control", text)
    assert len(re.findall(r"mode\s*=\s*m_axi port\s*=\s*mem_\w+ offset\s*=\s*off", text)) == 2
