"""One self-contained HTML page: tables, figures as base64 PNG, configs and energy-profile provenance.

Self-contained means the file is the whole report: no script, no stylesheet, font or image fetched from
anywhere, so it can be mailed, archived next to the run, or opened offline years later and look the
same. Every string from a run directory is escaped; nothing in a run can inject markup.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from e2train.report.load import Run
from e2train.report.plots import figure_png
from e2train.report.tables import RunMetrics, fmt_j, fmt_pct, table_rows

FIGURE_TITLES = {
    "accuracy_vs_energy": "Accuracy against cumulative energy",
    "pareto": "Accuracy against modelled energy per configuration (mean ± std over seeds)",
    "breakdown_kinds": "Modelled energy by operation kind",
    "timeline": "Energy per iteration",
    "parity": "Model versus measurement",
    "breakdown_layers": "Modelled energy by layer",
}

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; }
table { border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; vertical-align: top; }
th { background: #f2f2f2; } td:first-child, th:first-child { text-align: left; }
table.kv td { text-align: left; } table.kv td:first-child { color: #555; white-space: nowrap; }
.note { background: #fff8e1; border-left: 4px solid #f0b400; padding: 0.5em 0.8em; margin: 0.5em 0; }
.simulated { background: #fde8e8; border-left: 6px solid #c00000; padding: 0.6em 0.8em; margin: 0.5em 0;
             font-weight: bold; color: #900000; }
.tag-sim { color: #fff; background: #c00000; padding: 0 0.3em; border-radius: 3px; font-weight: bold; }
.tag-prior { color: #5a4500; background: #ffe8a0; padding: 0 0.3em; border-radius: 3px; }
.warn { color: #8a4b00; } figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 0.85em; }
.muted { color: #666; font-size: 0.9em; }
"""


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def table_html(header: list[str], rows: list[list[str]], css_class: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    cls = f' class="{css_class}"' if css_class else ""
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(text: str) -> str:
    """Escape, then make the SIMULATED marker impossible to miss."""
    escaped = esc(text)
    return escaped.replace("SIMULATED", '<span class="tag-sim">SIMULATED</span>')


def _kv(pairs: list[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><td>{esc(k)}</td><td>{esc(v)}</td></tr>" for k, v in pairs)
    return f'<table class="kv"><tbody>{rows}</tbody></table>'


def figure_html(name: str, fig: Figure) -> str:
    data = base64.b64encode(figure_png(fig)).decode("ascii")
    title = FIGURE_TITLES.get(name, name)
    return (f'<figure id="fig-{esc(name)}"><img alt="{esc(title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(title)}</figcaption></figure>")


def _profile_section(run: Run) -> str:
    p = run.profile
    tag = ('<span class="tag-prior">PRIOR: literature estimate, not a measurement</span>' if p.is_prior
           else esc(p.kind))
    parts = [f"<h4>Energy profile: {esc(p.name)} {tag}</h4>"]
    if not p.available:
        missing = esc(p.path or "(no path recorded)")
        parts.append(f'<p class="warn">The profile file {missing} is not available: its provenance cannot be '
                     "shown.</p>")
        return "".join(parts)
    pairs: list[tuple[str, Any]] = [("file", p.path), ("kind", p.kind), ("source", p.source)]
    pairs += [(f"provenance: {k}", v if isinstance(v, str) else json.dumps(v))
              for k, v in p.provenance.items()]
    if p.static_power_w is not None:
        pairs.append(("static power", f"{p.static_power_w:g} W"))
    if p.clock_hz is not None:
        pairs.append(("clock", f"{p.clock_hz / 1e6:g} MHz"))
    parts.append(_kv(pairs))
    if p.energy_pj:
        parts.append(table_html(["operation", "energy (pJ)"], [[k, f"{v:g}"] for k, v in p.energy_pj.items()]))
    return "".join(parts)


def _power_section(run: Run, m: RunMetrics) -> str:
    if run.power is None and m.energy_measured_j is None:
        return "<h4>Measured energy</h4><p>None: the run had no power source (<code>--power</code>).</p>"
    parts = ["<h4>Measured energy</h4>"]
    if run.measured_simulated:
        parts.append('<div class="simulated">SIMULATED: these joules come from synthetic power rails, '
                     "not from a sensor. They exercise the pipeline; they measure nothing.</div>")
    pairs: list[tuple[str, Any]] = []
    if m.energy_measured_j is not None:
        bounds = (f"{m.energy_measured_err_method or '-'}; bounds: all independent "
                  f"± {fmt_j(m.energy_measured_err_indep_j)}, all correlated ± "
                  f"{fmt_j(m.energy_measured_err_linear_j)}")
        pairs += [("measured (net of idle)",
                   f"{fmt_j(m.energy_measured_j)} ± {fmt_j(m.energy_measured_err_j)} (1σ)"),
                  ("error combined", bounds),
                  ("measured gross", fmt_j(m.energy_measured_gross_j)),
                  ("iterations measured", f"{m.measured_iterations} of {m.iterations}"),
                  ("windows shorter than the sensor refresh", m.measured_short_windows),
                  ("modelled energy of the measured iterations", fmt_j(m.energy_model_on_measured_j)),
                  ("model vs measured MAPE (per iteration)", fmt_pct(m.model_vs_measured_mape))]
    if run.power is not None:
        pw = run.power
        pairs += [("power source", pw.source), ("rails", ", ".join(pw.rails)),
                  ("rail notes", ", ".join(n for n in pw.rail_notes if n) or "-"),
                  ("sample rate", "-" if pw.rate_hz is None else f"{pw.rate_hz:g} Hz"),
                  ("samples", f"{pw.samples} over {pw.duration_s:.1f} s"),
                  ("idle baseline", "not measured" if pw.baseline_power_w is None
                   else f"{pw.baseline_power_w:.4g} W")]
    parts.append(_kv(pairs))
    return "".join(parts)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def _run_section(run: Run, m: RunMetrics) -> str:
    stats = [("path", str(run.path)), ("test accuracy", fmt_pct(m.test_accuracy)),
             ("test executed fraction (SLU)", fmt_pct(m.test_executed_fraction)),
             ("iterations (planned, SMD-skipped)", f"{m.iterations} ({m.iterations_planned}, "
                                                   f"{m.iterations_skipped})"),
             ("SLU executed fraction (train)", fmt_pct(m.slu_executed_fraction)),
             ("PSG recomputed fraction: kernel (per entry) / software (rows)",
              f"{fmt_pct(m.psg_recompute_fraction_hw)} / {fmt_pct(m.psg_recompute_fraction_sw)}"),
             ("modelled energy: compute / DRAM / static",
              f"{fmt_j(m.energy_compute_model_j)} / {fmt_j(m.energy_dram_model_j)} / "
              f"{fmt_j(m.energy_static_model_j)}"),
             ("8-bit / fp32 baseline (modelled)",
              f"{fmt_j(m.energy_baseline8_model_j)} / {fmt_j(m.energy_baseline32_model_j)}"),
             ("wall time / training time", f"{_seconds(m.wall_time_s)} / {_seconds(m.train_time_s)}")]
    parts = [f'<h3 id="run-{esc(run.name)}">{esc(run.name)}</h3>', _kv(stats)]
    for text in m.caveats:
        parts.append(f'<p class="note">{_cell(text)}</p>')
    for text in m.baseline_caveats:
        parts.append(f'<p class="note">* Against the baseline run: {esc(text)}</p>')
    for text in m.warnings:
        parts.append(f'<p class="warn">Warning: {esc(text)}</p>')
    parts.append(_profile_section(run))
    parts.append(_power_section(run, m))
    parts.append(f"<h4>Configuration</h4><pre>{esc(json.dumps(run.config, indent=2, sort_keys=True))}</pre>")
    return "<section>" + "".join(parts) + "</section>"


def render_html(runs: list[Run], metrics: list[RunMetrics], figures: dict[str, Figure], notes: list[str],
                title: str = "E2-Train energy report") -> str:
    """The whole page as a string; ``runs`` and ``metrics`` are parallel lists."""
    header, rows = table_rows(metrics)
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    note_html = "".join(
        f'<div class="{"simulated" if n.startswith("SIMULATED") else "note"}">{esc(n)}</div>' for n in notes)
    ordered = [n for n in FIGURE_TITLES if n in figures] + [n for n in figures if n not in FIGURE_TITLES]
    figures_block = "".join(figure_html(name, figures[name]) for name in ordered)
    sections = "".join(_run_section(r, m) for r, m in zip(runs, metrics))
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<h1>{esc(title)}</h1>
<p class="muted">{len(runs)} run(s); generated {esc(generated)} by <code>energy-report</code>.</p>
{note_html}
<h2>Comparison</h2>
{table_html(header, rows)}
<h2>Figures</h2>
{figures_block or "<p>No figures apply to these runs.</p>"}
<h2>Runs</h2>
{sections}
</body>
</html>
"""


def page_html(title: str, subtitle: str, body: str) -> str:
    """A self-contained page in this report's style around ``body`` (already escaped HTML)."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n<title>{esc(title)}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{esc(title)}</h1>\n"
            f'<p class="muted">{esc(subtitle)}</p>\n{body}\n</body>\n</html>\n')


def write_html(path: str | Path, page: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
    return path
