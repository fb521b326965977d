"""Load image-classification datasets into memory as uint8 arrays, with clear errors.

Everything is decoded once into ``uint8`` arrays (N, C, H, W) and cached as ``.npz``; batches are
normalised and augmented on the fly (``data.batches``).  Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import tarfile
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from e2train.errors import E2TrainError

log = logging.getLogger(__name__)

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
CIFAR_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR_STD = (0.2470, 0.2435, 0.2616)
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
SPLIT_SEED = 20190531  # fixed: the train/test split of the digits must not move with --seed


class DatasetError(E2TrainError, RuntimeError):
    """A dataset path is missing or does not have the expected layout."""


@dataclass
class ImageDataset:
    """In-memory dataset: uint8 images, int64 labels, and how to normalise and augment them."""

    name: str
    train_x: np.ndarray  # (N, C, H, W) uint8
    train_y: np.ndarray  # (N,) int64
    test_x: np.ndarray
    test_y: np.ndarray
    classes: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    augment: bool  # pad-4 random crop + horizontal flip (CIFAR); off for the 8x8 digits
    pixel_max: float = 255.0

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def cache_dir() -> Path:
    return Path(os.environ.get("E2TRAIN_CACHE", Path.home() / ".cache" / "e2train"))


def _cached(key: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Decode once, then reuse the arrays: JPEG decoding of CIFAR takes far longer than training a batch."""
    path = cache_dir() / "datasets" / f"{key}.npz"
    if path.exists():
        try:
            with np.load(path, allow_pickle=False) as cached:
                return {k: cached[k] for k in cached.files}
        except (OSError, ValueError) as err:
            log.warning("ignoring unreadable cache %s (%s); decoding again", path, err)
    arrays = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    # One temporary file per writer: parallel trials decoding the same archive (a sweep) each write
    # their own copy and rename it over the same name; the last rename wins and every copy is whole.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f"{path.stem}.", suffix=".tmp.npz")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return arrays


