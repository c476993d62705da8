#!/usr/bin/python3
"""ptxas sweep: every GPU kernel ssmc writes, over its sizes, through ptxas.

Writes one small function per (op, variant, size), many functions per
module, lowers each module with `ssmc-run --target cuda --emit=ptx` (the
NVPTX pipeline), merges the module's kernels into one PTX file (entry names
made unique) and runs `ptxas -arch=sm_90 -v` on it once; modules run in
parallel. A module that fails to lower is retried one function at a time;
one that ptxas rejects is assembled again without the kernels its messages
name (halved where they name none), so every failure is reported as (op,
variant, size) with the tool's message. ptxas' stack frame, spill and shared-memory
bytes are recorded per kernel.

Coverage: the dimension that drives each kernel's tiling takes every value
in 1..256 in the variant with every optional operand (selective_scan: N;
ssd: N; linear_attention: K, with per-key gates, the normaliser, elu+1 and
both states; delta_rule: K, in RWKV-7's DPLR form (per-key gate, a, b)
with l2norm and both states on the recurrent kernel (chunk_size = 0); attention: the head size d, causal with a window and grouped
KV heads, and a two-sided window with softcap, ALiBi, sinks and key
counts); the other variants (no options, each gate form, feature map,
normalisation, the z gate, grouped B/C, a value width apart from d, the
delta rule's DeltaNet / gated / KDA forms and its chunked kernel for KDA
and RWKV-7) and the
decode steps (whose kernels are the sequence ops' at L = 1) take the sizes
in SAMPLE: 1, 3, 8, 16, 17, 28..33 (selective_scan's shared-memory edge),
63, 64, 127..129, 131, 199, 255, 256; selective_scan with B fixed over
time takes FIXED_SAMPLE (the kernels' edges). The full variants have dynamic
batch, length and channel/head counts, so the kernels size their tiles for
any shape (the largest tiles); the others have small static sizes with
odd tails (sequence length, heads, channels, value width). causal_conv1d: widths 1..8, 16, 64, 256
with/without bias, SiLU and the states; causal_conv1d_step (its own
kernels, not the sequence op's): the same widths at 131 channels (shift
register, ring buffer, slot pool, both, all dynamic, bf16), and the
channel counts in SAMPLE at width 4 (plain and every option); linalg.matmul: N in MATMUL_N (the
matrix-vector kernel up to 8, the tiled one above) with f32, bf16 (C0 a
fill) and i8 weights and a transposed B, and all sizes dynamic; the
linalg kernels (rmsnorm, a max reduction, elementwise ops, a transpose, a
bf16 rounding, the embedding gather): channels in LINALG_N, and all sizes
dynamic; ssm.dp:
every program in examples/dp.

Exit status 1 on any unexpected failure, on an expected failure that
passed (remove it from EXPECTED_FAILURES), or when a kernel with a stated
zero stack frame has one.
"""

import argparse
import concurrent.futures as cf
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

SAMPLE = [1, 3, 8, 16, 17, 28, 29, 30, 31, 32, 33, 63, 64, 127, 128, 129,
          131, 199, 255, 256]
ALL = list(range(1, 257))
FIXED_SAMPLE = [1, 3, 17, 28, 32, 33, 129, 256]

# (op, variant predicate, size predicate, reason): kernels known not to
# assemble; a listed case that assembles fails the sweep, so the list only
# shrinks. Empty: every kernel at every swept size assembles.
EXPECTED_FAILURES = []

# The attention head sizes whose kernel, with every size dynamic, spills
# 4-20 bytes: their key tiles are dynamic shared memory, of a size ptxas
# does not see, and it aims for 56-72 registers.
ATTENTION_SPILLS = {49, 97, 98, 145, 146, 147, 148, 149, 193} | set(range(200, 208)) | {209}

# Kernels with a stated zero stack frame (the state in registers).
ZERO_STACK = [
    ("selective_scan", lambda v, n: v == "plain" and n == 16,
     "the N = 16 state stays in registers (test/Pipelines/nvptx_ptxas.mlir)"),
    ("attention", lambda v, n: not (v.startswith("dyn") and n in ATTENTION_SPILLS),
     "query, accumulator and column offsets fit the registers ptxas aims "
     "for (docs/gpu.md, Shared memory)"),
]


def tt(shape, elt="f32"):
    return "tensor<" + "x".join(str(d) for d in shape) + "x" + elt + ">"


def dims(opts, *sizes):
    """The sizes, or all dynamic in a "dyn" variant: the kernels then
    size their tiles for any length and count (the largest tiles)."""
    return tuple("?" if "dyn" in opts else d for d in sizes)


class Case:
    def __init__(self, op, variant, size, args, body, results):
        self.op, self.variant, self.size = op, variant, size
        self.args, self.body, self.results = args, body, results
        self.name = None

    def function(self):
        args = ", ".join("%%%s: %s" % (n, t) for n, t in self.args)
        res = ", ".join(t for _, t in self.results)
        names = ", ".join("%" + n for n, _ in self.results)
        return ("func.func @%s(%s) -> (%s) {\n%s\n  return %s : %s\n}\n"
                % (self.name, args, res, self.body, names, res))

    def label(self):
        return "%s[%s] size %d" % (self.op, self.variant, self.size)


