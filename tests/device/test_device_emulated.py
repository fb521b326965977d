"""The emulated device at its registers: the handshake, argument checks and counters a driver
relies on, the way the RTL implements them (fpga/rtl/e2_ctrl.v)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from e2train.device import DeviceBusy, DeviceError, DeviceMemoryError, DeviceTimeout, EmulatedDevice
from e2train.kernels import reference, regmap


def _program_gemm(dev: EmulatedDevice, a: np.ndarray, b: np.ndarray, mode: str = "i8i8", **override: int):
    """Operands into device memory and the registers written, as a driver would (no start)."""
    m, k = a.shape
    n = b.shape[1]
    a_buf, b_buf, c_buf = (
        dev.allocate(a.shape, a.dtype),
        dev.allocate(b.shape, b.dtype),
        dev.allocate((m, n), np.int32),
    )
    a_buf[:] = a
    b_buf[:] = b
    a_buf.flush()
    b_buf.flush()
    kern = dev.kernel("gemm")
    args = {
        "A_ADDR": a_buf.device_address,
        "B_ADDR": b_buf.device_address,
        "C_ADDR": c_buf.device_address,
        "M": m,
        "N": n,
        "K": k,
        "MODE": regmap.GEMM_MODE_CODES[mode],
    }
    args.update(override)
    kern.write_many(args)
    kern.keep_alive = (a_buf, b_buf)  # type: ignore[attr-defined]  # freed buffers would be reused
    return kern, c_buf


def test_idle_after_reset_and_done_is_clear_on_read(emulated: EmulatedDevice) -> None:
    rng = np.random.default_rng(0)
    a = rng.integers(-128, 128, (3, 4)).astype(np.int8)
    b = rng.integers(-128, 128, (4, 5)).astype(np.int8)
    kern, c_buf = _program_gemm(emulated, a, b)
    assert kern.read("CTRL") == regmap.AP_IDLE
    kern.write("CTRL", regmap.AP_START)
    ctrl = kern.read("CTRL")
    assert ctrl & regmap.AP_DONE and ctrl & regmap.AP_READY and ctrl & regmap.AP_IDLE
    assert not ctrl & regmap.AP_START  # cleared by completion
    assert kern.read("CTRL") == regmap.AP_IDLE  # done and ready cleared by the first read
    c_buf.invalidate()
    np.testing.assert_array_equal(c_buf, reference.gemm(a, b).c)


def test_interrupt_registers_toggle_on_write(emulated: EmulatedDevice) -> None:
    a = np.ones((2, 2), np.int8)
    kern, _ = _program_gemm(emulated, a, a)
    kern.write("GIE", 1)
    kern.write("IER", 1)
    kern.start()
    assert kern.read("ISR") == 1 and emulated.irq("gemm")
    kern.write("ISR", 1)  # toggle: acknowledge
    assert kern.read("ISR") == 0 and not emulated.irq("gemm")


def test_64bit_registers_are_two_words_low_first(emulated: EmulatedDevice) -> None:
    kern = emulated.kernel("psg_wgrad")
    kern.write("TAU", 0x1234_5678_9ABC_DEF0)
    tau = regmap.PSG_WGRAD["TAU"]
    assert emulated._read_word("psg_wgrad", tau.offset) == 0x9ABC_DEF0
    assert emulated._read_word("psg_wgrad", tau.offset + 4) == 0x1234_5678
    assert kern.read("TAU") == 0x1234_5678_9ABC_DEF0


def test_reserved_words_ignore_writes_and_counters_are_read_only(emulated: EmulatedDevice) -> None:
    covered = {r.offset + 4 * w for r in regmap.GEMM.registers for w in range(r.width_bits // 32)}
    for offset in range(0x10, 0x80, 4):
        if offset not in covered:
            emulated._write_word("gemm", offset, 0xFFFF_FFFF)
            assert emulated._read_word("gemm", offset) == 0
    emulated._write_word("gemm", regmap.GEMM["MACS"].offset, 5)
    assert emulated.kernel("gemm").read("MACS") == 0
    with pytest.raises(ValueError, match="read-only"):
        emulated.kernel("gemm").write("MACS", 1)


@pytest.mark.parametrize("value", [-1, 2**32, 1.5])
def test_register_values_must_fit(emulated: EmulatedDevice, value: float) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        emulated.kernel("gemm").write("M", value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("override", "bits"),
    [
        ({"M": 0}, regmap.STATUS_BAD_DIMS),
        ({"K": regmap.MAX_DIM + 1}, regmap.STATUS_BAD_DIMS),
        ({"MODE": 3}, regmap.STATUS_BAD_MODE),
        ({"MODE": 3, "N": 0}, regmap.STATUS_BAD_MODE | regmap.STATUS_BAD_DIMS),
    ],
)
def test_gemm_refuses_bad_arguments_like_the_rtl(emulated: EmulatedDevice, override: dict, bits: int) -> None:
    a = np.ones((2, 3), np.int8)
    b = np.ones((3, 2), np.int8)
    kern, c_buf = _program_gemm(emulated, a, b, **override)
    sentinel = c_buf.copy()
    counters = kern.run()
    assert counters["STATUS"] == bits
    assert counters["MACS"] == counters["BYTES_READ"] == counters["BYTES_WRITTEN"] == 0
    c_buf.invalidate()
    np.testing.assert_array_equal(c_buf, sentinel)  # nothing written


def test_misaligned_address_sets_its_bit(emulated: EmulatedDevice) -> None:
    a = np.ones((2, 3), np.int8)
    kern, _ = _program_gemm(emulated, a, a.T.copy())
    kern.write("B_ADDR", kern.read("B_ADDR") + 4)
    assert kern.run()["STATUS"] == regmap.STATUS_MISALIGNED


def test_psg_refuses_p_above_max_p_and_bad_mode(emulated: EmulatedDevice) -> None:
    kern = emulated.kernel("psg_wgrad")
    base = emulated.allocate((64,), np.uint8).device_address
    kern.write_many(
        {
            "X_ADDR": base,
            "G_ADDR": base,
            "S_ADDR": base,
            "MASK_ADDR": base,
            "N": 1,
            "K": 1,
            "P": regmap.MAX_P + 1,
            "TAU": 0,
            "MODE": 2,
        }
    )
    assert kern.run()["STATUS"] == regmap.STATUS_BAD_DIMS | regmap.STATUS_BAD_MODE


def test_overflow_sets_status_bit_and_counter(emulated: EmulatedDevice) -> None:
    k = 600  # 600 * 127 * 32767 > INT32_MAX
    a = np.full((2, k), 127, np.int8)
    b = np.full((k, 3), 32767, np.int16)
    b[:, 0] = 1
    kern, c_buf = _program_gemm(emulated, a, b, "i8i16")
    counters = kern.run()
    assert counters["STATUS"] == regmap.STATUS_OVERFLOW
    assert counters["OVERFLOWS"] == 4
    c_buf.invalidate()
    assert (c_buf[:, 1:] == np.iinfo(np.int32).max).all()


def test_counters_come_from_the_cycle_model(emulated: EmulatedDevice) -> None:
    a = np.ones((16, 32), np.int8)
    b = np.ones((32, 8), np.int8)
    kern, _ = _program_gemm(emulated, a, b)
    counters = kern.run()
    cost = emulated.cycle_model.gemm(16, 8, 32, 1)
    assert counters["MACS"] == 16 * 8 * 32
    assert counters["CYCLES_BUSY"] == cost.cycles_busy
    assert counters["BYTES_WRITTEN"] == 16 * 8 * 4
    assert counters["BYTES_READ"] >= a.nbytes + b.nbytes
    assert counters["CYCLES_BUSY"] * 64 >= counters["MACS"]  # an 8x8 array cannot beat 64 MACs/cycle


def test_hang_raises_timeout_not_forever(emulated: EmulatedDevice) -> None:
    a = np.ones((2, 2), np.int8)
    kern, _ = _program_gemm(emulated, a, a)
    emulated.inject_fault("gemm", "hang")
    kern.start()
    t0 = time.monotonic()
    with pytest.raises(DeviceTimeout, match="did not finish within 0.05 s") as info:
        kern.wait(0.05)
    assert time.monotonic() - t0 < 1.0
    assert info.value.ctrl is not None and not info.value.ctrl & regmap.AP_IDLE
    with pytest.raises(DeviceBusy, match="busy"):
        kern.start()
    emulated.reset("gemm")
    emulated.inject_fault("gemm", None)
    assert kern.read("CTRL") == regmap.AP_IDLE


def test_latency_is_waited_for(emulated: EmulatedDevice) -> None:
    a = np.ones((2, 2), np.int8)
    kern, c_buf = _program_gemm(emulated, a, a)
    emulated.inject_fault("gemm", "latency", seconds=0.03)
    kern.start()
    assert not kern.read("CTRL") & regmap.AP_DONE
    t0 = time.monotonic()
    kern.wait(2.0)
    assert time.monotonic() - t0 >= 0.02
    c_buf.invalidate()
    np.testing.assert_array_equal(c_buf, np.full((2, 2), 2))


def test_wait_without_start_is_an_error_not_a_timeout(emulated: EmulatedDevice) -> None:
    with pytest.raises(DeviceError, match="call start"):
        emulated.kernel("gemm").wait(5.0)


def test_address_outside_memory_is_refused(emulated: EmulatedDevice) -> None:
    a = np.ones((2, 2), np.int8)
    kern, _ = _program_gemm(emulated, a, a)
    kern.write("C_ADDR", 0x8)  # aligned, but not device memory (a driver passing an offset)
    with pytest.raises(DeviceMemoryError, match="outside device memory"):
        kern.start()


def test_non_coherent_memory_needs_flush_and_invalidate(emulated: EmulatedDevice) -> None:
    """A driver that forgets flush computes on stale operands; one that forgets invalidate reads
    stale results: both visible here, as on a board with caches."""
    a = np.full((2, 2), 3, np.int8)
    kern, c_buf = _program_gemm(emulated, a, a)
    kern.run()
    assert (c_buf == 0).all()  # not invalidated yet: the host still sees its own (zero) bytes
    c_buf.invalidate()
    assert (c_buf == 18).all()
    # new operands written by the host but not flushed: the kernel still sees the old ones
    a_buf = emulated.allocate((2, 2), np.int8)  # like pynq.allocate: contents undefined until written
    a_buf[:] = 0
    a_buf.flush()
    a_buf[:] = 1
    kern.write_many({"A_ADDR": a_buf.device_address, "B_ADDR": a_buf.device_address})
    kern.run()
    c_buf.invalidate()
    assert (c_buf == 0).all()
    a_buf.flush()
    kern.run()
    c_buf.invalidate()
    assert (c_buf == 2).all()


def test_coherent_device_needs_no_cache_maintenance() -> None:
    dev = EmulatedDevice(memory_bytes=1 << 20, coherent=True)
    a = np.full((2, 2), 3, np.int8)
    kern, c_buf = _program_gemm(dev, a, a)
    kern.run()
    assert (c_buf == 18).all()


def test_unknown_kernel_names_the_choices() -> None:
    dev = EmulatedDevice(("gemm",), memory_bytes=1 << 20)
    with pytest.raises(KeyError, match="has: gemm"):
        dev.kernel("psg_wgrad")


def test_power_source_is_simulated_rails(emulated: EmulatedDevice) -> None:
    src = emulated.power_source
    assert src is not None and src.simulated and src.kind == "simulated-rails"
    assert EmulatedDevice(rails=False, memory_bytes=1 << 20).power_source is None
