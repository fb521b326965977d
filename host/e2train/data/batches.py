"""Deterministic batches: per-epoch permutations and per-iteration augmentation seeds.

Every random choice is a function of (seed, epoch) or (seed, iteration), so a resumed run sees
exactly the batches the uninterrupted run would have seen, and a batch skipped by SMD is never
materialised (no load, no transfer).
"""

from __future__ import annotations

import numpy as np
import torch

from e2train.data.datasets import ImageDataset

AUGMENT_STREAM = 2  # a seed-sequence key of its own, apart from SMD's (1) and the batch order
CALIBRATION_STREAM = 3  # which training images calibrate the SLU gates' evaluation thresholds


class BatchSource:
    """Hands out index batches and turns the ones that run into normalised (augmented) tensors."""

    def __init__(self, dataset: ImageDataset, batch_size: int, seed: int, device: torch.device):
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.device = device
        self.iters_per_epoch = max(1, len(dataset.train_y) // batch_size)  # drop the last partial batch
        shape = (1, -1, 1, 1)
        self._mean = torch.tensor(dataset.mean, dtype=torch.float32, device=device).view(shape)
        self._std = torch.tensor(dataset.std, dtype=torch.float32, device=device).view(shape)
        self._train_x = torch.from_numpy(dataset.train_x).to(device)
        self._train_y = torch.from_numpy(dataset.train_y).to(device)
        self._perm_epoch = -1
        self._perm = np.empty(0, dtype=np.int64)

    def indices(self, iteration: int) -> np.ndarray:
        epoch, step = divmod(iteration, self.iters_per_epoch)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng([self.seed, epoch]).permutation(len(self.dataset.train_y))
            self._perm_epoch = epoch
        return self._perm[step * self.batch_size:(step + 1) * self.batch_size]

    def materialize(self, iteration: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(self.indices(iteration)).to(self.device)
        x = self._train_x[idx]
        if self.dataset.augment:
            # SeedSequence, not hash(): Python salts str hashes per process, which would change the
            # augmentation of a resumed run.
            aug_seed = int(np.random.SeedSequence([self.seed, iteration, AUGMENT_STREAM]).generate_state(1)[0])
            gen = torch.Generator(device="cpu").manual_seed(aug_seed)
            x = random_crop_flip(x, gen)
        return self.normalize(x), self._train_y[idx]

    def normalize(self, x_uint8: torch.Tensor) -> torch.Tensor:
        return (x_uint8.float() / self.dataset.pixel_max - self._mean) / self._std

    def calibration_batch(self, samples: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A fixed sample of training images, un-augmented: the same for every call of a run."""
        n = len(self.dataset.train_y)
        idx = np.random.default_rng([self.seed, CALIBRATION_STREAM]).choice(n, min(samples, n), replace=False)
        idx_t = torch.from_numpy(np.sort(idx)).to(self.device)
        return self.normalize(self._train_x[idx_t]), self._train_y[idx_t]

    def test_batches(self, batch_size: int = 500):
        x = torch.from_numpy(self.dataset.test_x)
        y = torch.from_numpy(self.dataset.test_y)
        for start in range(0, len(y), batch_size):
            end = start + batch_size
            yield self.normalize(x[start:end].to(self.device)), y[start:end].to(self.device)


def random_crop_flip(x: torch.Tensor, gen: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Pad-4 random crop and horizontal flip, per sample, vectorised over the batch."""
    # x: (B, C, H, W) uint8
    b, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    dy = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
    dx = torch.randint(0, 2 * pad + 1, (b,), generator=gen).to(x.device)
    flip = torch.rand(b, generator=gen).to(x.device) < 0.5
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None])  # (B, H)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None])  # (B, W)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    bi = torch.arange(b, device=x.device)[:, None, None]
    out = padded.permute(0, 2, 3, 1)[bi, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return out.permute(0, 3, 1, 2).contiguous()