def op_line(results, op, operands, attrs, arg_types, res_types):
    return "  %s = %s %s%s : (%s) -> (%s)" % (
        ", ".join("%" + r for r in results), op, operands, attrs,
        ", ".join(arg_types), ", ".join(res_types))


def selective_scan(n, opts):
    (B, Dm, L), G = dims(opts, 1, 6, 37), 2
    u = tt([B, Dm, L])
    bc = tt([B, G, n, L]) if "grouped" in opts else tt([B, n, L])
    # fixedB: B fixed over time ([Dm, N]) next to a variable C.
    bt = tt([Dm, n]) if "fixedB" in opts else bc
    args = [("u", u), ("dt", u), ("A", tt([Dm, n])), ("B", bt), ("C", bc)]
    extra = ""
    for key, kw, ty in (("D", "D", tt([Dm])), ("z", "z", u),
                        ("bias", "delta_bias", tt([Dm])),
                        ("h0", "h0", tt([B, Dm, n]))):
        if key in opts:
            args.append((key, ty))
            extra += " %s(%%%s)" % (kw, key)
    if "softplus" in opts:
        extra += " delta_softplus"
    res = [("y", u)] + ([("h", tt([B, Dm, n]))] if "final" in opts else [])
    body = op_line([r for r, _ in res], "ssm.selective_scan",
                   ", ".join("%" + a for a, _ in args[:5]) + extra, "",
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def selective_scan_step(n, opts):
    B, Dm = dims(opts, 2, 5)
    u = tt([B, Dm])
    args = [("u", u), ("dt", u), ("A", tt([Dm, n])), ("B", tt([B, n])),
            ("C", tt([B, n])), ("s", tt([B, Dm, n]))]
    extra = ""
    for key, kw, ty in (("D", "D", tt([Dm])), ("z", "z", u),
                        ("bias", "delta_bias", tt([Dm]))):
        if key in opts:
            args.append((key, ty))
            extra += " %s(%%%s)" % (kw, key)
    if "softplus" in opts:
        extra += " delta_softplus"
    res = [("y", u), ("s1", tt([B, Dm, n]))]
    body = op_line(["y", "s1"], "ssm.selective_scan_step",
                   ", ".join("%" + a for a, _ in args[:6]) + extra, "",
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def dt_limit_attr(opts):
    """mamba_chunk_scan_combined's dt_limit as an attribute ("limit")."""
    if "limit" not in opts:
        return ""
    return " {dt_limit = array<f64: 0.001, 0.5>}"


def ssd(n, opts):
    B, L, H, P = dims(opts, 1, 21, 2, 5)
    G = 1
    x = tt([B, L, H, P])
    bc = tt([B, L, G, n])
    args = [("x", x), ("dt", tt([B, L, H])), ("A", tt([H])), ("B", bc),
            ("C", bc)]
    extra = ""
    d = tt([H, P]) if "Dhp" in opts else tt([H])
    for key, kw, ty in (("D", "D", d), ("z", "z", x),
                        ("bias", "dt_bias", tt([H])),
                        ("h0", "h0", tt([B, H, P, n]))):
        if key in opts:
            args.append((key, ty))
            extra += " %s(%%%s)" % (kw, key)
    if "softplus" in opts:
        extra += " dt_softplus"
    res = [("y", x)] + ([("h", tt([B, H, P, n]))] if "final" in opts else [])
    body = op_line([r for r, _ in res], "ssm.ssd",
                   ", ".join("%" + a for a, _ in args[:5]) + extra,
                   dt_limit_attr(opts),
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def ssd_step(n, opts):
    B, H, P = dims(opts, 1, 2, 5)
    G = 1
    x = tt([B, H, P])
    args = [("x", x), ("dt", tt([B, H])), ("A", tt([H])), ("B", tt([B, G, n])),
            ("C", tt([B, G, n])), ("s", tt([B, H, P, n]))]
    extra = ""
    d = tt([H, P]) if "Dhp" in opts else tt([H])
    for key, kw, ty in (("D", "D", d), ("z", "z", x),
                        ("bias", "dt_bias", tt([H]))):
        if key in opts:
            args.append((key, ty))
            extra += " %s(%%%s)" % (kw, key)
    if "softplus" in opts:
        extra += " dt_softplus"
    res = [("y", x), ("s1", tt([B, H, P, n]))]
    body = op_line(["y", "s1"], "ssm.ssd_step",
                   ", ".join("%" + a for a, _ in args[:6]) + extra,
                   dt_limit_attr(opts),
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def feature_attr(opts):
    for f in ("elu_plus_one", "relu"):
        if f in opts:
            return "#ssm.feature_map<%s>" % f
    return None


def linear_attention(k, opts):
    B, H, L, V = dims(opts, 1, 2, 19, 7)
    q, v = tt([B, H, L, k]), tt([B, H, L, V])
    args = [("q", q), ("k", q), ("v", v)]
    extra = ""
    if "gate_step" in opts:
        args.append(("g", tt([B, H, L])))
        extra += " gate(%g)"
    if "gate_key" in opts:
        args.append(("g", q))
        extra += " gate(%g)"
    if "h0" in opts:
        args.append(("h0", tt([B, H, k, V])))
        extra += " h0(%h0)"
    if "z0" in opts:
        args.append(("z0", tt([B, H, k])))
        extra += " z0(%z0)"
    if "normalize" in opts:
        extra += " normalize"
    if "reverse" in opts:
        extra += " reverse"
    attrs = []
    if feature_attr(opts):
        attrs.append("feature_map = " + feature_attr(opts))
    if "eps" in opts:
        attrs.append("eps = 0.5 : f64")
    res = [("o", v)] + ([("s", tt([B, H, k, V]))] if "final" in opts else [])
    res += [("z", tt([B, H, k]))] if "final_z" in opts else []
    body = op_line([r for r, _ in res], "ssm.linear_attention",
                   "%q, %k, %v" + extra,
                   (" {" + ", ".join(attrs) + "}") if attrs else "",
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def linear_attention_step(k, opts):
    B, H, V = dims(opts, 1, 2, 7)
    q, v = tt([B, H, k]), tt([B, H, V])
    args = [("q", q), ("k", q), ("v", v), ("s", tt([B, H, k, V]))]
    extra = ""
    if "gate_step" in opts:
        args.append(("g", tt([B, H])))
        extra = " gate(%g)"
    if "gate_key" in opts:
        args.append(("g", q))
        extra = " gate(%g)"
    res = [("o", v), ("s1", tt([B, H, k, V]))]
    if "normalize" in opts:
        args.append(("z", tt([B, H, k])))
        extra += " z(%z) normalize"
        res.append(("z1", tt([B, H, k])))
    attrs = " {feature_map = %s}" % feature_attr(opts) if feature_attr(opts) else ""
    body = op_line([r for r, _ in res], "ssm.linear_attention_step",
                   "%q, %k, %v, %s" + extra, attrs,
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def delta_rule(k, opts):
    """fla's layout [B, T, H, K]; "dplr": RWKV-7's a, b with a per-key
    gate, else beta with a per-step ("gate_step") or per-key ("gate_key")
    gate or none (DeltaNet); "chunk": chunk_size = 64, the chunked kernel
    (the other static variants, T = 19, take the recurrent one);
    "recurrent": chunk_size = 0, the recurrent kernel at a dynamic T."""
    B, T, Hk, H, V = dims(opts, 1, 19, 1, 2, 7)
    qk, v = tt([B, T, Hk, k]), tt([B, T, H, V])
    kh = tt([B, T, H, k])
    args = [("q", qk), ("k", qk), ("v", v)]
    extra = ""
    if "dplr" in opts:
        args += [("g", kh), ("a", kh), ("b", kh)]
        extra += " gate(%g) a(%a) b(%b)"
    else:
        args.append(("beta", tt([B, T, H])))
        extra += " beta(%beta)"
        if "gate_step" in opts:
            args.append(("g", tt([B, T, H])))
            extra += " gate(%g)"
        if "gate_key" in opts:
            args.append(("g", kh))
            extra += " gate(%g)"
    if "h0" in opts:
        args.append(("h0", tt([B, H, k, V])))
        extra += " h0(%h0)"
    if "l2norm" in opts:
        extra += " use_qk_l2norm"
    res = [("o", v)] + ([("s", tt([B, H, k, V]))] if "final" in opts else [])
    attrs = " {chunk_size = 64 : i64}" if "chunk" in opts else ""
    if "recurrent" in opts:
        attrs = " {chunk_size = 0 : i64}"
    body = op_line([r for r, _ in res], "ssm.delta_rule",
                   "%q, %k, %v" + extra, attrs,
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def delta_rule_step(k, opts):
    B, H, V = dims(opts, 1, 2, 7)
    q, v, st = tt([B, 1, k]), tt([B, H, V]), tt([B, H, k, V])
    args = [("q", q), ("k", q), ("v", v), ("s", st), ("beta", tt([B, H])),
            ("g", tt([B, H]))]
    body = op_line(["o", "s1"], "ssm.delta_rule_step",
                   "%q, %k, %v, %s beta(%beta) gate(%g) use_qk_l2norm", "",
                   [t for _, t in args], [v, st])
    return args, body, [("o", v), ("s1", st)]


def attention(d, opts):
    B, H, L = dims(opts, 1, 4, 23)
    hkv = ("?" if "dyn" in opts else 2) if "gqa" in opts else H
    dv = 8 if "dv8" in opts else d
    args = [("q", tt([B, H, L, d])), ("k", tt([B, hkv, L, d])),
            ("v", tt([B, hkv, L, dv]))]
    attrs = []
    if "window" in opts:
        attrs.append("window = 5 : i64")
    if "two_sided" in opts:
        attrs += ["window_left = 6 : i64", "window_right = 3 : i64"]
    if "softcap" in opts:
        attrs.append("softcap = 30.0")
    extra = ""
    if "alibi" in opts:
        args.append(("al", tt([B, H])))
        extra += " alibi_slopes(%al)"
    if "sinks" in opts:
        args.append(("sk", tt([H])))
        extra += " sinks(%sk)"
    if "seqused" in opts:
        args.append(("used", tt([B], "i32")))
        extra += " seqused_k(%used)"
    res = [("o", tt([B, H, L, dv]))]
    body = op_line(["o"], "ssm.attention",
                   "%q, %k, %v" + (" causal" if "causal" in opts else "") + extra,
                   (" {" + ", ".join(attrs) + "}") if attrs else "",
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def attention_step(d, opts):
    B, H, Lc = dims(opts, 1, 4, 9)
    hkv = ("?" if "dyn" in opts else 2) if "gqa" in opts else H
    args = [("q", tt([B, H, d])), ("k", tt([B, hkv, d])),
            ("v", tt([B, hkv, d])), ("kc", tt([B, hkv, Lc, d])),
            ("vc", tt([B, hkv, Lc, d]))]
    operands = "%q, %k, %v, %kc, %vc"
    if "positions" in opts:
        args.append(("pos", tt([B], "i64")))
        operands += " positions(%pos)"
    else:
        args.append(("pos", "index"))
        operands += ", %pos"
    if "sinks" in opts:
        args.append(("sk", tt([H])))
        operands += " sinks(%sk)"
    attrs = []
    if "softcap" in opts:
        attrs.append("softcap = 30.0")
    if "window" in opts:
        attrs.append("window = 4 : i64")
    if "ring" in opts:
        attrs.append("ring")
    res = [("o", tt([B, H, d])), ("k1", tt([B, hkv, Lc, d])),
           ("v1", tt([B, hkv, Lc, d]))]
    body = op_line(["o", "k1", "v1"], "ssm.attention_step", operands,
                   (" {" + ", ".join(attrs) + "}") if attrs else "",
                   [t for _, t in args], [t for _, t in res])
    return args, body, res


def causal_conv1d(w, opts):
    B, Dm, L = dims(opts, 2, 6, 29)
    x = tt([B, Dm, L])
    args = [("x", x), ("w", tt([Dm, w]))]
    extra = ""
    if "bias" in opts:
        args.append(("b", tt([Dm])))
        extra += " bias(%b)"
    if "states" in opts and w > 1:
        args.append(("s0", tt([B, Dm, w - 1])))
        extra += " initial_state(%s0)"
    if "silu" in opts:
        extra += " silu"
    res = [("y", x)]
    if "states" in opts and w > 1:
        res.append(("f", tt([B, Dm, w - 1])))
    body = op_line([r for r, _ in res], "ssm.causal_conv1d", "%x, %w" + extra,
                   "", [t for _, t in args], [t for _, t in res])
    return args, body, res


def causal_conv1d_step(n, opts):
    """Size: the width W, or with "chans" the channel count D (W = 4).
    "ring": cache_seqlens (S = W + 2); "pool": conv_state_indices (P = 5
    slots, the copy kernel and a thread per channel)."""
    w, d = (4, n) if "chans" in opts else (n, 131)
    S = w + 2 if "ring" in opts else w - 1
    B, Dm, P = dims(opts, 3, d, 5 if "pool" in opts else 3)
    elt = "bf16" if "bf16" in opts else "f32"
    x = tt([B, Dm], elt)
    st = tt([P, Dm, S], elt if "bf16" in opts else "f32")
    args = [("x", x), ("s", st), ("w", tt([Dm, w], elt))]
    extra = ""
    if "bias" in opts:
        args.append(("b", tt([Dm])))
        extra += " bias(%b)"
    if "ring" in opts:
        args.append(("c", tt([B], "i64")))
        extra += " cache_seqlens(%c)"
    if "pool" in opts:
        args.append(("i", tt([B], "i32")))
        extra += " conv_state_indices(%i)"
    if "silu" in opts:
        extra += " silu"
    res = [("y", x), ("s1", st)]
    body = op_line(["y", "s1"], "ssm.causal_conv1d_step", "%x, %s, %w" + extra,
                   "", [t for _, t in args], [t for _, t in res])
    return args, body, res


MATMUL_N = [1, 2, 3, 8, 9, 17, 64, 65, 129]


def matmul(n, opts):
    """C = C0 + A B with N = n (<= 8: the matrix-vector kernel, else the
    tiled one); odd static M and K, or all sizes dynamic."""
    M, K, N = dims(opts, 37, 29, n)
    elt = "bf16" if "bf16" in opts else "i8" if "i8" in opts else "f32"
    a = tt([M, K], elt)
    b = tt([N, K]) if "transB" in opts else tt([K, N])
    o = tt([M, N])
    maps = (" indexing_maps = [affine_map<(m, n, k) -> (m, k)>, "
            "affine_map<(m, n, k) -> (n, k)>, affine_map<(m, n, k) -> (m, n)>]"
            if "transB" in opts else "")
    args = [("a", a), ("b", b)]
    body = ""
    if "fill" in opts:
        body = ("  %f = arith.constant 0.0 : f32\n"
                "  %e = tensor.empty() : " + o + "\n"
                "  %c = linalg.fill ins(%f : f32) outs(%e : " + o + ") -> " +
                o + "\n")
    else:
        args.append(("c", o))
    body += ("  %%r = linalg.matmul%s ins(%%a, %%b : %s, %s) outs(%%c : %s) -> %s"
             % (maps, a, b, o, o))
    return args, body, [("r", o)]


LINALG_N = [1, 3, 127, 128, 129, 768]


def linalg_ops(n, opts):
    """The ops between a model's projections over n channels: rmsnorm (a
    reduction over the channels, then a parallel normalisation), a max
    reduction along the contiguous dimension, SwiGLU and a residual add as
    elementwise ops on tensors, a transpose, a rounding to bf16 and the
    embedding gather (tensor.extract of the table at clamped token ids);
    static odd sizes, or all dynamic."""
    C, L, V = dims(opts, n, 5, 11)
    x, s, w = tt([C, L]), tt([L]), tt([C])
    args = [("x", x), ("w", w), ("tok", tt([L], "i64")), ("emb", tt([V, C]))]
    dyn = "dyn" in opts
    body = ("  %c0 = arith.constant 0 : index\n"
            "  %c1 = arith.constant 1 : index\n"
            "  %dc = tensor.dim %x, %c0 : " + x + "\n"
            "  %dl = tensor.dim %x, %c1 : " + x + "\n"
            "  %zero = arith.constant 0.0 : f32\n"
            "  %eps = arith.constant 1.0e-5 : f32\n"
            "  %e0 = tensor.empty(" + ("%dl" if dyn else "") + ") : " + s + "\n"
            "  %acc = linalg.fill ins(%zero : f32) outs(%e0 : " + s + ") -> " +
            s + "\n"
            "  %sq = linalg.generic {indexing_maps = [affine_map<(c, l) -> "
            "(c, l)>, affine_map<(c, l) -> (l)>], iterator_types = "
            "[\"reduction\", \"parallel\"]} ins(%x : " + x + ") outs(%acc : " +
            s + ") {\n"
            "  ^bb0(%a: f32, %o: f32):\n"
            "    %m = arith.mulf %a, %a : f32\n"
            "    %n = arith.addf %o, %m : f32\n"
            "    linalg.yield %n : f32\n"
            "  } -> " + s + "\n"
            "  %e1 = tensor.empty(" + ("%dc, %dl" if dyn else "") + ") : " +
            x + "\n"
            "  %y = linalg.generic {indexing_maps = [affine_map<(c, l) -> (c, "
            "l)>, affine_map<(c, l) -> (l)>, affine_map<(c, l) -> (c)>, "
            "affine_map<(c, l) -> (c, l)>], iterator_types = [\"parallel\", "
            "\"parallel\"]} ins(%x, %sq, %w : " + x + ", " + s + ", " + w +
            ") outs(%e1 : " + x + ") {\n"
            "  ^bb0(%a: f32, %q: f32, %g: f32, %o: f32):\n"
            "    %v = arith.addf %q, %eps : f32\n"
            "    %r = math.sqrt %v : f32\n"
            "    %t = arith.divf %a, %r : f32\n"
            "    %u = arith.mulf %t, %g : f32\n"
            "    linalg.yield %u : f32\n"
            "  } -> " + x + "\n"
            "  %ny = arith.negf %y : " + x + "\n"
            "  %ey = math.exp %ny : " + x + "\n"
            "  %sw = arith.mulf %y, %ey : " + x + "\n"
            "  %res = arith.addf %sw, %x : " + x + "\n"
            "  %et = tensor.empty(" + ("%dl, %dc" if dyn else "") + ") : " +
            tt([L, C]) + "\n"
            "  %tr = linalg.transpose ins(%res : " + x + ") outs(%et : " +
            tt([L, C]) + ") permutation = [1, 0]\n"
            "  %e2 = tensor.empty(" + ("%dl" if dyn else "") + ") : " + s + "\n"
            "  %mx = linalg.generic {indexing_maps = [affine_map<(l, c) -> (l, "
            "c)>, affine_map<(l, c) -> (l)>], iterator_types = [\"parallel\", "
            "\"reduction\"]} ins(%tr : " + tt([L, C]) + ") outs(%sq : " + s +
            ") {\n"
            "  ^bb0(%a: f32, %o: f32):\n"
            "    %n = arith.maximumf %o, %a : f32\n"
            "    linalg.yield %n : f32\n"
            "  } -> " + s + "\n"
            "  %h = arith.truncf %res : " + x + " to " + tt([C, L], "bf16") +
            "\n"
            "  %x1 = linalg.generic {indexing_maps = [affine_map<(d, l) -> (d, "
            "l)>], iterator_types = [\"parallel\", \"parallel\"]} outs(%e1 : " +
            x + ") {\n"
            "  ^bb0(%o: f32):\n"
            "    %d = linalg.index 0 : index\n"
            "    %l = linalg.index 1 : index\n"
            "    %t = tensor.extract %tok[%l] : " + tt([L], "i64") + "\n"
            "    %ti = arith.index_cast %t : i64 to index\n"
            "    %hi = arith.constant 10 : index\n"
            "    %t1 = arith.maxsi %ti, %c0 : index\n"
            "    %t2 = arith.minsi %t1, %hi : index\n"
            "    %v = tensor.extract %emb[%t2, %d] : " + tt([V, C]) + "\n"
            "    linalg.yield %v : f32\n"
            "  } -> " + x)
    return args, body, [("tr", tt([L, C])), ("mx", s),
                        ("h", tt([C, L], "bf16")), ("x1", x)]


def variants():
    """(op, generator, variant, sizes)."""
    out = []
    ss_all = "D+z+bias+h0+final+softplus"
    out.append(("selective_scan", selective_scan, "dyn+" + ss_all, ALL))
    for v in ("plain", "z", "h0+final", "grouped+" + ss_all):
        out.append(("selective_scan", selective_scan, v, SAMPLE))
    # B fixed over time changes only the B loads: the sizes around the
    # kernels' edges (sub-tiles, N = 32/33 register/private state).
    out.append(("selective_scan", selective_scan, "fixedB+grouped+" + ss_all,
                FIXED_SAMPLE))
    for v in ("plain", "D+z+bias+softplus"):
        out.append(("selective_scan_step", selective_scan_step, v, SAMPLE))
    out.append(("ssd", ssd, "dyn+D+z+bias+h0+final+softplus", ALL))
    for v in ("plain", "z", "h0+final", "D+Dhp+softplus+limit"):
        out.append(("ssd", ssd, v, SAMPLE))
    for v in ("plain", "D+z+bias+softplus", "D+Dhp+softplus+limit"):
        out.append(("ssd_step", ssd_step, v, SAMPLE))
    out.append(("linear_attention", linear_attention,
                "dyn+gate_key+normalize+elu_plus_one+h0+final", ALL))
    for v in ("plain", "gate_step", "gate_key", "normalize", "relu",
              "gate_step+normalize+relu+h0+final",
              "gate_key+normalize+z0+final+final_z+reverse+eps"):
        out.append(("linear_attention", linear_attention, v, SAMPLE))
    for v in ("plain", "gate_step", "gate_key+elu_plus_one",
              "gate_step+normalize+relu"):
        out.append(("linear_attention_step", linear_attention_step, v, SAMPLE))
    out.append(("delta_rule", delta_rule,
                "dyn+recurrent+dplr+h0+final+l2norm", ALL))
    for v in ("plain", "gate_step+l2norm", "gate_key+h0+final",
              "chunk+gate_key+l2norm+h0+final", "chunk+dplr+l2norm+h0+final"):
        out.append(("delta_rule", delta_rule, v, SAMPLE))
    out.append(("delta_rule_step", delta_rule_step, "gate_step+l2norm",
                SAMPLE))
    out.append(("attention", attention, "dyn+causal+window+gqa", ALL))
    out.append(("attention", attention,
                "gqa+two_sided+softcap+alibi+sinks+seqused", ALL))
    for v in ("plain", "causal", "gqa", "causal+dv8"):
        out.append(("attention", attention, v, SAMPLE))
    for v in ("plain", "gqa+window", "ring", "positions+softcap+sinks+window",
              "positions+ring"):
        out.append(("attention_step", attention_step, v, SAMPLE))
    for v in ("plain", "bf16+fill", "i8", "transB"):
        out.append(("matmul", matmul, v, MATMUL_N))
    out.append(("matmul", matmul, "dyn+bf16", [1]))
    out.append(("linalg", linalg_ops, "plain", LINALG_N))
    out.append(("linalg", linalg_ops, "dyn", [1]))
    widths = list(range(1, 9)) + [16, 64, 256]
    for v in ("plain", "bias", "silu", "states", "bias+silu+states"):
        out.append(("causal_conv1d", causal_conv1d, v, widths))
    for v in ("plain", "bias+silu", "ring+bias", "pool+silu",
              "pool+ring+bias+silu", "dyn+pool+ring+bias+silu",
              "bf16+bias+silu"):
        out.append(("causal_conv1d_step", causal_conv1d_step, v, widths))
    for v in ("chans+bias+silu", "chans+pool+ring+bias+silu"):
        out.append(("causal_conv1d_step", causal_conv1d_step, v, SAMPLE))
    return out


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kw)


def split_ptx(text):
    """{module name: PTX} from ssmc-run --emit=ptx (split-file format)."""
    mods, cur, buf = {}, None, []
    for line in text.splitlines(keepends=True):
        m = re.match(r"//--- (\S+)\.ptx$", line.rstrip("\n"))
        if m:
            if cur:
                mods[cur] = "".join(buf)
            cur, buf = m.group(1), []
        else:
            buf.append(line)
    if cur:
        mods[cur] = "".join(buf)
    return mods


DECL = re.compile(r"^(?:\.visible\s+|\.extern\s+|\.weak\s+)?"
                  r"(?:\.entry|\.func(?:\s*\([^)]*\))?|\.global|\.const|\.shared)"
                  r"[^;{(]*?([A-Za-z_$%][\w$]*)\s*[\[(;{=]", re.M)


def merge(mods):
    """One PTX text with every module's kernel; the entry (and other
    module-scope) names get the module's name. Returns (text, [(first line,
    last line, module)])."""
    out, ranges, line = [], [], 1
    for i, (name, ptx) in enumerate(mods.items()):
        body = ptx
        if i:
            body = re.sub(r"^\s*\.(version|target|address_size)\b.*$", "",
                          body, flags=re.M)
        for sym in sorted(set(DECL.findall(body)), key=len, reverse=True):
            new = name if re.search(r"\.entry\s+%s\b" % re.escape(sym), body) \
                else "%s__%s" % (sym, name)
            body = re.sub(r"(?<![\w$])%s(?![\w$])" % re.escape(sym), new, body)
        n = body.count("\n") + 1
        ranges.append((line, line + n - 1, name))
        out.append(body + "\n")
        line += n
    return "".join(out), ranges


def ptxas_info(stderr):
    """{entry: {regs, stack, spill_st, spill_ld, smem}} from ptxas -v."""
    info, cur = {}, None
    for l in stderr.splitlines():
        m = re.search(r"(?:Compiling entry function|Function properties for) '?(\w+)'?", l)
        if m:
            cur = m.group(1)
            info.setdefault(cur, {})
            continue
        if cur is None:
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", l)
        if m:
            info[cur].update(stack=int(m.group(1)), spill_st=int(m.group(2)),
                             spill_ld=int(m.group(3)))
        m = re.search(r"Used (\d+) registers", l)
        if m:
            info[cur]["regs"] = int(m.group(1))
            m = re.search(r"(\d+) bytes smem", l)
            info[cur]["smem"] = int(m.group(1)) if m else 0
    return info


class Sweep:
    def __init__(self, a):
        self.a = a
        self.tmp = tempfile.mkdtemp(prefix="ptxas-sweep-")

    def lower(self, path):
        r = run([self.a.ssmc_run, path, "--target", "cuda", "--emit=ptx"],
                timeout=self.a.timeout)
        if r.returncode:
            return None, (r.stderr.strip() or "exit %d" % r.returncode)
        return split_ptx(r.stdout), None

    def assemble(self, mods, tag):
        """(per-entry info, {module: error}). A failing module's culprits
        are read off ptxas' messages (entry names, line numbers) and the
        rest assembled again; messages naming no kernel split the set."""
        if not mods:
            return {}, {}
        text, ranges = merge(mods)
        path = os.path.join(self.tmp, tag + ".ptx")
        with open(path, "w") as f:
            f.write(text)
        r = run([self.a.ptxas, "-arch=sm_90", "-v", path, "-o", path + ".cubin"],
                timeout=self.a.timeout)
        if r.returncode == 0:
            return ptxas_info(r.stderr), {}
        msgs = [l for l in r.stderr.splitlines() if "error" in l or "fatal" in l]
        if len(mods) == 1:
            return {}, {next(iter(mods)): "\n".join(msgs) or r.stderr.strip()}
        errs = {}
        for m in msgs:
            e = re.search(r"[Ee]ntry function '(\w+)'", m)
            ln = re.search(r", line (\d+);", m)
            name = e.group(1) if e and e.group(1) in mods else None
            if ln:
                name = next((n for lo, hi, n in ranges
                             if lo <= int(ln.group(1)) <= hi), name)
            if name:
                errs.setdefault(name, []).append(m.strip())
        errs = {n: "\n".join(v) for n, v in errs.items()}
        rest = {n: p for n, p in mods.items() if n not in errs}
        info = {}
        if not errs:
            names = list(mods)
            for i, half in enumerate((names[:len(names) // 2],
                                      names[len(names) // 2:])):
                i2, e2 = self.assemble({n: mods[n] for n in half},
                                       "%s_%d" % (tag, i))
                info.update(i2)
                errs.update(e2)
            return info, errs
        if rest:
            i2, e2 = self.assemble(rest, tag + "_r")
            info.update(i2)
            errs.update(e2)
        return info, errs

    def job(self, tag, cases):
        """Lowers and assembles one module; per-case results."""
        path = os.path.join(self.tmp, tag + ".mlir")
        with open(path, "w") as f:
            f.write("\n".join(c.function() for c in cases))
        mods, err = self.lower(path)
        if err is not None:
            if len(cases) == 1:
                return [(cases[0], "lowering: " + err.splitlines()[0][:400], {})]
            out = []
            for i, c in enumerate(cases):
                out.extend(self.job("%s_%d" % (tag, i), [c]))
            return out
        info, errs = self.assemble(mods, tag)
        out = []
        for c in cases:
            mine = {m: p for m, p in mods.items() if m == c.name + "_kernel"
                    or m.startswith(c.name + "_kernel_")}
            kinfo = {m: info.get(m, {}) for m in mine if m not in errs}
            err = "; ".join("%s: %s" % (m, errs[m]) for m in mine if m in errs)
            if not mine:
                err = "no GPU kernel"
            out.append((c, err or None, kinfo))
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ssmc-run", required=True)
    ap.add_argument("--ptxas", required=True)
    ap.add_argument("--examples", help="examples/dp directory")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--per-module", type=int, default=40)
    ap.add_argument("--only", help="regex over op names")
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--report", help="write the per-kernel table here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the generated modules and PTX (path printed)")
    a = ap.parse_args()
    start = time.time()
    sweep = Sweep(a)

    cases = []
    for op, gen, variant, sizes in variants():
        if a.only and not re.search(a.only, op):
            continue
        for n in sizes:
            args, body, res = gen(n, set(variant.split("+")))
            cases.append(Case(op, variant, n, args, body, res))
    for i, c in enumerate(cases):
        c.name = "c%d" % i
    jobs = []
    # Cheap and expensive cases interleave so that modules cost alike.
    order = sorted(cases, key=lambda c: c.size)
    nmod = max(1, (len(order) + a.per_module - 1) // a.per_module)
    for m in range(nmod if order else 0):
        jobs.append(("m%d" % m, order[m::nmod]))
    dp_files = []
    if a.examples and (not a.only or re.search(a.only, "dp")):
        dp_files = sorted(f for f in os.listdir(a.examples) if f.endswith(".mlir"))

    results = []
    with cf.ThreadPoolExecutor(a.jobs) as pool:
        futs = [pool.submit(sweep.job, tag, cs) for tag, cs in jobs]
        for f in dp_files:
            c = Case("dp", f[:-5], 0, [], "", [])
            def dp_job(c=c, f=f):
                mods, err = sweep.lower(os.path.join(a.examples, f))
                if err is not None:
                    return [(c, "lowering: " + err.splitlines()[0], {})]
                info, errs = sweep.assemble(mods, "dp_" + c.variant)
                kinfo = {m: info.get(m, {}) for m in mods if m not in errs}
                e = "; ".join("%s: %s" % kv for kv in errs.items())
                return [(c, e or (None if mods else "no GPU kernel"), kinfo)]
            futs.append(pool.submit(dp_job))
        for f in futs:
            results.extend(f.result())

    results.sort(key=lambda r: (r[0].op, r[0].variant, r[0].size))
    unexpected, xfail, xpass, stack_bad = [], [], [], []
    lines = ["op\tvariant\tsize\tkernel\tregs\tstack\tspill_st\tspill_ld\tsmem"]
    for c, err, kinfo in results:
        reason = next((r for op, vp, sp, r in EXPECTED_FAILURES
                       if op == c.op and vp(c.variant) and sp(c.size)), None)
        if err and reason:
            xfail.append((c, reason))
        elif err:
            unexpected.append((c, err))
        elif reason:
            xpass.append((c, reason))
        for k, i in sorted(kinfo.items()):
            lines.append("\t".join([c.op, c.variant, str(c.size), k] +
                                   [str(i.get(f, "?")) for f in
                                    ("regs", "stack", "spill_st", "spill_ld", "smem")]))
            for op, p, why in ZERO_STACK:
                if op == c.op and p(c.variant, c.size) and i.get("stack", 0) != 0:
                    stack_bad.append((c, k, i["stack"], why))
    table = "\n".join(lines) + "\n"
    if a.report:
        with open(a.report, "w") as f:
            f.write(table)
    else:
        sys.stdout.write(table)

    kernels = sum(len(k) for _, _, k in results)
    spilled = [l for l in lines[1:] if l.split("\t")[5] not in ("0", "?")]
    print("ptxas sweep: %d cases, %d kernels, %d modules, %.1f s on %d jobs"
          % (len(results), kernels, len(jobs) + len(dp_files),
             time.time() - start, a.jobs))
    print("kernels with a stack frame: %d" % len(spilled))
    for c, reason in xfail:
        print("XFAIL %s: %s" % (c.label(), reason))
    for c, reason in xpass:
        print("XPASS %s (listed as: %s): remove it from EXPECTED_FAILURES"
              % (c.label(), reason))
    for c, k, s, why in stack_bad:
        print("STACK %s %s: %d bytes stack frame, but %s" % (c.label(), k, s, why))
    for c, err in unexpected:
        print("FAIL %s: %s" % (c.label(), err))
    if a.keep:
        print("modules and PTX kept in " + sweep.tmp)
    else:
        shutil.rmtree(sweep.tmp, ignore_errors=True)
    ok = not (unexpected or xpass or stack_bad)
    print("PASS" if ok else "FAILED: %d unexpected failures, %d unexpected passes, %d stack frames"
          % (len(unexpected), len(xpass), len(stack_bad)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
