#!/usr/bin/env python3
"""PyTorch baselines for ssmc-gpu-bench, on the same GPU and shapes.

Prints a markdown table: the device-to-device copy bandwidth (bytes read +
written, as ssmc-gpu-bench counts it), scaled_dot_product_attention (causal,
f32 and bf16) at (1, 16, 4096, 64), grouped conv1d + SiLU at (1, 1536, 2048,
W 4), and the Mamba-1 selective scan written as an eager PyTorch loop over L
(what a program without a fused kernel runs) at (1, 1536, 2048, N 16).
Times are CUDA-event medians of --reps runs after a warm-up.
"""
import argparse
import sys

import torch
import torch.nn.functional as F


def timed(fn, reps):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    times.sort()
    return times[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("SKIP: torch sees no CUDA device")
        return 77
    dev = torch.device("cuda")
    print(f"device 0: {torch.cuda.get_device_name(0)} (torch {torch.__version__})")

    n = (256 << 20) // 4
    a = torch.ones(n, device=dev)
    b = torch.empty_like(a)
    ms = timed(lambda: b.copy_(a), max(args.reps, 20))
    copy = 2 * a.numel() * 4 / (ms * 1e-3) / 1e9
    print(f"device-to-device copy: {copy:.1f} GB/s (bytes read + written, 256 MiB copies)\n")
    print("| op | shape | ms | MB moved | GB/s | of copy | |")
    print("|---|---|---|---|---|---|---|")

    def row(op, shape, ms, bytes_, flops=0.0):
        gbs = bytes_ / (ms * 1e-3) / 1e9
        extra = f"{flops / (ms * 1e-3) / 1e9:.0f} GFLOP/s" if flops else ""
        print(f"| {op} | {shape} | {ms:.3f} | {bytes_ / 1e6:.1f} | {gbs:.1f} | "
              f"{100 * gbs / copy:.0f}% | {extra} |", flush=True)

    H, L, d = 16, 4096, 64
    for dtype, name in ((torch.float32, "f32"), (torch.bfloat16, "bf16")):
        q, k, v = (torch.rand(1, H, L, d, device=dev, dtype=dtype) * 2 - 1 for _ in range(3))
        ms = timed(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True), args.reps)
        row(f"sdpa causal {name}", "(1, 16, 4096, d 64)", ms,
            4 * H * L * d * q.element_size(), 2.0 * H * L * L * d)

    Dm, L = 1536, 2048
    x = torch.rand(1, Dm, L, device=dev) * 2 - 1
    w = torch.rand(Dm, 1, 4, device=dev) * 2 - 1
    bias = torch.rand(Dm, device=dev) * 2 - 1
    ms = timed(lambda: F.silu(F.conv1d(x, w, bias, padding=3, groups=Dm)[..., :L]), args.reps)
    row("conv1d + silu", "(1, 1536, 2048, W 4)", ms, 2 * Dm * L * 4)

    N = 16
    u = torch.rand(1, Dm, L, device=dev) * 2 - 1
    dt = torch.rand(1, Dm, L, device=dev) * 4 - 3
    z = torch.rand(1, Dm, L, device=dev) * 4 - 2
    A = -(torch.rand(Dm, N, device=dev) * 3.9 + 0.1)
    B = torch.rand(1, N, L, device=dev) * 2 - 1
    C = torch.rand(1, N, L, device=dev) * 2 - 1
    D = torch.rand(Dm, device=dev) * 2 - 1
    db = torch.rand(Dm, device=dev) * 1.5 - 1

    def scan():
        delta = F.softplus(dt + db[None, :, None])
        h = torch.zeros(1, Dm, N, device=dev)
        ys = []
        for t in range(L):
            h = torch.exp(delta[:, :, t, None] * A) * h + \
                (delta[:, :, t] * u[:, :, t])[..., None] * B[:, None, :, t]
            ys.append((h * C[:, None, :, t]).sum(-1))
        y = torch.stack(ys, dim=-1) + D[None, :, None] * u
        return y * F.silu(z)

    ms = timed(scan, max(1, min(args.reps, 3)))
    row("selective_scan (eager loop)", "(1, 1536, 2048, N 16)", ms, 4 * (4 * Dm * L + 2 * N * L))
    return 0


if __name__ == "__main__":
    sys.exit(main())
