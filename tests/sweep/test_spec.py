"""Sweep specs: expansion into trials, stable names, validation, and the specs shipped with e2train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from e2train.config import resolve_config
from e2train.sweep.spec import SweepSpec, SweepSpecError, load_spec, parse_value, shipped_specs, spec_from_dict


def test_grid_times_seeds_in_a_fixed_order_with_overrides_layered() -> None:
    spec = SweepSpec(base={"preset": "quickstart", "iters": 5, "smd": 0.2},
                     grid={"smd": [0.0, 0.5], "psg": [False, True]}, seeds=[0, 1]).validate()
    trials = spec.trials()
    assert len(trials) == 8
    assert trials[0].name == "psg=false__smd=0.0__seed=0"
    assert trials[0].overrides == {"preset": "quickstart", "iters": 5, "smd": 0.0, "psg": False, "seed": 0}
    assert trials[-1].params == {"psg": True, "smd": 0.5, "seed": 1}


def test_names_do_not_depend_on_the_order_the_grid_is_written_in() -> None:
    a = SweepSpec(grid={"smd": [0.5], "lr": [0.1]}).trials()
    b = SweepSpec(grid={"lr": [0.1], "smd": [0.5]}).trials()
    assert [t.name for t in a] == [t.name for t in b] == ["lr=0.1__smd=0.5__seed=0"]


def test_variants_are_named_and_unsafe_characters_replaced() -> None:
    spec = SweepSpec(variants={"SMD+SLU / fast": {"smd": 0.5}, "8-bit": {}}, seeds=[3]).validate()
    assert [t.name for t in spec.trials()] == ["SMD+SLU-fast__seed=3", "8-bit__seed=3"]
    assert spec.trials()[0].params == {"variant": "SMD+SLU / fast", "seed": 3}


@pytest.mark.parametrize("data,message", [
    ({"grid": {"learning_rate": [0.1]}}, "unknown option(s) learning_rate"),
    ({"base": {"preset": "nope"}}, "unknown preset 'nope'"),
    ({"grid": {"smd": []}}, "non-empty list"),
    ({"grid": {"smd": 0.5}}, "non-empty list"),
    ({"grid": {"seed": [0, 1]}}, "seeds go in 'seeds'"),
    ({"seeds": [0, 0]}, "seeds repeat"),
    ({"seeds": [-1]}, "non-negative integers"),
    ({"retries": -1}, "retries must be"),
    ({"command": "lista train"}, "cannot be swept"),
    ({"variants": {"a": {"lr": 0.1}}, "reference": "b"}, "reference 'b' is not a variant"),
    ({"variants": {"a": {"lr": 0.1}, "b": {"lr": 0.2}}, "grid": {"smd": [0.5]}, "seeds": [0]}, None),
])
def test_bad_specs_name_the_problem(data, message) -> None:
    if message is None:
        assert len(spec_from_dict(data).validate().trials()) == 2
        return
    with pytest.raises(SweepSpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        spec_from_dict(data).validate()


def test_spec_file_keys_and_shape_are_checked(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("grid: {smd: [0, 0.5]}\nsedes: [0]\n")
    with pytest.raises(SweepSpecError, match="unknown key.*sedes"):
        load_spec(tmp_path / "a.yaml")
    with pytest.raises(SweepSpecError, match="not a file, and not a shipped spec"):
        load_spec(tmp_path / "missing.yaml")


def test_flag_values_are_typed_as_yaml_types_them() -> None:
    assert [parse_value(v) for v in ("0.5", "true", "3", "cifar10", "[1, 2]")] == [0.5, True, 3, "cifar10", [1, 2]]


def test_every_shipped_spec_validates_and_every_trial_config_resolves() -> None:
    specs = {p.stem: load_spec(p.stem).validate() for p in shipped_specs()}
    assert {"digits-smoke", "cifar10-ablation"} <= set(specs)
    for spec in specs.values():
        for trial in spec.trials():
            values = {**trial.overrides, "data_dir": "somewhere"}
            resolve_config(values.pop("preset", None), None, values)


# The runs behind measurements/cifar10_ablation.md (b9099ad): `e2train train --preset P --dataset imagefolder
# --iters 400` with the default seed 0, one per method.
COMMITTED_ABLATION_RUNS = (("fp32 baseline", "cifar10-fp32"), ("8-bit baseline", "cifar10-int8"),
                           ("SMD", "cifar10-smd"), ("SMD+SLU", "cifar10-smd-slu"), ("SMD+SLU+PSG", "cifar10-e2train"))


def test_the_ablation_spec_trains_exactly_the_committed_ablation_runs() -> None:
    """Same configuration and seed as the runs of the committed table: the deterministic CPU trainer then gives
    the same numbers."""
    spec = load_spec("cifar10-ablation").validate()
    by_variant = {t.params["variant"]: t for t in spec.trials()}
    assert list(by_variant) == [label for label, _ in COMMITTED_ABLATION_RUNS]
    for label, preset in COMMITTED_ABLATION_RUNS:
        values = {**by_variant[label].overrides, "data_dir": "d"}
        from_spec = resolve_config(values.pop("preset"), None, values)
        from_bench = resolve_config(preset, None, {"dataset": "imagefolder", "data_dir": "d", "iters": 400})
        assert from_spec == from_bench, label


def test_trials_are_submitted_seed_major_in_the_spec_order() -> None:
    from e2train.sweep.runner import submission_order

    spec = SweepSpec(variants={"b": {"smd": 0.5}, "a": {}}, seeds=[2, 0]).validate()
    order = [t.name for t in submission_order(spec.trials(), spec.seeds)]
    assert order == ["b__seed=2", "a__seed=2", "b__seed=0", "a__seed=0"]


def test_a_folder_made_before_a_spec_key_existed_continues(tmp_path: Path) -> None:
    """sweep.json of an earlier version lacks keys added since (here 'reference'): the same sweep, not another."""
    from e2train.sweep.folder import SPEC_FILE
    from e2train.sweep.runner import SweepError, prepare_folder

    spec = SweepSpec(variants={"a": {}}, seeds=[0]).validate()
    older = {k: v for k, v in spec.to_dict().items() if k != "reference"}
    (tmp_path / SPEC_FILE).write_text(json.dumps(older))
    prepare_folder(spec, tmp_path)
    with pytest.raises(SweepError, match="holds a different sweep"):
        prepare_folder(SweepSpec(variants={"a": {}}, seeds=[1]).validate(), tmp_path)
