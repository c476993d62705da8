#!/usr/bin/env python3
"""fla's Gated DeltaNet functions through ssmc.ops at Qwen3-Next / fla
shapes, against a plain loop and the recurrent form, in one run.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/delta_rule.py [--threads 2] [--reps 3] [--T 4096 2048]

Rows per T (B = 1, H = 16, K = V = 128, f32, per-step gate, q/k
l2-normalised in the op, default scale, as fla's chunk_gated_delta_rule is
called): `chunk_gated_delta_rule` (the op's chunked WY / UT-transform
form), `fused_recurrent_gated_delta_rule` (the recurrent form,
chunk_size = 0), and the plain loop: fla's naive recurrence in NumPy
float32, one step at a time over all heads at once (decay, prediction,
rank-one update, read-out as batched matrix-vector products). GFLOP/s
count docs/cost-model.md's flops of the recurrent form (per token and
head 7 K V + 2 K + 2 V, plus 6 K per head for the l2 norms), whichever
form runs, over the median wall time; the FMA peak is given with --peak
(343 GFLOP/s: 2 Zen 5 cores). The last column is the largest difference
from the plain loop relative to its largest output.
"""

import argparse
import statistics
import time

import numpy as np

from ssmc import ops


def timed(fn, reps):
    out = fn()  # compiles on the first call
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def plain_loop(q, k, v, g, beta, scale):
    """fla's naive recurrent gated delta rule, float32, state [H, K, V]."""
    _, T, H, K = q.shape
    V = v.shape[-1]
    norm = lambda x: x / np.sqrt(np.sum(x * x, -1, keepdims=True) + 1e-6)  # noqa: E731
    qn, kn = norm(q[0]) * np.float32(scale), norm(k[0])
    S = np.zeros((H, K, V), np.float32)
    o = np.empty((T, H, V), np.float32)
    dec = np.exp(g[0])
    for t in range(T):
        S *= dec[t][:, None, None]
        kt = kn[t]
        pred = np.einsum("hk,hkv->hv", kt, S)
        u = beta[0, t][:, None] * (v[0, t] - pred)
        S += kt[:, :, None] * u[:, None, :]
        o[t] = np.einsum("hk,hkv->hv", qn[t], S)
    return o[None]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--T", type=int, nargs="+", default=[4096, 2048])
    ap.add_argument("--H", type=int, default=16)
    ap.add_argument("--K", type=int, default=128)
    ap.add_argument("--peak", type=float, default=343.0)
    args = ap.parse_args()
    ops.configure(threads=args.threads)
    rng = np.random.default_rng(0)
    H, K = args.H, args.K
    V = K
    print(f"| T | function | ms | GFLOP/s | % of {args.peak:g} GFLOP/s peak | vs plain loop | max rel. diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for T in args.T:
        q = rng.standard_normal((1, T, H, K), dtype=np.float32)
        k = rng.standard_normal((1, T, H, K), dtype=np.float32)
        v = rng.standard_normal((1, T, H, V), dtype=np.float32)
        g = np.log(rng.uniform(0.9, 1.0, (1, T, H))).astype(np.float32)
        beta = rng.uniform(0.0, 1.0, (1, T, H)).astype(np.float32)
        scale = K ** -0.5
        flops = T * (H * (7 * K * V + 2 * K + 2 * V) + H * 6 * K)
        t_plain, ref = timed(lambda: plain_loop(q, k, v, g, beta, scale), 1)
        rows = [("plain loop (NumPy)", t_plain, ref)]
        t, (o, _) = timed(lambda: ops.chunk_gated_delta_rule(
            q, k, v, g, beta, use_qk_l2norm_in_kernel=True), args.reps)
        rows.append(("chunk_gated_delta_rule", t, o))
        t, (o, _) = timed(lambda: ops.fused_recurrent_gated_delta_rule(
            q, k, v, g=g, beta=beta, use_qk_l2norm_in_kernel=True), args.reps)
        rows.append(("fused_recurrent_gated_delta_rule", t, o))
        top = float(np.max(np.abs(ref)))
        for name, t, o in rows:
            gf = flops / t / 1e9
            diff = float(np.max(np.abs(o - ref))) / top
            print(f"| {T} | {name} | {t * 1e3:.1f} | {gf:.1f} | {100 * gf / args.peak:.1f}% | "
                  f"{t_plain / t:.1f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
