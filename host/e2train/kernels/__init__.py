"""Accelerator kernels: executable references, register maps and drivers."""