def _source_key(kind: str, path: Path) -> str:
    """Names the cache entry after the source's content as the file system describes it: a file's
    size and time, or for a folder every file's relative path, size and time (a folder's own time
    does not change when images are added to its subfolders)."""
    digest = hashlib.sha256(f"{kind}|{path.resolve()}".encode())
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        stat = file.stat()
        digest.update(f"|{file.relative_to(path) if path.is_dir() else ''}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return f"{kind}-{digest.hexdigest()[:16]}"


# --- embedded default ------------------------------------------------------------------------


def load_digits(test_fraction: float = 0.2) -> ImageDataset:
    """scikit-learn's 8x8 handwritten digits (1,797 images, 0..16 grey levels): ships with sklearn."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    images = (bunch.images * (255.0 / 16.0)).round().astype(np.uint8)[:, None]  # (N, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(labels))
    n_test = int(round(len(labels) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    mean = float(images[train].mean() / 255.0)
    std = float(images[train].std() / 255.0)
    return ImageDataset(
        "digits", images[train], labels[train], images[test], labels[test],
        tuple(str(i) for i in range(10)), (mean,), (std,), augment=False,
    )


# --- CIFAR python pickles --------------------------------------------------------------------

_PICKLE_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels",
                "batches.meta", "label_names"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels", "meta", "fine_label_names"),
}


def _pickle_members(kind: str, root: Path) -> dict[str, bytes]:
    folder, train, test, *_rest, meta, _ = _PICKLE_LAYOUT[kind]
    wanted = [*train, *test, meta]
    expected = f"{folder}/{{{', '.join(wanted)}}} (a folder or the .tar.gz release)"
    if root.is_file() and tarfile.is_tarfile(root):
        with tarfile.open(root) as tar:
            members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
            missing = [w for w in wanted if w not in members]
            if missing:
                raise DatasetError(f"{root}: archive lacks {', '.join(missing)}; expected {expected}")
            return {w: tar.extractfile(members[w]).read() for w in wanted}  # type: ignore[union-attr]
    base = root / folder if (root / folder).is_dir() else root
    missing = [w for w in wanted if not (base / w).is_file()]
    if missing:
        raise DatasetError(f"{root}: missing {', '.join(missing)}; expected {expected}")
    return {w: (base / w).read_bytes() for w in wanted}


def _unpickle(name: str, blob: bytes, root: Path) -> dict:
    try:
        return pickle.loads(blob, encoding="latin1")
    except Exception as err:  # corrupt files raise many different exception types
        raise DatasetError(f"{root}: {name} is not a readable CIFAR pickle ({err})") from err


def _decode_pickles(kind: str, root: Path) -> dict[str, np.ndarray]:
    _, train, test, label_key, meta, names_key = _PICKLE_LAYOUT[kind]
    blobs = _pickle_members(kind, root)

    def stack(names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        xs, ys = [], []
        for name in names:
            batch = _unpickle(name, blobs[name], root)
            if "data" not in batch or label_key not in batch:
                raise DatasetError(f"{root}: {name} lacks 'data' or '{label_key}'")
            xs.append(np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
            ys.append(np.asarray(batch[label_key], dtype=np.int64))
        return np.concatenate(xs), np.concatenate(ys)

    train_x, train_y = stack(train)
    test_x, test_y = stack(test)
    classes = np.array(_unpickle(meta, blobs[meta], root)[names_key])
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y, "classes": classes}


# --- image folders ---------------------------------------------------------------------------


def _decode_image(data: bytes, name: str) -> np.ndarray:
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8).transpose(2, 0, 1)
    except Exception as err:
        raise DatasetError(f"cannot decode image {name}: {err}") from err


def _imagefolder_files(root: Path) -> dict[str, list[tuple[str, str, bytes]]]:
    """Map split -> [(class, name, encoded bytes)] for a folder or a tarball with train/<class>/<img>.

    A compressed tarball is read in one sequential pass: random access into a .tar.gz
    decompresses from the start for every member.
    """
    splits: dict[str, list[tuple[str, str, bytes]]] = {"train": [], "test": []}
    if root.is_file() and tarfile.is_tarfile(root):
        with tarfile.open(root, mode="r|*") as tar:
            for member in tar:
                parts = Path(member.name).parts
                if member.isfile() and len(parts) >= 3 and Path(member.name).suffix.lower() in IMAGE_SUFFIXES:
                    split, cls = parts[-3], parts[-2]
                    if split in splits:
                        splits[split].append((cls, member.name, tar.extractfile(member).read()))  # type: ignore[union-attr]
    elif root.is_dir():
        for split in splits:
            for path in sorted((root / split).glob("*/*")):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    splits[split].append((path.parent.name, str(path), path.read_bytes()))
    for split, files in splits.items():
        if not files:
            raise DatasetError(
                f"{root}: no images under {split}/<class>/*.jpg; expected an image folder (or .tar.gz) "
                "laid out as train/<class>/<image> and test/<class>/<image>"
            )
    return splits


def _decode_imagefolder(root: Path) -> dict[str, np.ndarray]:
    from rich.progress import track

    splits = _imagefolder_files(root)
    classes = sorted({cls for cls, _, _ in splits["train"]})
    index = {c: i for i, c in enumerate(classes)}
    out: dict[str, np.ndarray] = {"classes": np.array(classes)}
    for split, files in splits.items():
        files.sort(key=lambda f: f[1])
        unknown = {cls for cls, _, _ in files} - set(classes)
        if unknown:
            raise DatasetError(f"{root}: {split} has classes not in train: {sorted(unknown)}")
        images = [_decode_image(data, name) for _, name, data in
                  track(files, description=f"decoding {split} images (cached afterwards)", transient=True)]
        shapes = {im.shape for im in images}
        if len(shapes) != 1:
            raise DatasetError(f"{root}: {split} images differ in size {sorted(shapes)[:3]}; resize them first")
        out[f"{split}_x"] = np.stack(images)
        out[f"{split}_y"] = np.array([index[cls] for cls, _, _ in files], dtype=np.int64)
    return out


# --- entry point -----------------------------------------------------------------------------

DATASETS = ("digits", "cifar10", "cifar100", "imagefolder")


def load_dataset(name: str, data_dir: str | Path | None = None) -> ImageDataset:
    """Load a dataset by name; CIFAR and image folders need ``data_dir`` (a folder or tarball)."""
    if name == "digits":
        return load_digits()
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}")
    if data_dir is None:
        raise DatasetError(f"--dataset {name} needs --data-dir (a folder or .tar.gz; nothing is downloaded)")
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise DatasetError(f"{root}: no such file or folder (for --dataset {name})")
    try:
        if name == "imagefolder":
            arrays = _cached(_source_key("imagefolder", root), lambda: _decode_imagefolder(root))
        else:
            arrays = _cached(_source_key(name, root), lambda: _decode_pickles(name, root))
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:  # gzip raises EOFError and OSError
        raise DatasetError(f"{root}: cannot read the archive ({err}); it is truncated or corrupt: "
                           "copy it again") from err
    classes = tuple(str(c) for c in arrays["classes"])
    channels = arrays["train_x"].shape[1]
    mean, std = (CIFAR_MEAN, CIFAR_STD) if channels == 3 else ((0.5,), (0.25,))
    return ImageDataset(name, arrays["train_x"], arrays["train_y"], arrays["test_x"], arrays["test_y"],
                        classes, mean, std, augment=True)
