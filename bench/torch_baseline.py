#!/usr/bin/env python3
"""PyTorch CPU references at the shapes of the ssmc benchmarks.

    /usr/bin/python3 bench/torch_baseline.py        # 1 and 2 threads

Needs PyTorch (Debian: apt-get install python3-torch); without it the script
says so and exits 0, so it can sit in a benchmark run. Each line is the
median of several calls, in ms, with the same work counters as
ssmc-bench-ops / ssmc-bench-selective-scan, as a markdown table:

- selective_scan: mamba_ssm's `selective_scan_ref` (a Python loop over L
  with einsum per step), the reference people compare kernels against;
- ssd: the chunked "ssd_minimal_discrete" of the Mamba-2 paper (matmuls per
  chunk of 64 plus a scan over chunks), the fast way to run SSD in PyTorch;
- attention: `scaled_dot_product_attention` (PyTorch >= 2.0; before, the
  same as matmuls and a masked softmax), causal, and with a 256-token window,
  both as boolean masks;
- matmul: `torch.mm` of a 3072x768 weight and 768x1536 activations (the
  in_proj of a 130M Mamba prefill), against which ssm-lower-matmul compares.
"""

import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("torch_baseline.py: PyTorch is not installed "
          "(apt-get install python3-torch); nothing measured")
    sys.exit(0)


def timed(fn, reps):
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def sdpa(q, k, v, mask):
    """scaled_dot_product_attention, or (PyTorch < 2.0) the same with
    explicit matmuls and a masked softmax."""
    if hasattr(F, "scaled_dot_product_attention"):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    s = (q @ k.transpose(-2, -1)) * (q.shape[-1] ** -0.5)
    s = s.masked_fill(~mask, float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def selective_scan_ref(u, delta, A, B, C, D, z, bias):
    # mamba_ssm.ops.selective_scan_interface.selective_scan_ref, f32.
    delta = F.softplus(delta + bias[..., None])
    batch, dim, dstate = u.shape[0], A.shape[0], A.shape[1]
    x = A.new_zeros((batch, dim, dstate))
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    ys = []
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[:, None]
    return y * F.silu(z)


def segsum(x):
    T = x.size(-1)
    x = x[..., None].repeat(*([1] * x.dim()), T)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=-1)
    x = x.masked_fill(~mask, 0)
    s = torch.cumsum(x, dim=-2)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool), diagonal=0)
    return s.masked_fill(~mask, -torch.inf)


def ssd_minimal(X, A, B, C, chunk):
    # X [b, l, h, p], A [b, l, h] (already dt * A), B, C [b, l, h, n].
    b, l, h, p = X.shape
    c = l // chunk
    X, A, B, C = [t.reshape(b, c, chunk, *t.shape[2:]) for t in (X, A, B, C)]
    A = A.permute(0, 3, 1, 2)  # b h c l
    A_cumsum = torch.cumsum(A, dim=-1)
    L = torch.exp(segsum(A))
    Y_diag = torch.einsum("bclhn,bcshn,bhcls,bcshp->bclhp", C, B, L, X)
    decay_states = torch.exp(A_cumsum[:, :, :, -1:] - A_cumsum)
    states = torch.einsum("bclhn,bhcl,bclhp->bchpn", B, decay_states, X)
    initial = torch.zeros_like(states[:, :1])
    states = torch.cat([initial, states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(A_cumsum[:, :, :, -1], (1, 0))))
    new_states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)
    states = new_states[:, :-1]
    state_decay_out = torch.exp(A_cumsum)
    Y_off = torch.einsum("bclhn,bchpn,bhcl->bclhp", C, states, state_decay_out)
    return (Y_diag + Y_off).reshape(b, l, h, p)


def progress(what, threads):
    """One line on stderr per measurement (a whole run takes minutes)."""
    print("torch_baseline.py: %s, %d thread(s)" % (what, threads),
          file=sys.stderr, flush=True)


def main():
    torch.manual_seed(0)
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        # selective_scan (1, 1536, 16, 2048)
        Bn, Dm, N, L = 1, 1536, 16, 2048
        u = torch.randn(Bn, Dm, L)
        delta = torch.rand(Bn, Dm, L) * 4 - 3
        A = -torch.rand(Dm, N) * 3.9 - 0.1
        Bm = torch.randn(Bn, N, L)
        Cm = torch.randn(Bn, N, L)
        D = torch.randn(Dm)
        z = torch.randn(Bn, Dm, L)
        bias = torch.rand(Dm) - 1
        progress("selective_scan_ref", threads)
        ms = timed(lambda: selective_scan_ref(u, delta, A, Bm, Cm, D, z, bias), 3)
        rows.append(("selective_scan_ref (1, 1536, 16, 2048)", threads, ms,
                     "%.1f M elements/s" % (Bn * Dm * L / ms / 1e3)))
        # ssd (B, H, L, N, P)
        for (b, h, l, n, p) in ((1, 12, 2048, 64, 64), (4, 32, 4096, 64, 128)):
            X = torch.randn(b, l, h, p)
            dA = -torch.rand(b, l, h) * 0.1
            Bs = torch.randn(b, l, h, n)
            Cs = torch.randn(b, l, h, n)
            progress("ssd chunked (%d, %d, %d, %d, %d)" % (b, h, l, n, p), threads)
            ms = timed(lambda: ssd_minimal(X, dA, Bs, Cs, 64), 3)
            flops = b * h * l * 5.0 * n * p
            rows.append(("ssd chunked (%d, %d, %d, %d, %d)" % (b, h, l, n, p),
                         threads, ms, "%.1f GFLOP/s (recurrence-equivalent)"
                         % (flops / ms / 1e6)))
        # attention (1, 12, 2048, 64)
        q, k, v = (torch.randn(1, 12, 2048, 64) for _ in range(3))
        i = torch.arange(2048)
        causal = i[None, :] <= i[:, None]
        progress("attention", threads)
        ms = timed(lambda: sdpa(q, k, v, causal), 5)
        pairs = 2048 * 2049 / 2
        rows.append(("attention causal (1, 12, 2048, 64)", threads, ms,
                     "%.1f GFLOP/s" % (12 * pairs * 4 * 64 / ms / 1e6)))
        mask = causal & (i[None, :] > i[:, None] - 256)
        ms = timed(lambda: sdpa(q, k, v, mask), 5)
        wpairs = sum(min(t + 1, 256) for t in range(2048))
        rows.append(("attention window 256 (1, 12, 2048, 64)", threads, ms,
                     "%.1f GFLOP/s (visible pairs)" % (12 * wpairs * 4 * 64 / ms / 1e6)))
        # matmul
        W = torch.randn(3072, 768)
        X = torch.randn(768, 1536)
        progress("mm", threads)
        ms = timed(lambda: torch.mm(W, X), 5)
        rows.append(("mm 3072x768 @ 768x1536", threads, ms,
                     "%.1f GFLOP/s" % (2 * 3072 * 768 * 1536 / ms / 1e6)))
    print("PyTorch %s, %s" % (torch.__version__, torch.__config__.parallel_info()
                              .splitlines()[0]))
    print()
    print("| reference | threads | ms | rate |")
    print("| --- | --- | --- | --- |")
    for name, threads, ms, rate in rows:
        print("| %s | %d | %.2f | %s |" % (name, threads, ms, rate))


if __name__ == "__main__":
    main()
