"""e2train: energy-efficient CNN training (E2-Train) with FPGA kernels in the loop."""

__version__ = "0.1.0"
