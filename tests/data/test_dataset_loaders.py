"""Dataset loaders on real file formats written by the tests: CIFAR pickles, image folders, tarballs."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from e2train.data.batches import BatchSource, random_crop_flip
from e2train.data.datasets import DatasetError, load_dataset

SHARED_CIFAR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cifar10-jpeg.tar.gz"


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("E2TRAIN_CACHE", str(tmp_path / "cache"))


def _write_cifar10(root: Path, n: int = 4) -> np.ndarray:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(pickle.dumps({"data": data, "labels": list(range(n))}))
    (folder / "test_batch").write_bytes(pickle.dumps({"data": data[:2], "labels": [0, 1]}))
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"c{i}" for i in range(10)]}))
    return data


def test_cifar10_pickles_folder_and_tarball(tmp_path) -> None:
    data = _write_cifar10(tmp_path / "src")
    ds = load_dataset("cifar10", tmp_path / "src")
    assert ds.train_x.shape == (20, 3, 32, 32) and ds.test_x.shape == (2, 3, 32, 32)
    assert np.array_equal(ds.train_x[0].reshape(-1), data[0])  # CHW order as in the release
    assert ds.classes[3] == "c3" and ds.augment
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    from_tar = load_dataset("cifar10", tar_path)
    assert np.array_equal(from_tar.train_x, ds.train_x)


def test_cifar100_fine_labels(tmp_path) -> None:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    data = np.zeros((3, 3072), dtype=np.uint8)
    for split in ("train", "test"):
        (folder / split).write_bytes(pickle.dumps({"data": data, "fine_labels": [5, 99, 0]}))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"f{i}" for i in range(100)]}))
    ds = load_dataset("cifar100", tmp_path)
    assert ds.num_classes == 100 and ds.train_y.tolist() == [5, 99, 0]


def test_missing_and_malformed_pickles(tmp_path) -> None:
    with pytest.raises(DatasetError, match="missing data_batch_1"):
        load_dataset("cifar10", tmp_path)
    _write_cifar10(tmp_path / "bad")
    (tmp_path / "bad" / "cifar-10-batches-py" / "test_batch").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="test_batch is not a readable CIFAR pickle"):
        load_dataset("cifar10", tmp_path / "bad")


def test_imagefolder_folder_and_tarball(tmp_path, write_imagefolder) -> None:
    write_imagefolder(tmp_path / "imgs")
    ds = load_dataset("imagefolder", tmp_path / "imgs")
    assert ds.classes == ("cat", "dog") and ds.train_x.shape == (6, 3, 32, 32)
    assert ds.train_x[ds.train_y == 0][:, 0].min() == 255  # cats are red
    tar_path = tmp_path / "imgs.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(tmp_path / "imgs", arcname="data")
    assert np.array_equal(load_dataset("imagefolder", tar_path).train_y, ds.train_y)


def test_imagefolder_layout_errors(tmp_path) -> None:
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(DatasetError, match="train/<class>"):
        load_dataset("imagefolder", tmp_path / "flat")


def test_digits_split_is_deterministic() -> None:
    a, b = load_dataset("digits"), load_dataset("digits")
    assert np.array_equal(a.test_y, b.test_y) and len(a.train_y) + len(a.test_y) == 1797
    assert a.input_shape == (1, 8, 8) and not a.augment


def test_augmentation_crop_flip_and_determinism() -> None:
    x = torch.arange(2 * 3 * 32 * 32, dtype=torch.int64).reshape(2, 3, 32, 32).to(torch.uint8)
    a = random_crop_flip(x, torch.Generator().manual_seed(1))
    b = random_crop_flip(x, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    zero_pad = random_crop_flip(torch.ones(64, 1, 4, 4, dtype=torch.uint8), torch.Generator().manual_seed(0))
    assert (zero_pad == 0).any()  # some crops reach into the padding


def test_batches_depend_only_on_seed_and_iteration() -> None:
    ds = load_dataset("digits")
    s1 = BatchSource(ds, 32, seed=3, device=torch.device("cpu"))
    s2 = BatchSource(ds, 32, seed=3, device=torch.device("cpu"))
    assert np.array_equal(s1.indices(50), s2.indices(50))
    s1.indices(0)  # jumping around epochs must not change what iteration 50 sees
    assert np.array_equal(s1.indices(50), s2.indices(50))


@pytest.mark.slow
def test_shared_cifar10_jpeg_tarball() -> None:
    if not SHARED_CIFAR.exists():
        pytest.skip(f"{SHARED_CIFAR} not present (only on the project's machines)")
    ds = load_dataset("imagefolder", SHARED_CIFAR)
    assert ds.train_x.shape == (50000, 3, 32, 32) and ds.test_x.shape == (10000, 3, 32, 32)
    assert ds.classes[0] == "airplane" and ds.classes[-1] == "truck"


def test_augmentation_is_the_same_in_another_process(tmp_path) -> None:
    """A resumed run is a new process: its augmented batches must equal the original run's."""
    import subprocess
    import sys

    code = ("import torch, numpy as np; from e2train.data.batches import BatchSource; "
            "from e2train.data.datasets import ImageDataset; "
            "x = np.arange(4 * 3 * 8 * 8, dtype=np.uint8).reshape(4, 3, 8, 8); y = np.zeros(4, dtype=np.int64); "
            "ds = ImageDataset('t', x, y, x, y, ('a',), (0.5,) * 3, (0.25,) * 3, augment=True); "
            "print(float(BatchSource(ds, 4, 7, torch.device('cpu')).materialize(3)[0].sum()))")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**__import__("os").environ, "PYTHONHASHSEED": str(s)}).stdout for s in (1, 2)}
    assert len(outputs) == 1


def test_images_added_to_a_class_folder_reach_the_cache(tmp_path, write_imagefolder) -> None:
    write_imagefolder(tmp_path / "imgs")
    before = load_dataset("imagefolder", tmp_path / "imgs")
    Image.new("RGB", (32, 32), (0, 0, 255)).save(tmp_path / "imgs" / "train" / "dog" / "extra.png")
    (tmp_path / "imgs" / "train" / "bird").mkdir()
    Image.new("RGB", (32, 32), (0, 255, 0)).save(tmp_path / "imgs" / "train" / "bird" / "b.png")
    after = load_dataset("imagefolder", tmp_path / "imgs")
    assert len(after.train_y) == len(before.train_y) + 2
    assert "bird" in after.classes


def test_parallel_first_loads_share_the_cache(tmp_path, monkeypatch) -> None:
    """Two trials of a sweep decoding the same archive at once: both get the arrays, one cache file
    remains and no temporary file is left (they once shared one temporary name and one rename failed)."""
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    from e2train.data import datasets

    both_written = Barrier(2)
    savez = np.savez

    def savez_then_wait(file, **arrays) -> None:  # both writers finish writing before either renames
        savez(file, **arrays)
        both_written.wait(timeout=10)

    monkeypatch.setattr(datasets.np, "savez", savez_then_wait)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: datasets._cached("race", lambda: {"x": np.arange(1000)}), range(2)))
    assert all(np.array_equal(r["x"], np.arange(1000)) for r in results)
    assert sorted(p.name for p in (datasets.cache_dir() / "datasets").iterdir()) == ["race.npz"]
