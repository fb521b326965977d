"""A simulated memory that is sometimes busy: random stall patterns on the AXI channels of an ``AxiRam``.

Why: cocotbext-axi's RAM answers every request at once, which flatters a kernel.  A board's DDR port is
shared and answers late; stalling each AXI channel a random fraction of cycles is a crude, repeatable
stand-in (seeded per channel), used by the RTL benches, by the efficiency bench's stalled rows and by
the RTL backend (``memory_stall``).  cocotbext-axi draws one value of a channel's pause generator per
clock cycle: 1 pauses the channel for that cycle.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from typing import Any


def pause_pattern(seed: int, busy: float) -> Iterator[int]:
    """Random 0/1 stream: 1 = stall this cycle, with probability `busy`."""
    rng = random.Random(seed)
    while True:
        yield 1 if rng.random() < busy else 0


def bursty_latency(seed: int, max_gap: int) -> Iterator[int]:
    """Stalls of random length (0..max_gap cycles) between bursts of ready cycles: memory latency."""
    rng = random.Random(seed)
    while True:
        yield from itertools.repeat(1, rng.randint(0, max_gap))
        yield from itertools.repeat(0, rng.randint(1, 24))


def set_memory_stalls(ram: Any, generator_factory: Callable[[int], Iterator[int]] | None) -> None:
    """Install ``generator_factory(channel)`` as the pause generator of each of the RAM's five AXI
    channels (AW, W, B, AR, R: channel 0..4); None removes them."""
    channels = [ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                ram.read_if.ar_channel, ram.read_if.r_channel]
    for index, channel in enumerate(channels):
        if generator_factory is None:
            channel.clear_pause_generator()
            channel.pause = False  # clearing the generator keeps its last value
        else:
            channel.set_pause_generator(generator_factory(index))
