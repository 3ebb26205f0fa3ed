#!/usr/bin/env python3
"""Plots of a VBU experiment directory (written by `unlearn experiment configs/moons_vbu.json`).

    python3 scripts/plot.py DIR     ->  DIR/kl_vs_lambda.png, DIR/maps.png (2-D data only)

Needs matplotlib (Debian: python3-matplotlib); reads only the CSV files the experiment wrote.
"""
import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ZERO_AT = 1e-12  # where λ = 0 sits on the log axis (labelled "0")


def read_rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def underflowed(r):
    """A threshold given as ln λ whose λ is below the smallest double (reported as 0): no place on
    the λ axis, so it is left out of the plot (results.csv has it)."""
    ln = r.get("log_lambda") or ""
    return float(r["lambda"] or "nan") == 0 and ln not in ("", "-inf") and math.isfinite(float(ln))


def kl_vs_lambda(out_dir, rows):
    skipped = [r for r in rows if r["lambda"] and underflowed(r)]
    if skipped:
        print("plot.py: ln λ = %s left out of kl_vs_lambda.png (λ underflows)"
              % ", ".join(sorted({r["log_lambda"] for r in skipped})), file=sys.stderr)
    rows = [r for r in rows if not (r["lambda"] and underflowed(r))]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    styles = {"eubo": ("EUBO", "o-"), "rkl": ("reverse KL", "s-"), "rkl_closed": ("reverse KL (closed form)", "^--")}
    full = {r["method"]: r for r in rows if not r["lambda"]}
    for ax, key, title in ((axes[0], "kl_erased", "on erased data D_e"), (axes[1], "kl_remaining", "on remaining data D_r")):
        for method, (label, style) in styles.items():
            pts = sorted(((float(r["lambda"]) or ZERO_AT, float(r[key + "_mean"]), float(r[key + "_std"]))
                          for r in rows if r["method"] == method), key=lambda t: t[0])
            if not pts:
                continue
            xs, ys, es = zip(*pts)
            # Log axis: a ±std bar may not reach below zero, so the lower bar stops at 90 % of the mean.
            lower = [min(e, 0.9 * y) for y, e in zip(ys, es)]
            ax.errorbar(xs, ys, yerr=[lower, es], fmt=style, capsize=3, label=label, alpha=0.85)
        if "full" in full:
            ax.axhline(float(full["full"][key + "_mean"]), color="k", ls=":", label="full (no unlearning)")
        if "retrain" in full:
            ax.axhline(float(full["retrain"][key + "_mean"]), color="grey", ls="-.", lw=0.8,
                       label="retrained (MC noise floor)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("λ (0 drawn at 1e-12)")
        ax.set_ylabel("averaged KL[q(y|x,D_r) ‖ q̃(y|x)]")
        ax.set_title("averaged KL " + title)
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "kl_vs_lambda.png"), dpi=120)
    plt.close(fig)


def maps(out_dir):
    maps_path = os.path.join(out_dir, "maps.csv")
    pts_path = os.path.join(out_dir, "points.csv")
    if not (os.path.exists(maps_path) and os.path.exists(pts_path)):
        return
    rows = read_rows(maps_path)
    names = [k for k in rows[0].keys() if k not in ("x1", "x2")]
    n = int(round(math.sqrt(len(rows))))
    xs = [float(r["x1"]) for r in rows[:n]]
    ys = [float(rows[i * n]["x2"]) for i in range(n)]
    pts = read_rows(pts_path)
    cols = min(4, len(names))
    nrows = (len(names) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 3.3 * nrows), squeeze=False)
    for k, name in enumerate(names):
        ax = axes[k // cols][k % cols]
        z = [[float(rows[i * n + j][name]) for j in range(n)] for i in range(n)]
        cs = ax.contourf(xs, ys, z, levels=[i / 10 for i in range(11)], cmap="RdBu_r", vmin=0, vmax=1)
        ax.contour(xs, ys, z, levels=[0.5], colors="k", linewidths=0.8)
        for erased, marker in (("0", "o"), ("1", "x")):
            sel = [p for p in pts if p["erased"] == erased]
            ax.scatter([float(p["x1"]) for p in sel], [float(p["x2"]) for p in sel],
                       c=["white" if p["label"] == "0" else "black" for p in sel], marker=marker, s=12,
                       linewidths=0.5)
        ax.set_title(" λ=".join(name.rsplit("_", 1)), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    for k in range(len(names), nrows * cols):
        axes[k // cols][k % cols].axis("off")
    fig.colorbar(cs, ax=axes, shrink=0.8, label="p(y=1|x)")
    fig.savefig(os.path.join(out_dir, "maps.png"), dpi=110)
    plt.close(fig)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: plot.py EXPERIMENT_DIR")
    out_dir = sys.argv[1]
    kl_vs_lambda(out_dir, read_rows(os.path.join(out_dir, "results.csv")))
    maps(out_dir)


if __name__ == "__main__":
    main()
