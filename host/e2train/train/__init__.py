"""The training loop, checkpoints and evaluation."""
