"""Human-readable outputs of a run: report.md, accuracy plots and the comparison table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def _fmt(mean: float | None, std: float | None = None) -> str:
    if mean is None or (isinstance(mean, float) and np.isnan(mean)):
        return "–"
    return f"{100 * mean:.1f}" + (f" ± {100 * std:.1f}" if std is not None else "")


def method_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table: one row per method with test accuracy mean ± std and LLM requests."""
    lines = [
        "| method | test accuracy % (mean ± std) | n runs | train LLM requests | virtual time (s) |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        accs = r.get("accuracies", [])
        mean = float(np.mean(accs)) if accs else None
        std = float(np.std(accs)) if len(accs) > 1 else None
        req = r.get("train_requests")
        vt = r.get("virtual_time")
        lines.append(
            f"| {r['method']} | {_fmt(mean, std)} | {len(accs)} | {'–' if req is None else int(req)} | "
            f"{'–' if vt is None else f'{vt:.1f}'} |"
        )
    return "\n".join(lines)


def plot_histories(histories: dict[str, list[dict[str, Any]]], out_dir: Path) -> list[Path]:
    """Validation accuracy vs virtual time and vs training LLM requests, one line per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for x_key, x_label, name in (
        ("t", "virtual time (s)", "accuracy_vs_time.png"),
        ("train_requests", "training LLM requests", "accuracy_vs_calls.png"),
    ):
        fig, ax = plt.subplots(figsize=(6, 4))
        for method, hist in histories.items():
            if not hist:
                continue
            xs = [h[x_key] for h in hist]
            ys = [100 * h["val_accuracy_mean"] for h in hist]
            ax.plot(xs, ys, marker="o", label=method)
        ax.set_xlabel(x_label)
        ax.set_ylabel("validation accuracy (%), mean over workers")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        path = out_dir / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


USAGE_COLUMNS = (("requests", "requests", "{:.0f}"), ("cache_hits", "cache hits", "{:.0f}"),
                 ("backend_requests", "computed", "{:.0f}"), ("evaluated_tokens", "tokens run", "{:.0f}"),
                 ("latency_s", "LLM seconds", "{:.1f}"), ("cost", "cost", "{:.4f}"))


def usage_table(total: dict[str, Any], by_phase: dict[str, dict[str, Any]]) -> str:
    """LLM usage per phase and in total: requests (cache hits included), what the backend computed, time, cost.

    Failed attempts, retries and failures get their own line when there were any.
    """
    head = "| phase | " + " | ".join(label for _, label, _ in USAGE_COLUMNS) + " |"
    lines = [head, "|---|" + "---|" * len(USAGE_COLUMNS)]
    for name, row in [*by_phase.items(), ("**total**", total)]:
        lines.append(f"| {name} | " + " | ".join(fmt.format(float(row.get(key, 0))) for key, _, fmt in USAGE_COLUMNS)
                     + " |")
    if any(total.get(k) for k in ("errors", "retries", "failures")):
        lines += ["", f"Failed attempts: {total.get('errors', 0):.0f}, retried: {total.get('retries', 0):.0f}, "
                      f"errors that reached the run: {total.get('failures', 0):.0f}."]
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    *,
    title: str,
    notes: Sequence[str],
    rows: Sequence[dict[str, Any]],
    histories: dict[str, list[dict[str, Any]]],
    prompts: dict[str, str],
    ledger: dict[str, Any] | None = None,
    usage_by_phase: dict[str, dict[str, Any]] | None = None,
    why: Sequence[str] = (),
) -> Path:
    """Write report.md (and its plots) into ``out_dir``.

    ``ledger``: the LLM client's totals; ``usage_by_phase``: the same totals per phase of the run
    (training, selection, test, baselines), so a user sees where the requests and the time went.
    ``why``: one line per exported prompt saying why the selection protocol chose it.
    """
    plots = plot_histories(histories, out_dir)
    parts = [f"# {title}", ""]
    parts += [f"- {n}" for n in notes]
    parts += ["", "## Accuracy per method (test split)", "", method_table(rows), ""]
    parts += ["## Validation accuracy during tuning", ""]
    parts += [f"![{p.stem}]({p.name})" for p in plots]
    if ledger:
        parts += ["", "## LLM usage", "", usage_table(ledger, usage_by_phase or {})]
    if why:
        parts += ["", "## Why these prompts", ""] + [f"- {line}" for line in why]
    parts += ["", "## Tuned prompts", ""]
    for name, text in prompts.items():
        parts += [f"### {name}", "", "```text", text.rstrip(), "```", ""]
    path = out_dir / "report.md"
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return path
