"""Orthogonality penalties against direct computations, their gradients, schedule, energy and trainer use."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn
from hypothesis import given, settings
from hypothesis import strategies as st

from e2train.config import ConfigError, resolve_config
from e2train.techniques import ortho
from e2train.techniques.ortho import OrthoConfig, OrthoRegularizer, penalty_macs

SHAPES = [(6, 4), (4, 6), (5, 5)]  # tall (fan-in > filters), wide, square


def _w(rows: int, cols: int, seed: int = 0, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _direct(w: torch.Tensor, kind: str) -> float:
    """Entry by entry, with plain Python loops over the smaller Gram matrix."""
    rows, cols = w.shape
    vecs = [w[i, :] for i in range(rows)] if cols > rows else [w[:, j] for j in range(cols)]
    n = len(vecs)
    entries = [[float(vecs[a] @ vecs[b]) - (a == b) for b in range(n)] for a in range(n)]
    if kind == "so":
        return sum(e * e for row in entries for e in row)
    if kind == "mc":
        return max(abs(e) for row in entries for e in row)
    raise ValueError(kind)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["so", "mc"])
def test_so_and_mc_against_a_direct_computation(shape, kind) -> None:
    w = _w(*shape)
    got = {"so": ortho.so, "mc": ortho.mc}[kind](w)
    assert float(got) == pytest.approx(_direct(w, kind), rel=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_dso_is_both_gram_matrices(shape) -> None:
    w = _w(*shape)
    expected = sum((float(w[:, a] @ w[:, b]) - (a == b)) ** 2 for a in range(shape[1]) for b in range(shape[1]))
    expected += sum((float(w[a, :] @ w[b, :]) - (a == b)) ** 2 for a in range(shape[0]) for b in range(shape[0]))
    assert float(ortho.dso(w)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", SHAPES)
def test_srip_converges_to_the_spectral_norm(shape) -> None:
    w = _w(*shape)
    gram = w @ w.T if shape[1] > shape[0] else w.T @ w
    exact = float(torch.linalg.matrix_norm(gram - torch.eye(gram.shape[0], dtype=w.dtype), ord=2))
    v0 = _w(gram.shape[0], 1, seed=1)[:, 0]
    est50, _ = ortho.srip(w, v0, iters=50)
    assert float(est50) == pytest.approx(exact, rel=1e-6)
    est1, _ = ortho.srip(w, v0, iters=1)
    assert float(est1) <= exact * (1 + 1e-12)  # a Rayleigh-type estimate never exceeds the norm
    squared, _ = ortho.srip(w, v0, iters=50, form="sigma_squared")
    assert float(squared) == pytest.approx(exact**2, rel=1e-6)


@settings(max_examples=30, deadline=None)
@given(rows=st.integers(1, 7), cols=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_srip_never_exceeds_the_spectral_norm_for_any_shape(rows, cols, seed) -> None:
    w = _w(rows, cols, seed)
    gram = w @ w.T if cols > rows else w.T @ w
    exact = float(torch.linalg.matrix_norm(gram - torch.eye(gram.shape[0], dtype=w.dtype), ord=2))
    est, _ = ortho.srip(w, _w(gram.shape[0], 1, seed + 1)[:, 0], iters=3)
    assert float(est) <= exact * (1 + 1e-9) + 1e-12


@pytest.mark.parametrize("shape", SHAPES)
def test_an_orthogonal_matrix_has_no_so_dso_srip_penalty(shape) -> None:
    q, _ = torch.linalg.qr(_w(max(shape), max(shape)))
    w = q[: shape[0], : shape[1]]  # orthonormal columns (tall) or rows (wide)
    v0 = _w(min(shape), 1, seed=2)[:, 0]
    assert float(ortho.so(w)) == pytest.approx(0.0, abs=1e-20)
    assert float(ortho.mc(w)) == pytest.approx(0.0, abs=1e-12)
    assert float(ortho.srip(w, v0, iters=3)[0]) == pytest.approx(0.0, abs=1e-12)
    if shape[0] == shape[1]:
        assert float(ortho.dso(w)) == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("kind", ["so", "dso", "mc", "srip"])
def test_gradients_by_gradcheck(shape, kind) -> None:
    w = _w(*shape).requires_grad_()
    v0 = _w(min(shape) if shape[1] > shape[0] else shape[1], 1, seed=3)[:, 0]
    functions = {"so": ortho.so, "dso": ortho.dso, "mc": ortho.mc, "srip": lambda m: ortho.srip(m, v0, 2)[0]}
    assert torch.autograd.gradcheck(functions[kind], (w,))


def test_conv_weights_are_columns_per_filter_and_bn_and_biases_are_left_out() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=True), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4, 2))
    layers = ortho.regularized_layers(model)
    assert [name for name, _ in layers] == ["0", "3"]
    assert ortho.as_matrix(model[0].weight).shape == (27, 4)
    assert ortho.as_matrix(model[3].weight).shape == (4, 2)
    assert [n for n, _ in ortho.regularized_layers(model, exclude=("3",))] == ["0"]
    assert [n for n, _ in ortho.regularized_layers(model, include=("3",))] == ["3"]
    total = ortho.penalty(model, kind="so")
    expected = ortho.so(ortho.as_matrix(model[0].weight)) + ortho.so(ortho.as_matrix(model[3].weight))
    assert float(total.detach()) == pytest.approx(float(expected.detach()))
    total.backward()
    assert model[0].bias.grad is None and model[1].weight.grad is None


def test_paper_schedule_at_its_milestones() -> None:
    reg = OrthoRegularizer(nn.Linear(3, 3), OrthoConfig(kind="so", coef=0.1, schedule="paper"))
    at = {p: reg.coefficient(p) for p in (0.0, 0.099, 0.10, 0.25, 0.35, 0.599, 0.60, 1.0)}
    assert at[0.0] == at[0.099] == pytest.approx(0.1)
    assert at[0.10] == pytest.approx(1e-3) and at[0.25] == pytest.approx(1e-4)
    assert at[0.35] == pytest.approx(1e-6) and at[0.599] == pytest.approx(1e-6)
    assert at[0.60] == at[1.0] == 0.0
    assert reg.loss(0.7) is None  # nothing is computed once the coefficient is 0
    constant = OrthoRegularizer(nn.Linear(3, 3), OrthoConfig(kind="so", coef=0.5, schedule="constant"))
    assert constant.coefficient(0.0) == constant.coefficient(0.99) == 0.5


def test_energy_counts_by_hand_for_one_layer() -> None:
    conv = nn.Conv2d(16, 32, 3)  # W: 144 x 32 (tall); smaller Gram 32 x 32
    assert penalty_macs(144, 32, "so") == 2 * 144 * 32 * 32  # Gram, then 4 W (G - I)
    assert penalty_macs(144, 32, "dso") == 2 * (144 * 32 * 32 + 32 * 144 * 144)
    assert penalty_macs(144, 32, "mc") == 144 * 32 * 32 + 2 * 144
    assert penalty_macs(144, 32, "srip", 1) == 3 * 2 * 2 * 144 * 32  # (1 step + final) x 2 products, x3 backward
    reg = OrthoRegularizer(nn.Sequential(conv), OrthoConfig(kind="srip", srip_iters=2))
    assert reg.macs() == 3 * 3 * 2 * 144 * 32


def test_persistent_vectors_are_carried_and_restored() -> None:
    model = nn.Linear(8, 5)
    reg = OrthoRegularizer(model, OrthoConfig(kind="srip", persistent=True))
    reg.penalty(step=0)
    state = reg.state_dict()
    assert set(state) == {""} and state[""].shape == (5,)
    again = OrthoRegularizer(model, OrthoConfig(kind="srip", persistent=True))
    again.load_state_dict(state)
    assert float(again.penalty(step=7).detach()) == pytest.approx(float(reg.penalty(step=7).detach()))


def test_bad_options_are_refused() -> None:
    for bad in ({"kind": "l2"}, {"schedule": "cosine"}, {"srip_form": "sigma2"}, {"coef": -1.0}, {"srip_iters": 0}):
        with pytest.raises(ValueError):
            OrthoConfig(**bad)
    with pytest.raises(ValueError, match="no conv or linear layer"):
        OrthoRegularizer(nn.Linear(2, 2), OrthoConfig(include=("nothing*",)))
    with pytest.raises(ConfigError, match="ortho='l2'"):
        resolve_config("quickstart", overrides={"ortho": "l2"})


def test_with_psg_a_conv_gradient_is_the_sign_plus_the_penalty_gradient(tmp_path: Path) -> None:
    """The accelerator returns signs; the host adds coef x d penalty / dW to them before the update."""
    from e2train.train.loop import Trainer

    cfg = resolve_config("quickstart", overrides={"model": "resnet8", "iters": 2, "batch_size": 16, "smd": 0.0,
                                                  "slu_target": None, "psg": True, "ortho": "so",
                                                  "ortho_schedule": "constant", "ortho_coef": 0.01})
    trainer = Trainer(cfg, tmp_path / "run")
    conv = trainer.model.qconvs()[1]
    trainer.optimizer.step = lambda: None  # keep the weights: compare gradients at one point
    trainer._train_step(0)
    w = conv.weight.detach().clone().requires_grad_()
    (0.01 * ortho.so(ortho.as_matrix(w))).backward()
    sign_part = conv.weight.grad - w.grad
    signs = sign_part.round()
    assert torch.allclose(sign_part, signs, atol=1e-5) and set(signs.unique().tolist()) <= {-1.0, 0.0, 1.0}
    assert sign_part.abs().sum() > 0


@pytest.mark.parametrize("kind", ["so", "dso", "mc", "srip"])
def test_the_trainer_charges_the_penalty_as_its_own_kind(tmp_path: Path, kind) -> None:
    import json

    import pandas as pd

    from e2train.energy.trace import read_trace
    from e2train.train.loop import Trainer

    cfg = resolve_config("quickstart", overrides={"model": "resnet8", "iters": 4, "batch_size": 16, "smd": 0.0,
                                                  "ortho": kind, "ortho_schedule": "constant"})
    summary = Trainer(cfg, tmp_path / kind).run()
    trace = read_trace(tmp_path / kind)
    assert (trace["count_mac_ortho"] > 0).all() and trace["ortho_loss"].notna().all()
    layers = pd.read_csv(tmp_path / kind / "layer_energy.csv")
    ortho_j = layers[layers["kind"] == "mac_ortho"]["energy_j"].sum()
    assert ortho_j > 0 and summary["energy_ortho_model_j"] == pytest.approx(ortho_j)
    assert json.loads((tmp_path / kind / "config.json").read_text())["ortho"] == kind
    assert math.isfinite(summary["test_accuracy"])


def test_the_benchmark_table_has_mean_and_spread_per_penalty() -> None:
    import pandas as pd

    from e2train.bench.ortho import markdown

    rows = pd.DataFrame([{"penalty": p, "seed": s, "test_accuracy": 0.5 + 0.1 * s,
                          "train_time_s": (10.0 + 10 * s) * (1.5 if p == "SRIP" else 1.0),
                          "energy_model_j": 100.0, "energy_ortho_model_j": 1.0, "ortho_share": 0.01,
                          "sitting": "a" if s == 0 or p == "none" else "b"}
                         for p in ("none", "SRIP", "SO") for s in (0, 1)])
    text = markdown(rows, "python -m e2train.bench.ortho ...", 400)
    # seed 1's penalties ran in another sitting on a machine twice as slow as its none: only seed 0's ratio counts
    assert "| SRIP | 2 | 55.0% ± 7.1% | 22 | 1.50x | 1 | 1.00% |" in text
    assert "| none | 2 | 55.0% ± 7.1% | 15 | 1.00x | 1 | 1.00% |" in text


def test_the_table_between_sittings_counts_only_finished_trials(tmp_path) -> None:
    """--table-only trains nothing and averages the finished seeds; an interrupted run is left out."""
    import json

    from click.testing import CliRunner

    from e2train.bench.ortho import main

    def summary(name: str, accuracy: float, **extra) -> None:
        (tmp_path / "runs" / name).mkdir(parents=True)
        (tmp_path / "runs" / name / "summary.json").write_text(json.dumps(
            {"test_accuracy": accuracy, "train_time_s": 5.0, "energy_model_j": 10.0, "energy_ortho_model_j": 0.1,
             **extra}))

    summary("none__seed=0", 0.70)
    summary("SRIP__seed=0", 0.72)
    summary("SRIP__seed=1", 0.74)
    summary("SO__seed=0", 0.10, interrupted=True)
    common = ["--data-dir", "x", "--iters", "10", "--seeds", "0,1", "--results", str(tmp_path / "m"), "--table-only"]
    result = CliRunner().invoke(main, [*common, "--out", str(tmp_path / "runs")])
    assert result.exit_code == 0, result.output
    table = (tmp_path / "m" / "ortho_cifar10.md").read_text()
    assert "| none | 1 | 70.0% |" in table and "| SRIP | 2 | 73.0% ± 1.4% |" in table and "| SO |" not in table
    empty = CliRunner().invoke(main, [*common, "--out", str(tmp_path / "none")])
    assert empty.exit_code != 0 and "no finished trial" in empty.output


def test_an_earlier_sittings_rows_stand_for_the_trials_not_run_now(tmp_path) -> None:
    """--earlier-rows keeps an earlier CSV's rows for the (penalty, seed) pairs not run now; a pair run
    now replaces its earlier row; --penalties runs a subset and names the choices when one is unknown."""
    import json

    import pandas as pd
    from click.testing import CliRunner

    from e2train.bench.ortho import ROW_COLUMNS, main

    (tmp_path / "runs" / "SRIP__seed=1").mkdir(parents=True)
    (tmp_path / "runs" / "SRIP__seed=1" / "summary.json").write_text(json.dumps(
        {"test_accuracy": 0.80, "train_time_s": 5.0, "energy_model_j": 10.0, "energy_ortho_model_j": 0.1}))
    earlier = pd.DataFrame([[p, s, acc, 5.0, 10.0, 0.0, 0.0] for p, s, acc in  # a table from before "sitting"
                            [("SRIP", 0, 0.70), ("SRIP", 1, 0.10), ("none", 0, 0.60)]], columns=ROW_COLUMNS[:-1])
    earlier.to_csv(tmp_path / "earlier.csv", index=False)
    common = ["--data-dir", "x", "--iters", "10", "--results", str(tmp_path / "m"), "--table-only",
              "--out", str(tmp_path / "runs")]
    result = CliRunner().invoke(main, [*common, "--seeds", "1", "--penalties", "SRIP",
                                       "--earlier-rows", str(tmp_path / "earlier.csv")])
    assert result.exit_code == 0, result.output
    rows = pd.read_csv(tmp_path / "m" / "ortho_cifar10.csv")
    assert list(zip(rows["penalty"], rows["seed"], rows["test_accuracy"], strict=True)) == [
        ("none", 0, 0.60), ("SRIP", 0, 0.70), ("SRIP", 1, 0.80)]  # spec order, the rerun seed replaced
    assert list(rows["sitting"])[:2] == ["earlier", "earlier"] and rows["sitting"][2] != "earlier"
    assert "--earlier-rows" in (tmp_path / "m" / "ortho_cifar10.md").read_text()
    unknown = CliRunner().invoke(main, [*common, "--penalties", "SRIP,XO"])
    assert unknown.exit_code != 0 and "unknown penalty XO" in unknown.output
    pd.DataFrame({"penalty": ["SO"]}).to_csv(tmp_path / "other.csv", index=False)
    other = CliRunner().invoke(main, [*common, "--earlier-rows", str(tmp_path / "other.csv")])
    assert other.exit_code != 0 and "not a table of this benchmark" in other.output


@pytest.mark.parametrize("shape", [(144, 32), (32, 144)])
def test_gram_counts_are_the_measured_forward_plus_one_symmetric_product(shape) -> None:
    """The forward Gram products are measured by torch's FLOP counter; the backward is charged as one
    product because the gradient of ||G - I||_F^2 is 4 W (G - I) (or 4 (G - I) W where W is wide),
    checked here against autograd."""
    from torch.utils.flop_counter import FlopCounterMode

    w = _w(*shape).requires_grad_()
    for kind in ("so", "dso", "mc"):
        with FlopCounterMode(display=False) as counter:
            getattr(ortho, kind)(w)
        forward_macs = counter.get_total_flops() // 2
        long = max(shape)
        backward = {"so": forward_macs, "dso": forward_macs, "mc": 2 * long}[kind]
        assert penalty_macs(*shape, kind) == forward_macs + backward
    (grad,) = torch.autograd.grad(ortho.so(w), w)
    g = ortho._gram_minus_identity(w)
    one_product = 4 * (g @ w if shape[1] > shape[0] else w @ g)
    assert torch.allclose(grad, one_product)


def test_slu_gates_are_left_out_of_a_gated_resnet_by_default() -> None:
    """The gate network is a controller (its output is a skip probability), not a feature extractor."""
    from e2train.models import build_model

    model = build_model("resnet8", num_classes=10, in_channels=3, slu_target=0.5)
    names = [name for name, _ in ortho.regularized_layers(model)]
    convs_and_fc = [n for n, m in model.named_modules()
                    if isinstance(m, nn.Conv2d | nn.Linear) and not n.startswith("gates.")]
    assert names == convs_and_fc and any(n.startswith("gates.") for n, _ in model.named_modules())
    assert [n for n, _ in ortho.regularized_layers(model, exclude=())] != names  # opting the gates back in


@settings(max_examples=50, deadline=None)
@given(coef=st.floats(0.0, 10.0), a=st.floats(0.0, 1.0), b=st.floats(0.0, 1.0))
def test_the_paper_schedule_never_rises_and_stays_a_multiple_of_coef(coef, a, b) -> None:
    reg = OrthoRegularizer(nn.Linear(3, 3), OrthoConfig(kind="so", coef=coef, schedule="paper"))
    early, late = sorted((a, b))
    assert reg.coefficient(late) <= reg.coefficient(early) <= coef
    multipliers = [m for _, m in ortho.PAPER_MILESTONES]
    assert any(math.isclose(reg.coefficient(late), coef * m) for m in multipliers)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(2, 8), cols=st.integers(2, 8), iters=st.integers(1, 6), seed=st.integers(0, 10_000))
def test_srip_is_within_the_power_iteration_bound_for_its_iteration_count(rows, cols, iters, seed) -> None:
    """With A = G - I symmetric (eigenvalues l_i, |l_1| largest), a unit start vector with component c on
    l_1's eigenvector and r = |l_2| / |l_1|, k power steps give an estimate between
    |l_1| sqrt(c^2 / (c^2 + r^(2k) (1 - c^2))) and |l_1| (torch.linalg.matrix_norm(ord=2)); more steps
    never lower it (the moments sum l_i^(2k) c_i^2 are log-convex in k)."""
    w = _w(rows, cols, seed)
    gram = w @ w.T if cols > rows else w.T @ w
    a = gram - torch.eye(gram.shape[0], dtype=w.dtype)
    v0 = _w(gram.shape[0], 1, seed + 1)[:, 0]
    eigenvalues, vectors = torch.linalg.eigh(a)
    order = eigenvalues.abs().argsort(descending=True)
    top, second = eigenvalues.abs()[order[:2]].tolist()
    c2 = float((vectors[:, order[0]] @ v0) ** 2 / (v0 @ v0))
    r2k = (second / top) ** (2 * iters) if top > 0 else 0.0
    lower = top * math.sqrt(c2 / (c2 + r2k * (1 - c2))) if c2 > 0 else 0.0
    exact = float(torch.linalg.matrix_norm(a, ord=2))
    est = float(ortho.srip(w, v0, iters=iters)[0])
    assert lower * (1 - 1e-9) - 1e-12 <= est <= exact * (1 + 1e-9) + 1e-12
    assert float(ortho.srip(w, v0, iters=iters + 1)[0]) >= est * (1 - 1e-9) - 1e-12


def test_the_cli_run_charges_the_hand_counted_macs_keeps_srip_vectors_and_reports_the_kind(tmp_path: Path) -> None:
    """e2train train --ortho srip --ortho-persistent: every iteration's mac_ortho is the by-hand count over
    resnet8's convs and fc, the checkpoint holds one vector per layer, the report's breakdown shows it."""
    from click.testing import CliRunner

    from e2train.cli.main import cli
    from e2train.energy.trace import read_trace
    from e2train.models import build_model
    from e2train.report.load import load_run
    from e2train.report.plots import _layer_table
    from e2train.train.checkpoint import load_checkpoint

    run = tmp_path / "srip"
    args = ["train", "--model", "resnet8", "--iters", "2", "--batch-size", "16", "--smd", "0", "--ortho", "srip",
            "--ortho-schedule", "constant", "--ortho-srip-iters", "2", "--ortho-persistent", "--out", str(run)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    model = build_model("resnet8", num_classes=10, in_channels=1)
    shapes = [(m.weight[0].numel(), m.weight.shape[0]) for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    by_hand = sum(3 * (2 + 1) * 2 * rows * cols for rows, cols in shapes)  # (2 steps + final) x 2 mat-vec, x3 backward
    assert read_trace(run)["count_mac_ortho"].tolist() == [by_hand, by_hand]
    vectors = load_checkpoint(run)["ortho"]
    assert len(vectors) == len(shapes) and all(v.shape == (min(r, c),) for v, (r, c) in zip(vectors.values(), shapes))
    assert "mac_ortho" in _layer_table(load_run(run)).columns


def test_the_plain_call_draws_a_fresh_srip_start_per_step() -> None:
    model = nn.Sequential(nn.Linear(8, 6), nn.Linear(6, 4))
    first, again, later = (float(ortho.penalty(model, kind="srip", step=s)) for s in (0, 0, 1))
    assert first == again and first != later


def test_with_every_e2train_technique_the_penalty_runs_only_in_kept_iterations(tmp_path: Path) -> None:
    """8-bit forward, SMD, SLU and PSG together with SRIP under the paper's schedule: iterations SMD skips
    compute and charge no penalty, kept ones before 60 % of the run do, later ones do not (coefficient 0)."""
    from e2train.energy.trace import read_trace
    from e2train.train.loop import Trainer

    cfg = resolve_config("quickstart", overrides={"model": "resnet8", "iters": 10, "batch_size": 16, "smd": 0.5,
                                                  "slu_target": 0.6, "psg": True, "ortho": "srip"})
    Trainer(cfg, tmp_path / "all").run()
    trace = read_trace(tmp_path / "all")
    penalised = ~trace["skipped"] & (trace["iteration"] < 6)
    assert penalised.any() and trace["skipped"].any()
    assert trace.loc[penalised, "ortho_loss"].notna().all() and (trace.loc[penalised, "count_mac_ortho"] > 0).all()
    assert trace.loc[~penalised, "ortho_loss"].isna().all() and (trace.loc[~penalised, "count_mac_ortho"] == 0).all()


def test_the_wide_model_for_the_paper_scale_command_has_wrn_28_10s_size() -> None:
    """36.5 M parameters in Zagoruyko & Komodakis' WRN-28-10; widths 160/320/640, four blocks per stage."""
    from e2train.models import build_model

    model = build_model("wrn28-10", num_classes=10, in_channels=3)
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(36.5e6, rel=0.01)
    assert len(model.blocks) == 12 and [b.conv2.out_channels for b in model.blocks[::4]] == [160, 320, 640]
    assert len(ortho.regularized_layers(model)) == 28
