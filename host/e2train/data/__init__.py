"""Datasets: the embedded default (8x8 digits), CIFAR-10/100 (python pickles or image folders)."""

from e2train.data.datasets import DATASETS, DatasetError, ImageDataset, load_dataset

__all__ = ["DATASETS", "DatasetError", "ImageDataset", "load_dataset"]
