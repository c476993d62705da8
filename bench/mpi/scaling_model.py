#!/usr/bin/env python3
"""Time model of sequence parallelism at R = 2..1024 ranks (docs/distributed.md).

From one measured op -- the one-process time T1 at L steps, the state and
decay sizes -- and a stated network (bandwidth, per-message latency), the
time of one call on R ranks:

  compute  = 2 * T1 / R           every rank but 0 scans its slice twice,
                                  and rank 0's state must be known before
                                  the second scan (critical path: 2 slices;
                                  selective_scan, and ssd or linear
                                  attention outside the correction's forms)
           = (1 + c) * T1 / R     with --corrected (ssd, unnormalised linear
                                  attention, f32): the ranks correct their
                                  zero-state outputs, c = --correction (the
                                  correction's time as a fraction of a run)
  decay    = small (vectorised sums over the slice; neglected)
  combine  = all-gather: ceil(log2 R) * alpha + (R - 1) * m / beta
                         + (R - 1) * n * t_fold   (rank R-1 folds R-1 maps)
             chain:      (R - 1) * (alpha + s / beta + n * t_fold)
             exscan:     ceil(log2 R) * (alpha + m / beta + 2 n t_fold)
                         (a parallel prefix of the affine maps: not built)

with m = bytes of one rank's (decay, state) pair, s = bytes of a state,
n = state elements, t_fold = time of one fused multiply-add on the CPU.

With --matrix-k K (ssm.delta_rule: P is a dense K x K matrix per head,
--decay = heads * K^2, --state = heads * K * V) a fold costs K multiply-adds
per state element (K^2 V per head), exscan's composition P_b P_a K per
decay element, and the ranks but 0 run the op twice on their slice (from
zero, and for P with V = K columns: K / V of a run), then correct their
outputs (a fraction --correction of a run; 0.04 measured at K = V = 32),
so

  compute  = (1 + K / V + correction) * T1 / R   (no rescan)

Causal softmax attention (--attention-kv F: K/V floats per step,
B * Hkv * (d + dv)) has no state: its K/V blocks of L/R steps,
b = 4 F L / R bytes, travel along the ring while each rank folds the block
it holds. A full block costs c = 2 T1 / R^2 (T1 ~ L^2 / 2), the diagonal
one c / 2; the last rank sees every block and bounds the call:

  attention = ceil(log2 R) * alpha        (all-gather of the slice lengths)
              + c / 2 + (R - 1) * max(c, alpha + b / beta)

Rank r < R - 1 sends r + 1 blocks (rank R - 2 the most, (R - 1) b), the
last rank none.

  python3 bench/mpi/scaling_model.py --t1-ms 33.7 --state 1024 --decay 1024
  python3 bench/mpi/scaling_model.py --name ssd --t1-ms 106.5 --state 4096 \
      --decay 4 --corrected --correction 0.4
  python3 bench/mpi/scaling_model.py --name delta_rule --t1-ms 100 \
      --state 4096 --decay 4096 --matrix-k 32
  python3 bench/mpi/scaling_model.py --name attention --t1-ms 180 --len 4096 \
      --attention-kv 256 --state 0
"""
import argparse
import math


def model(t1_ms, n, npd, gbps, alpha_us, fold_ns, ranks, matrix_k=0,
          correction=0.0, corrected=False):
    beta = gbps * 1e9 / 8  # bytes per second
    m = 4 * (n + npd)
    s = 4 * n
    alpha = alpha_us * 1e-6
    fold = fold_ns * 1e-9
    if matrix_k:
        passes = 1 + npd / n + correction
    elif corrected:
        passes = 1 + correction
    else:
        passes = 2
    compute = passes * t1_ms * 1e-3 / ranks
    # Multiply-adds of one fold (S -> P S + L) and of one composition.
    per_fold = n * (matrix_k or 1)
    per_compose = per_fold + (npd * matrix_k if matrix_k else n)
    lg = math.ceil(math.log2(ranks))
    allgather = lg * alpha + (ranks - 1) * m / beta + (ranks - 1) * per_fold * fold
    chain = (ranks - 1) * (alpha + s / beta + per_fold * fold)
    exscan = lg * (alpha + m / beta + per_compose * fold)
    return compute, allgather, chain, exscan


