"""Figures (which apply, what they say) and the HTML page (self-contained, escaped, and clean in Chromium)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from report_fakes import write_power, write_run

from e2train.cli.report import energy_report
from e2train.report.html import render_html, write_html
from e2train.report.load import load_run, load_runs
from e2train.report.plots import build_figures, figure_png
from e2train.report.tables import compare_runs, report_notes
from e2train.sweep.folder import FINISHED
from e2train.sweep.results import write_results
from e2train.sweep.runner import prepare_folder
from e2train.sweep.spec import SweepSpec
from e2train.sweep.trial import run_trial

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _page(run_dirs: list[Path]) -> str:
    runs = load_runs(run_dirs)
    metrics = compare_runs(runs)
    return render_html(runs, metrics, build_figures(runs), report_notes(runs, metrics))


@pytest.fixture(scope="module")
def real_page(real_runs: dict[str, Path]) -> str:
    """The page of the three real runs, rendered once (figures take seconds on a busy machine)."""
    return _page(list(real_runs.values()))


class _Resources(HTMLParser):
    """Every tag name and every URL-bearing attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data", "action") and value is not None:
                self.urls.append((tag, name, value))


# --- figures ------------------------------------------------------------------------------------------


def test_figures_that_apply(tmp_path: Path) -> None:
    bare = load_run(write_run(tmp_path / "bare", layers=False, accuracy=()))
    figures = build_figures([bare])
    assert sorted(figures) == ["breakdown_kinds", "timeline"]  # no layers, evals or measurements
    assert figure_png(figures["timeline"])[:8] == PNG_MAGIC


def test_simulated_measurements_are_labelled_in_figures(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "sim", measured=[(0.02, 0.001)] * 10)
    write_power(run_dir, source="simulated:pl")
    figures = build_figures([load_run(run_dir)])
    assert "SIMULATED" in figures["parity"].axes[0].get_title()
    assert "SIMULATED" in figures["timeline"].axes[0].get_title(loc="left")
    labels = figures["parity"].axes[0].get_legend_handles_labels()[1]
    assert any("MAPE 50.0% over 10 windows" in label for label in labels)


def test_kind_breakdown_bars_add_up_to_the_modelled_total(tmp_path: Path) -> None:
    run = load_run(write_run(tmp_path / "r", skipped=(2,)))
    ax = build_figures([run])["breakdown_kinds"].axes[0]
    heights = sum(patch.get_height() for patch in ax.patches)
    assert heights == pytest.approx(run.summary["energy_model_j"])


# --- the page ------------------------------------------------------------------------------------------


def test_html_is_self_contained(real_page: str) -> None:
    page = real_page
    parsed = _Resources()
    parsed.feed(page)
    assert not {"script", "link", "iframe", "object", "embed"} & set(parsed.tags)
    assert parsed.urls, "the figures should be embedded images"
    for tag, attr, url in parsed.urls:
        assert (tag, attr) == ("img", "src") and url.startswith("data:image/png;base64,"), url[:40]
        assert base64.b64decode(url.split(",", 1)[1])[:8] == PNG_MAGIC
    assert not re.search(r"https?://|url\(|@import", page)
    assert len([t for t in parsed.tags if t == "img"]) == 5


def test_html_carries_provenance_and_warnings(real_page: str) -> None:
    page = real_page
    assert 'class="simulated">SIMULATED measurements (measured)' in page
    assert '<span class="tag-sim">SIMULATED</span>' in page  # in the comparison table's cell
    assert "PRIOR: literature estimate, not a measurement" in page
    assert "Horowitz ISSCC 2014" in page  # the profile's source
    assert "&quot;slu_target&quot;: 0.6" in page  # the E2-Train run's config
    assert "power source</td><td>simulated:pl" in page


def test_html_escapes_run_names(tmp_path: Path) -> None:
    run = write_run(tmp_path / "<b>x</b>")
    page = _page([run])
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page


def test_write_html_is_atomic(tmp_path: Path) -> None:
    path = write_html(tmp_path / "sub" / "r.html", "<!DOCTYPE html><p>x</p>")
    assert path.read_text() == "<!DOCTYPE html><p>x</p>"
    assert [p.name for p in path.parent.iterdir()] == ["r.html"]


# --- headless Chromium -----------------------------------------------------------------------------------


def _headless_chromium(tmp_path: Path) -> list[str]:
    """The command line of a headless Chromium with a throwaway profile (skips the test without one)."""
    chromium = os.environ.get("E2TRAIN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium not found (apt-get install -y chromium, or set E2TRAIN_CHROMIUM)")
    return [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", "--window-size=1280,2400"]


def _render(page: Path, tmp_path: Path) -> str:
    """Screenshot and DOM of ``page``: no console message (the pages have no script, so any is an error), a
    real picture; returns the DOM."""
    base = _headless_chromium(tmp_path)
    shot = tmp_path / "page.png"
    res = subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
    assert shot.read_bytes()[:8] == PNG_MAGIC and shot.stat().st_size > 20_000
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert [line for line in dom.stderr.splitlines() if ":CONSOLE" in line] == []
    return dom.stdout


@pytest.mark.browser
def test_html_renders_in_headless_chromium(real_page: str, tmp_path: Path) -> None:
    dom = _render(write_html(tmp_path / "report.html", real_page), tmp_path)
    assert "<h1>E2-Train energy report</h1>" in dom
    assert dom.count('src="data:image/png;base64,') == 5


@pytest.mark.browser
def test_a_sweep_page_renders_in_headless_chromium(tmp_path: Path) -> None:
    """The sweep report (the page of the CIFAR-10 reproduction): two configurations, both plots."""
    spec = SweepSpec(variants={"8-bit": {"preset": "quickstart", "smd": 0.0, "slu_target": None, "psg": False},
                               "SMD": {"preset": "quickstart"}},
                     base={"model": "resnet8", "iters": 4, "batch_size": 16, "eval_every": 1}, seeds=[0],
                     reference="8-bit").validate()
    out = tmp_path / "sweep"
    prepare_folder(spec, out)
    threads = torch.get_num_threads()
    try:  # a trial sets its own thread count, which other tests in this process must not inherit
        states = {t.name: run_trial(t.name, t.overrides, str(out), 1) for t in spec.trials()}
    finally:
        torch.set_num_threads(threads)
    assert {s["status"] for s in states.values()} == {FINISHED}
    write_results(spec, out, states)
    page = tmp_path / "sweep.html"
    result = CliRunner().invoke(energy_report, [str(out), "--html", str(page)])
    assert result.exit_code == 0, result.output
    dom = _render(page, tmp_path)
    assert "2 of 2 trial(s) finished" in dom and "Δ top-1 vs 8-bit" in dom
    assert dom.count('src="data:image/png;base64,') == 2  # the Pareto plot and accuracy against cumulative energy
