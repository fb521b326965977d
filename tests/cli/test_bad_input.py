"""Bad input, tried the way users make mistakes: every case exits with status 2 and one line
starting with "Error:", never a traceback, and no file of an earlier run changes."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from e2train.cli.main import cli
from e2train.cli.report import energy_report
from e2train.run_dir import LOCK_FILE
from e2train.train.run_lock import RunLock

TINY = ["--model", "resnet8", "--iters", "1", "--batch-size", "16"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict[str, Path]:
    """An earlier finished run, and the broken files the cases point at."""
    root = tmp_path_factory.mktemp("bad-input")
    run = root / "earlier"
    result = CliRunner().invoke(cli, ["train", "--out", str(run), *TINY])
    assert result.exit_code == 0, result.output
    files = {
        "bad_yaml": (root / "bad.yaml", b"smd: [oops\n"),
        "list_json": (root / "list.json", b"[1, 2]"),
        "unknown_key": (root / "unknown.json", json.dumps({"learning_rate": 0.1}).encode()),
        "wrong_type": (root / "wrong.json", json.dumps({"psg": "false"}).encode()),
        "bad_milestone": (root / "milestone.json", json.dumps({"lr_milestones": [1.5]}).encode()),
        "null_value": (root / "null.json", json.dumps({"lr": None}).encode()),
        "bad_profile": (root / "profile.json", b"{not json"),
        "not_npy": (root / "a.npy", b"not an array"),
    }
    paths = {"root": root, "run": run, "empty": root / "empty", "corrupt": root / "corrupt"}
    for name, (path, data) in files.items():
        path.write_bytes(data)
        paths[name] = path
    paths["truncated"] = _truncated_tarball(root)
    paths["empty"].mkdir()
    (paths["empty"] / "train").mkdir()
    CliRunner().invoke(cli, ["train", "--out", str(paths["corrupt"]), *TINY])
    (paths["corrupt"] / "checkpoint.pt").write_bytes(b"garbage")
    return paths


def _truncated_tarball(root: Path) -> Path:
    """A real image-folder .tar.gz cut short, as an interrupted copy leaves it."""
    whole = root / "whole.tar.gz"
    with tarfile.open(whole, "w:gz") as tar:
        for i in range(20):
            data = np.random.default_rng(i).bytes(4096)  # incompressible: the cut lands inside the members
            info = tarfile.TarInfo(f"train/cls/{i}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    cut = root / "truncated.tar.gz"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return cut


def _digest(folder: Path) -> dict[str, str]:
    """The run's files (the lock file only records who held the folder last)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())
            if p.is_file() and p.name != LOCK_FILE}


