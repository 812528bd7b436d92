"""Plot helpers (matplotlib, Agg backend: no display needed). Other modules may add functions.

`bar_chart_ci`: grouped bars of mean episode reward with 95% CI error bars, one group per
scenario (e.g. v0, v1), one bar per method, optional published reference values as markers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(fig, path, *, dpi: int) -> Path:
    """Lay out, write the PNG (creating its folder) and close the figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def bar_chart_ci(table: Mapping[str, Mapping[str, Mapping]], path, *, published: Mapping | None = None,
                 title: str = "", ylabel: str = "mean episode reward") -> Path:
    """table[group][method] = {"mean": float, "ci95": float}; published[group][method] = float.
    Writes a PNG to `path` and returns it."""
    groups = list(table)
    methods = []
    for g in groups:
        methods += [m for m in table[g] if m not in methods]
    width = 0.8 / max(len(methods), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(methods) * len(groups)), 4.5))
    x = np.arange(len(groups))
    for i, method in enumerate(methods):
        means = [table[g].get(method, {}).get("mean", np.nan) for g in groups]
        cis = [table[g].get(method, {}).get("ci95", 0.0) or 0.0 for g in groups]
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, means, width, yerr=cis, capsize=3, label=method)
        if published:
            ref = [published.get(g, {}).get(method, np.nan) for g in groups]
            ax.scatter(pos, ref, marker="_", s=400, color="black", zorder=3,
                       label="OR-Gym published" if i == 0 else None)
    ax.set_xticks(x)
    ax.set_xticklabels(groups)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path, dpi=120)


__all__ = ["bar_chart_ci", "cost_vs_sigma", "cost_vs_sigma_panels", "learning_curve"]


def learning_curve(timesteps, returns, path, *, title: str = "PPO learning curve",
                   ylabel: str = "mean training episode return (stochastic policy)"):
    """Training return against decisions seen; `returns` [updates] or [seeds, updates]
    (one line per seed). Added by the PPO brain (sc_jax.agents)."""
    returns = np.atleast_2d(np.asarray(returns, np.float64))
    steps = np.asarray(timesteps, np.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    for i, row in enumerate(returns):
        ax.plot(steps, row, lw=1.2, label=f"seed {i}" if len(returns) > 1 else None)
    ax.set_xlabel("decisions (env steps)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(returns) > 1:
        ax.legend(fontsize=8)
    return _save(fig, path, dpi=100)


def cost_vs_sigma(costs: Mapping[str, Sequence[float]], sigma_levels, path, *,
                  title: str = "hybrid method", ylabel: str = "total cost per episode (all products)"):
    """One line per method: cost at each forecast-uncertainty level sigma_max (experiments/hybrid.py)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for method, values in costs.items():
        ax.plot(list(sigma_levels), list(values), marker="o", lw=1.2, label=method)
    ax.set_xlabel("sigma_max (forecast uncertainty)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path, dpi=100)


def cost_vs_sigma_panels(panels: Mapping[str, Mapping[str, Mapping]], path, *, title: str = "",
                         ylabel: str = "cost per episode", published: Mapping | None = None):
    """The hybrid sample's figure layout (experiments/reproduce_hybrid.py): one panel per entry of
    `panels` (e.g. per cost ratio), cost against forecast sigma_max, one line per method (the mean)
    with a +-1 std band. panels[panel][method] = {"sigma": [...], "mean": [...], "std": [...]};
    published[panel][name] = {"sigma": [...], "mean": [...]} adds dashed reference lines."""
    names = list(panels)
    fig, axes = plt.subplots(1, max(len(names), 1), figsize=(5.2 * max(len(names), 1), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for method, row in panels[name].items():
            sigma = np.asarray(row["sigma"], np.float64)
            mean = np.asarray(row["mean"], np.float64)
            std = np.nan_to_num(np.asarray(row.get("std", np.zeros_like(mean)), np.float64))
            (line,) = ax.plot(sigma, mean, marker="o", ms=3, lw=1.3, label=method)
            ax.fill_between(sigma, mean - std, mean + std, color=line.get_color(), alpha=0.15, lw=0)
        for label, row in ((published or {}).get(name) or {}).items():
            ax.plot(row["sigma"], row["mean"], ls="--", lw=1.0, color="gray" if "mip-mixed" in label.lower() else "black",
                    label=label)
        ax.set_title(str(name), fontsize=9)
        ax.set_xlabel("sigma_max (forecast uncertainty)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=100)
