#!/usr/bin/env python3
"""ssmc.ops against PyTorch CPU references, in one run, at the shapes of
bench/RESULTS.md.

    PYTHONPATH=build/python /usr/bin/python3 bench/python/ops_vs_torch.py [--threads 2] [--reps 3]

The PyTorch references are those of bench/torch_baseline.py (mamba_ssm's
selective_scan_ref, the Mamba-2 paper's chunked ssd_minimal, matmul +
masked-softmax attention) plus F.conv1d for the causal convolution and the
chunked form of ssd_minimal for simple GLA (q = C, k = B, v = x, log gate =
g). Each row: the median time of ssmc.ops (the compiled program cached, as a
caller sees it after the first call) and of the reference, their ratio, and
the largest difference between the two outputs relative to the largest
output, so that the two are seen to compute the same thing. The last rows
give what the ssmc.ops layer adds to a call at a tiny shape: the same
function against the compiled entry called directly.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("ops_vs_torch.py: PyTorch is not installed (apt-get install python3-torch); nothing measured")
    sys.exit(0)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch_baseline as tb  # noqa: E402

from ssmc import ops  # noqa: E402


def timed(fn, reps):
    fn()  # warm-up (and, for ssmc, the compile)
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def rel_diff(a, b):
    a, b = a.double(), b.double()
    return float((a - b).abs().max() / max(1.0, float(b.abs().max())))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    rows = []

    def row(name, ssmc_fn, ref_fn, reps=args.reps):
        print(f"ops_vs_torch.py: {name}", file=sys.stderr, flush=True)
        out = ssmc_fn()
        ref = ref_fn()
        t_ssmc = timed(ssmc_fn, max(reps, 5))
        t_ref = timed(ref_fn, reps)
        rows.append((name, t_ssmc, t_ref, rel_diff(out, ref)))

    # selective_scan_fn (1, 1536, 16, 2048), with D, z, delta_bias, softplus
    b, dm, n, L = 1, 1536, 16, 2048
    u, z = torch.randn(b, dm, L), torch.randn(b, dm, L)
    delta = torch.rand(b, dm, L) * 4 - 3
    A = -torch.rand(dm, n) * 3.9 - 0.1
    Bm, Cm = torch.randn(b, n, L), torch.randn(b, n, L)
    D, bias = torch.randn(dm), torch.rand(dm) - 1
    row("selective_scan_fn (1, 1536, 16, 2048)",
        lambda: ops.selective_scan_fn(u, delta, A, Bm, Cm, D, z, bias, delta_softplus=True),
        lambda: tb.selective_scan_ref(u, delta, A, Bm, Cm, D, z, bias))

    # mamba_chunk_scan_combined (B, H, L, N, P) = (1, 12, 2048, 64, 64), one group per head
    bs, h, L, n, p = 1, 12, 2048, 64, 64
    x = torch.randn(bs, L, h, p)
    dt = torch.rand(bs, L, h) * 0.1
    Ah = -torch.rand(h) - 0.05
    Bs, Cs = torch.randn(bs, L, h, n), torch.randn(bs, L, h, n)
    row("mamba_chunk_scan_combined (1, 12, 2048, 64, 64)",
        lambda: ops.mamba_chunk_scan_combined(x, dt, Ah, Bs, Cs, 64),
        lambda: tb.ssd_minimal(x * dt[..., None], dt * Ah, Bs, Cs, 64))

    # chunk_simple_gla (B, T, H, K, V) = (1, 2048, 12, 64, 64)
    q, k, v = (torch.randn(1, 2048, 12, 64) * 0.3 for _ in range(3))
    g = -torch.rand(1, 2048, 12) * 0.1
    row("chunk_simple_gla (1, 12, 2048, 64, 64)",
        lambda: ops.chunk_simple_gla(q, k, v, g)[0],
        lambda: tb.ssd_minimal(v, g, k, q * 64 ** -0.5, 64))

    # causal_conv1d_fn (1, 3072, 2048), W = 4, SiLU (Mamba-130m's conv)
    xc, wc, bc = torch.randn(1, 3072, 2048), torch.randn(3072, 4), torch.randn(3072)
    row("causal_conv1d_fn (1, 3072, 2048, W 4)",
        lambda: ops.causal_conv1d_fn(xc, wc, bc, activation="silu"),
        lambda: F.silu(F.conv1d(xc, wc[:, None], bc, padding=3, groups=3072)[..., :2048]))

    # attention (1, 12, 2048, 64): causal and a 256-token window
    qa, ka, va = (torch.randn(1, 12, 2048, 64) for _ in range(3))
    i = torch.arange(2048)
    causal = i[None, :] <= i[:, None]
    window = causal & (i[None, :] > i[:, None] - 256)
    row("scaled_dot_product_attention causal (1, 12, 2048, 64)",
        lambda: ops.scaled_dot_product_attention(qa, ka, va, is_causal=True),
        lambda: tb.sdpa(qa, ka, va, causal))
    row("scaled_dot_product_attention window 256 (1, 12, 2048, 64)",
        lambda: ops.scaled_dot_product_attention(qa, ka, va, is_causal=True, window=256),
        lambda: tb.sdpa(qa, ka, va, window))

    # decode: selective_state_update (1, 1536, 16)
    st = torch.randn(1, 1536, 16)
    st_ref = st.clone()
    xs, dts, zs = torch.randn(1, 1536), torch.rand(1, 1536) - 1, torch.randn(1, 1536)
    As = -torch.rand(1536, 16) - 0.1
    Bd, Cd, Dd, bd = torch.randn(1, 16), torch.randn(1, 16), torch.randn(1536), torch.rand(1536)

    def torch_step():
        d = F.softplus(dts + bd)
        st_ref.mul_(torch.exp(d[..., None] * As)).add_(d[..., None] * Bd[:, None] * xs[..., None])
        return ((st_ref * Cd[:, None]).sum(-1) + Dd * xs) * F.silu(zs)

    row("selective_state_update (1, 1536, 16)",
        lambda: ops.selective_state_update(st, xs, dts, As, Bd, Cd, Dd, zs, bd, dt_softplus=True),
        torch_step, reps=200)

    # What the ops layer adds at a tiny shape: the function against its
    # compiled entry called directly on the same (already converted) arrays.
    tiny = [np.random.rand(*s).astype(np.float32) for s in ((1, 4, 8), (1, 4, 8), (4, 2), (1, 2, 8), (1, 2, 8))]
    tiny[2] = -tiny[2]
    ops.selective_scan_fn(*tiny)
    entry = ops._entries[ops._last_key[0]][1]

    def per_call(fn, n=2000):
        fn()
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best = min(best, (time.perf_counter() - t0) / n * 1e6)
        return best

    t_ops = per_call(lambda: ops.selective_scan_fn(*tiny))
    t_entry = per_call(lambda: entry(*tiny))
    tt = [torch.from_numpy(a) for a in tiny]
    t_ops_torch = per_call(lambda: ops.selective_scan_fn(*tt))
    t_entry_torch = per_call(lambda: entry(*tt))

    print(f"PyTorch {torch.__version__}, {args.threads} thread(s); ssmc {__import__('ssmc').version}")
    print()
    print("| op, shape | ssmc.ops ms | PyTorch ms | PyTorch / ssmc | max rel. diff |")
    print("| --- | --- | --- | --- | --- |")
    for name, ts, tr, diff in rows:
        print(f"| {name} | {ts:.3f} | {tr:.3f} | {tr / ts:.1f}x | {diff:.1e} |")
    print()
    print("| call at (1, 4, 8, 2), selective_scan_fn | us per call |")
    print("| --- | --- |")
    print(f"| ssmc.ops, NumPy | {t_ops:.1f} |")
    print(f"| compiled entry directly, NumPy | {t_entry:.1f} |")
    print(f"| ssmc.ops, PyTorch | {t_ops_torch:.1f} |")
    print(f"| compiled entry directly, PyTorch | {t_entry_torch:.1f} |")


if __name__ == "__main__":
    main()
