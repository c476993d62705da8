#!/usr/bin/env python3
"""Plots the CSV tables ssmc-tasks writes: one PNG per claim.

usage: plot_tasks.py OUTDIR

Reads OUTDIR/<table>.csv for every table it knows and writes
OUTDIR/<table>.png next to it; tables that are absent are skipped.
Needs matplotlib (Debian: python3-matplotlib). ssmc-tasks carries this
file, built in when it is compiled, and runs that copy.
"""

import csv
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def rows(out, name):
    path = os.path.join(out, name + ".csv")
    if not os.path.exists(path):
        return None
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def pct(s):
    return float(s.rstrip("%"))


def save(fig, out, name):
    fig.tight_layout()
    fig.savefig(os.path.join(out, name + ".png"), dpi=110)
    plt.close(fig)


def copy_onehot(out):
    r = rows(out, "copy_onehot")
    if not r:
        return
    Ls = sorted({int(x["L"]) for x in r})
    Ns = sorted({int(x["state N"]) for x in r})
    acc = {(int(x["L"]), int(x["state N"])): pct(x["token accuracy"]) for x in r}
    grid = [[acc.get((L, N), float("nan")) for N in Ns] for L in Ls]
    fig, ax = plt.subplots(figsize=(1.2 * len(Ns) + 2, 0.8 * len(Ls) + 1.5))
    im = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, origin="lower")
    ax.set_xticks(range(len(Ns)), [str(n) for n in Ns])
    ax.set_yticks(range(len(Ls)), [str(L) for L in Ls])
    ax.set_xlabel("state size N")
    ax.set_ylabel("sequence length L")
    for i, L in enumerate(Ls):
        for j, N in enumerate(Ns):
            v = grid[i][j]
            if not math.isnan(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center",
                        color="white" if v < 60 else "black", fontsize=8)
    ax.set_title("COPY, one-hot keys: token accuracy (%)\nexact iff N >= L")
    fig.colorbar(im, ax=ax)
    save(fig, out, "copy_onehot")


def copy_random(out):
    r = rows(out, "copy_random")
    if not r:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for N in sorted({int(x["state N"]) for x in r}):
        pts = sorted((float(x["(L-1)/N"]), pct(x["token accuracy"]))
                     for x in r if int(x["state N"]) == N)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=f"N={N}")
    law = sorted((float(x["(L-1)/N"]), pct(x["predicted by (L-1)/N law"])) for x in r)
    ax.plot([p[0] for p in law], [p[1] for p in law], "k--", lw=1,
            label="(L-1)/N law")
    ax.set_xscale("log")
    ax.set_xlabel("(L - 1) / N")
    ax.set_ylabel("token accuracy (%)")
    ax.set_title("COPY, random keys: accuracy vs interference (L-1)/N")
    ax.legend(fontsize=7)
    save(fig, out, "copy_random")


def copy_decay(out):
    r = rows(out, "copy_decay_curve")
    if not r:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for key in sorted({(x["element type"], x["a"]) for x in r}):
        pts = [(int(x["distance"]), float(x["copied fraction"]))
               for x in r if (x["element type"], x["a"]) == key]
        ax.plot([p[0] for p in pts], [p[1] for p in pts],
                label=f"{key[0]}, a={key[1]}")
        a = float(key[1])
        bits = 24 if key[0] == "f32" else 8
        ax.axvline(bits * math.log(2) / math.log(1 / a), ls=":", color="gray")
    ax.set_xlabel("distance d = L - 1 - j")
    ax.set_ylabel("fraction copied")
    ax.set_title("COPY with decay: limit ln(1/eps)/ln(1/a) (dotted)")
    ax.legend(fontsize=7)
    save(fig, out, "copy_decay_curve")


def mqar(out):
    r = rows(out, "mqar")
    if not r:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    lin = [x for x in r if x["model"] == "linear attention"]
    for key in sorted({(int(x["sequence"]), int(x["pairs"])) for x in lin}):
        pts = sorted((int(x["state N"]), pct(x["accuracy"]))
                     for x in lin if (int(x["sequence"]), int(x["pairs"])) == key)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-",
                label=f"seq {key[0]}, {key[1]} pairs")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("state size N (state = N x 128)")
    ax.set_ylabel("recall accuracy (%)")
    ax.set_title("MQAR: the state needed grows with the pairs\n"
                 "(softmax attention: 100% at every size)")
    ax.legend(fontsize=7)
    save(fig, out, "mqar")


def dp(out):
    r = rows(out, "dp_cot")
    if not r:
        return
    labels = []
    full, small = [], []
    groups = {}
    for x in r:
        key = x["problem"] + "\n" + x["size"]
        groups.setdefault(key, {})["full" if x["model state"].startswith("O(T)") else "small"] = pct(x["answer accuracy"])
    for key, v in groups.items():
        labels.append(key)
        full.append(v.get("full", float("nan")))
        small.append(v.get("small", float("nan")))
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(labels)), 4))
    xs = range(len(labels))
    ax.bar([i - 0.2 for i in xs], full, 0.4, label="state O(T)")
    ax.bar([i + 0.2 for i in xs], small, 0.4, label="state O(m)")
    ax.set_xticks(list(xs), labels, fontsize=7)
    ax.set_ylabel("answer accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("DP with chain-of-thought: O(T) state solves all; O(m) only the local DP")
    ax.legend(fontsize=8)
    save(fig, out, "dp_cot")


def cost(out):
    r = rows(out, "cost")
    if not r:
        return
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for m in dict.fromkeys(x["model"] for x in r):
        pts = sorted((int(x["T"]), float(x["total ms"]), int(x["carried bytes per token"]))
                     for x in r if x["model"] == m)
        a1.plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=m)
        a2.plot([p[0] for p in pts], [p[2] for p in pts], "o-", label=m)
    for ax, title, ylabel in ((a1, "total generation time", "ms"),
                              (a2, "memory carried per token", "bytes")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("generated tokens T")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.legend(fontsize=6)
    save(fig, out, "cost")


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    for plot in (copy_onehot, copy_random, copy_decay, mqar, dp, cost):
        plot(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