# (command, arguments with {placeholders} from the world fixture, what the message must say)
CASES = [
    ("train", ["--smd", "1.5"], "drop probability"),
    ("train", ["--smd", "-0.1"], "drop probability"),
    ("train", ["--slu-target", "0"], "computation fraction"),
    ("train", ["--slu-target", "1.5"], "computation fraction"),
    ("train", ["--slu-policy-coef", "-1"], "slu_policy_coef=-1.0 must be >= 0"),
    ("train", ["--dataset", "mnist"], "'mnist' is not one of"),
    ("train", ["--model", "resnet21"], "'resnet21' is not one of"),
    ("train", ["--precision", "fp16"], "'fp16' is not one of"),
    ("train", ["--precision", "fp32", "--psg"], "psg needs precision=int8"),
    ("train", ["--batch-size", "0"], "batch_size=0 must be >= 1"),
    ("train", ["--batch-size", "100000"], "exceeds the 1438 training images"),
    ("train", ["--lr", "0"], "lr=0.0 must be > 0"),
    ("train", ["--lr", "nan"], "lr=nan must be a finite number"),
    ("train", ["--lr", "-1"], "must be > 0"),
    ("train", ["--epochs", "inf", "--iters", "0"], "must be a finite number"),
    ("train", ["--epochs", "0", "--iters", "0"], "iters=0 must be >= 1"),
    ("train", ["--iters", "many"], "'many' is not a valid integer"),
    ("train", ["--seed", "-1"], "seed=-1 must be >= 0"),
    ("train", ["--psg-threshold", "-1"], "psg_threshold=-1.0 must be >= 0"),
    ("train", ["--psg-lr-scale", "0"], "psg_lr_scale=0.0 must be > 0"),
    ("train", ["--slu-eval-rule", "median"], "'median' is not one of"),
    ("train", ["--dataset", "cifar10"], "needs data_dir"),
    ("train", ["--dataset", "cifar10", "--data-dir", "/no/such/folder"], "no such file or folder"),
    ("train", ["--dataset", "imagefolder", "--data-dir", "{truncated}"], "truncated or corrupt"),
    ("train", ["--dataset", "imagefolder", "--data-dir", "{empty}"], "no images under train"),
    ("train", ["--energy-profile", "nope"], "energy profile 'nope' not found"),
    ("train", ["--energy-profile", "{bad_profile}"], "not valid JSON"),
    ("train", ["--power", "nosuch:rail"], "unknown power source 'nosuch'"),
    ("train", ["--backend", "emulate", "--precision", "fp32", "--input-grad", "int16"], "needs precision=int8"),
    ("train", ["--backend", "emulate", "--psg", "--input-grad", "int16"], "needs psg_threshold_mode=abs"),
    ("train", ["--backend", "rtl", "--input-grad", "fp32"], "needs input_grad=int16"),
    ("train", ["--sim", "modelsim"], "'modelsim' is not one of"),
    ("train", ["--ortho", "l2"], "'l2' is not one of"),
    ("train", ["--ortho", "so", "--ortho-coef", "-1"], "ortho_coef=-1.0 must be >= 0"),
    ("train", ["--ortho", "so", "--ortho-coef", "nan"], "ortho_coef=nan must be a finite number"),
    ("train", ["--ortho", "srip", "--ortho-srip-iters", "0"], "ortho_srip_iters=0 must be >= 1"),
    ("train", ["--ortho-schedule", "cosine"], "'cosine' is not one of"),
    ("train", ["--ortho-srip-form", "frobenius"], "'frobenius' is not one of"),
    ("train", ["--device", "cuda"], "sees no CUDA GPU"),
    ("train", ["--device", "tpu0"], "is not a torch device"),
    ("train", ["--device", "meta"], "runs compute on cpu or cuda"),
    ("train", ["--resume"], "--resume needs --out"),
    ("train", ["--out", "{empty}", "--resume"], "nothing to resume"),
    ("train", ["--out", "{run}"], "is not empty"),
    ("train", ["--out", "{run}", "--resume", "--lr", "0.5"], "different configuration (lr)"),
    ("train", ["--out", "{corrupt}", "--resume"], "corrupt or not an e2train checkpoint"),
    ("train", ["--out", "/proc/e2train-run"], "cannot write the run directory"),
    ("train", ["--config", "/no/such.yaml"], "does not exist"),
    ("train", ["--config", "{bad_yaml}"], "cannot parse"),
    ("train", ["--config", "{list_json}"], "expected a mapping"),
    ("train", ["--config", "{unknown_key}"], "unknown option(s) learning_rate"),
    ("train", ["--config", "{wrong_type}"], "psg='false' (str) must be true or false"),
    ("train", ["--config", "{bad_milestone}"], "fractions of the run"),
    ("train", ["--config", "{null_value}"], "lr needs a value"),
    ("show-config", ["--preset", "nope"], "'nope' is not one of"),
    ("kernel", ["run", "gemm", "--a", "{not_npy}", "--b", "{not_npy}", "--out", "{root}/c.npy"], "cannot read"),
    ("kernel", ["selftest", "--backend", "pynq"], "no PYNQ board found"),
    ("report", ["/no/such/run"], "no such run directory"),
]


@pytest.mark.parametrize("command,args,message", CASES, ids=[f"{c}-{i}" for i, (c, _, _) in enumerate(CASES)])
def test_bad_input_is_one_clear_line_and_loses_nothing(world, request, command, args, message) -> None:
    before = _digest(world["run"])
    args = [a.format(**{k: str(v) for k, v in world.items()}) for a in args]
    if command == "train":  # the case's own flags come last and win; a fresh folder unless it names one
        fresh = [] if "--out" in args or "--resume" in args else ["--out", str(world["root"] / request.node.name)]
        args = [*TINY, *fresh, *args]
    if command == "report":
        result = CliRunner().invoke(energy_report, args)
    else:
        result = CliRunner().invoke(cli, [command, *args])
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, Exception) or \
        isinstance(result.exception, SystemExit), result.output
    assert len(errors) == 1 and message in errors[0], result.output
    assert _digest(world["run"]) == before


def test_there_are_at_least_forty_kinds() -> None:
    assert len(CASES) >= 40


def test_a_busy_run_folder_is_named_and_left_alone(world) -> None:
    before = _digest(world["run"])
    lock = RunLock(world["run"])
    try:
        result = CliRunner().invoke(cli, ["train", "--out", str(world["run"]), "--resume"])
    finally:
        lock.release()
    assert result.exit_code == 2 and "in use by another e2train run" in result.output
    assert _digest(world["run"]) == before


def test_a_full_disk_mid_run_is_one_line_and_the_run_resumes(world, monkeypatch) -> None:
    """ENOSPC while writing the trace: one line naming the file and the way back, then --resume finishes."""
    import errno

    from e2train.energy.trace import TraceWriter

    out = world["root"] / "disk-full"
    real_write = TraceWriter.write
    calls = {"n": 0}

    def write_until_the_disk_fills(self):
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.run_dir / "trace.parquet"))
        return real_write(self)

    config = world["root"] / "checkpoint-often.json"
    config.write_text(json.dumps({"checkpoint_every_iters": 2}))
    monkeypatch.setattr(TraceWriter, "write", write_until_the_disk_fills)
    result = CliRunner().invoke(cli, ["train", "--out", str(out), "--config", str(config), *TINY, "--iters", "6"])
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2 and len(errors) == 1, result.output
    assert "No space left on device" in errors[0] and "--resume" in errors[0]
    monkeypatch.setattr(TraceWriter, "write", real_write)
    result = CliRunner().invoke(cli, ["train", "--out", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["iterations"] == 6
