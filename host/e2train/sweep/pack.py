"""A sweep folder, packed: its own files as they are, and every trial's run folder packed
(``e2train.train.pack``), so that a long sweep can move between machines or sittings and continue."""

from __future__ import annotations

import shutil
from pathlib import Path

from e2train.sweep.folder import is_sweep_folder
from e2train.train.pack import PackError, folder_bytes, fresh_destination, is_run_folder, pack_run


def pack(src: Path, dest: Path) -> int:
    """Pack a run folder or a sweep folder into ``dest`` (new or empty); returns the bytes written."""
    src, dest = Path(src), Path(dest)
    if is_run_folder(src):
        return pack_run(src, dest)
    if not is_sweep_folder(src):
        raise PackError(f"{src} is neither a run folder nor a sweep folder")
    fresh_destination(dest)
    for item in sorted(src.iterdir()):
        if is_run_folder(item):
            pack_run(item, dest / item.name)
        elif item.is_dir():
            shutil.copytree(item, dest / item.name)
        else:
            shutil.copy2(item, dest / item.name)
    return folder_bytes(dest)
