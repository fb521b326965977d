"""Layers of the low-precision path: 8-bit integer convolutions with PSG weight gradients."""