def attention_model(t1_ms, kv, length, gbps, alpha_us, ranks):
    beta = gbps * 1e9 / 8
    alpha = alpha_us * 1e-6
    c = 2 * t1_ms * 1e-3 / ranks ** 2
    b = 4 * kv * length / ranks
    lg = math.ceil(math.log2(ranks))
    total = lg * alpha + c / 2 + (ranks - 1) * max(c, alpha + b / beta)
    return c, b, total


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--name", default="op")
    p.add_argument("--t1-ms", type=float, required=True,
                   help="one-process time of the op at L (ms)")
    p.add_argument("--len", type=int, default=65536, help="L of the measurement")
    p.add_argument("--scale-len", type=int, default=0,
                   help="also model L' = this many steps (T1 scaled by L'/L)")
    p.add_argument("--state", type=int, required=True, help="state elements n")
    p.add_argument("--decay", type=int, default=0, help="decay elements")
    p.add_argument("--gbps", type=float, default=100.0, help="network Gb/s")
    p.add_argument("--latency-us", type=float, default=5.0)
    p.add_argument("--matrix-k", type=int, default=0,
                   help="dense K x K decays (ssm.delta_rule); 0: diagonal")
    p.add_argument("--correction", type=float, default=0.04,
                   help="with --matrix-k or --corrected: the output "
                   "correction's time as a fraction of a run")
    p.add_argument("--corrected", action="store_true",
                   help="diagonal decays with the output correction (ssd, "
                   "linear attention): no rescan")
    p.add_argument("--fold-ns", type=float, default=0.5,
                   help="seconds per state element per folded map (ns)")
    p.add_argument("--attention-kv", type=int, default=0,
                   help="causal attention: K/V floats per step (the ring)")
    a = p.parse_args()
    lengths = [a.len] + ([a.scale_len] if a.scale_len else [])
    if a.attention_kv:
        print(f"{a.name}: {a.attention_kv} K/V floats per step, network "
              f"{a.gbps:g} Gb/s, {a.latency_us:g} us per message\n")
        print("| L | R | block compute (ms) | block (KiB) | last rank (ms) "
              "| most sent by a rank (MiB) | speed-up |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for L in lengths:
            t1 = a.t1_ms * (L / a.len) ** 2
            for r in [2, 4, 8, 16, 64, 256, 1024]:
                c, b, total = attention_model(t1, a.attention_kv, L, a.gbps,
                                              a.latency_us, r)
                print(f"| {L} | {r} | {c * 1e3:.3f} | {b / 1024:.1f} | "
                      f"{total * 1e3:.3f} | {(r - 1) * b / 2**20:.2f} | "
                      f"{t1 * 1e-3 / total:.1f}x |")
        return
    print(f"{a.name}: n = {a.state} state + {a.decay} decay elements "
          f"({4 * (a.state + a.decay)} bytes per rank), network "
          f"{a.gbps:g} Gb/s, {a.latency_us:g} us per message\n")
    print("| L | R | compute per rank (ms) | all-gather (ms) | chain (ms) "
          "| exscan (ms) | speed-up (all-gather) | speed-up (exscan) |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for L in lengths:
        t1 = a.t1_ms * L / a.len
        for r in [2, 4, 8, 16, 64, 256, 1024]:
            c, ag, ch, ex = model(t1, a.state, a.decay, a.gbps, a.latency_us,
                                  a.fold_ns, r, a.matrix_k, a.correction,
                                  a.corrected)
            print(f"| {L} | {r} | {c * 1e3:.3f} | {ag * 1e3:.3f} | "
                  f"{ch * 1e3:.3f} | {ex * 1e3:.3f} | "
                  f"{t1 * 1e-3 / (c + ag):.1f}x | {t1 * 1e-3 / (c + ex):.1f}x |")


if __name__ == "__main__":
    main()
