"""Shared fixtures of the ssmc Python tests: programs, and NumPy float64
references written as plain loops (no code shared with the compiler)."""

import os
import sys

import numpy as np
import pytest

# Run from a source checkout without PYTHONPATH: use the build directory's
# package (SSMC_BUILD_DIR, default ./build).
try:
    import ssmc  # noqa: F401
except ImportError:
    here = os.path.dirname(os.path.abspath(__file__))
    build = os.environ.get("SSMC_BUILD_DIR",
                           os.path.join(here, "..", "..", "build"))
    sys.path.insert(0, os.path.join(build, "python"))
    import ssmc  # noqa: F401

torch = None
if not os.environ.get("SSMC_TEST_NO_TORCH"):  # set by subprocesses that start fast
    try:
        import torch
    except ImportError:  # python3-torch is optional
        pass

requires_torch = pytest.mark.skipif(torch is None,
                                    reason="PyTorch (python3-torch) missing")


def f32_tol(ref):
    """DESIGN.md's f32 tolerance: 1e-4 * max(1, max|ref|)."""
    return 1e-4 * max(1.0, float(np.max(np.abs(ref))) if ref.size else 1.0)


def softplus(x):
    return np.log1p(np.exp(x))


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                       h0=None, delta_softplus=False):
    """mamba_ssm's selective_scan_fn in float64, one step at a time.
    u, delta, z: [b, d, l]; A: [d, n]; B, C: [b, n, l]; D, delta_bias: [d];
    h0: [b, d, n]. Returns (out [b, d, l], final state [b, d, n])."""
    u, delta, A, B, C = (np.asarray(x, np.float64) for x in (u, delta, A, B, C))
    nb, nd, nl = u.shape
    nn = A.shape[1]
    out = np.zeros((nb, nd, nl))
    hs = np.zeros((nb, nd, nn))
    for b in range(nb):
        for d in range(nd):
            h = np.zeros(nn) if h0 is None else np.array(h0[b, d], np.float64)
            for t in range(nl):
                dt = delta[b, d, t]
                if delta_bias is not None:
                    dt += float(delta_bias[d])
                if delta_softplus:
                    dt = softplus(dt)
                for n in range(nn):
                    h[n] = np.exp(dt * A[d, n]) * h[n] + dt * B[b, n, t] * u[b, d, t]
                y = sum(C[b, n, t] * h[n] for n in range(nn))
                if D is not None:
                    y += float(D[d]) * u[b, d, t]
                if z is not None:
                    zz = float(z[b, d, t])
                    y *= zz / (1.0 + np.exp(-zz))
                out[b, d, t] = y
            hs[b, d] = h
    return out, hs


def linear_attention_ref(q, k, v, gate):
    """Gated causal linear attention in float64: S_t = exp(g_t) S_{t-1} +
    k_t v_t^T, o_t = S_t^T (q_t / sqrt(K)). q, k: [b, h, l, K]; v:
    [b, h, l, V]; gate: [b, h, l]. Returns (o, S_L)."""
    q, k, v, gate = (np.asarray(x, np.float64) for x in (q, k, v, gate))
    nb, nh, nl, nk = q.shape
    nv = v.shape[3]
    scale = nk ** -0.5
    o = np.zeros((nb, nh, nl, nv))
    final = np.zeros((nb, nh, nk, nv))
    for b in range(nb):
        for h in range(nh):
            S = np.zeros((nk, nv))
            for t in range(nl):
                S = np.exp(gate[b, h, t]) * S
                for i in range(nk):
                    for j in range(nv):
                        S[i, j] += k[b, h, t, i] * v[b, h, t, j]
                for j in range(nv):
                    o[b, h, t, j] = sum(S[i, j] * q[b, h, t, i] * scale
                                        for i in range(nk))
            final[b, h] = S
    return o, final


SCAN = """
func.func @main(%u: tensor<2x8x6xf32> {ssm.name = "u"},
                %dt: tensor<2x8x6xf32> {ssm.name = "delta"},
                %A: tensor<8x4xf32> {ssm.name = "A"},
                %B: tensor<2x4x6xf32> {ssm.name = "B"},
                %C: tensor<2x4x6xf32> {ssm.name = "C"},
                %D: tensor<8xf32> {ssm.name = "D"},
                %z: tensor<2x8x6xf32> {ssm.name = "z"},
                %bias: tensor<8xf32> {ssm.name = "delta_bias"})
    -> (tensor<2x8x6xf32>, tensor<2x8x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) z(%z) delta_bias(%bias) delta_softplus
      : (tensor<2x8x6xf32>, tensor<2x8x6xf32>, tensor<8x4xf32>, tensor<2x4x6xf32>,
         tensor<2x4x6xf32>, tensor<8xf32>, tensor<2x8x6xf32>, tensor<8xf32>)
      -> (tensor<2x8x6xf32>, tensor<2x8x4xf32>)
  return %y, %h : tensor<2x8x6xf32>, tensor<2x8x4xf32>
}
"""

# Dynamic batch and length: results come back as buffers the code allocated.
SCAN_DYNAMIC = """
func.func @main(%u: tensor<?x8x?xf32> {ssm.name = "u"},
                %dt: tensor<?x8x?xf32> {ssm.name = "delta"},
                %A: tensor<8x4xf32> {ssm.name = "A"},
                %B: tensor<?x4x?xf32> {ssm.name = "B"},
                %C: tensor<?x4x?xf32> {ssm.name = "C"})
    -> (tensor<?x8x?xf32>, tensor<?x8x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<?x8x?xf32>, tensor<?x8x?xf32>, tensor<8x4xf32>, tensor<?x4x?xf32>,
         tensor<?x4x?xf32>) -> (tensor<?x8x?xf32>, tensor<?x8x4xf32>)
  return %y, %h : tensor<?x8x?xf32>, tensor<?x8x4xf32>
}
"""

# The same scan on 16-bit activations (T = f16 or bf16) with f32 A, D and
# state.
SCAN_LOW = """
func.func @main(%u: tensor<1x8x12xT> {ssm.name = "u"},
                %dt: tensor<1x8x12xT> {ssm.name = "delta"},
                %A: tensor<8x4xf32> {ssm.name = "A"},
                %B: tensor<1x4x12xT> {ssm.name = "B"},
                %C: tensor<1x4x12xT> {ssm.name = "C"},
                %D: tensor<8xf32> {ssm.name = "D"})
    -> (tensor<1x8x12xT>, tensor<1x8x4xf32>) {
  %y, %h = ssm.selective_scan %u, %dt, %A, %B, %C D(%D) delta_softplus
      : (tensor<1x8x12xT>, tensor<1x8x12xT>, tensor<8x4xf32>, tensor<1x4x12xT>,
         tensor<1x4x12xT>, tensor<8xf32>) -> (tensor<1x8x12xT>, tensor<1x8x4xf32>)
  return %y, %h : tensor<1x8x12xT>, tensor<1x8x4xf32>
}
"""

LINEAR_ATTENTION = """
func.func @attend(%q: tensor<2x3x10x4xf32> {ssm.name = "q"},
                  %k: tensor<2x3x10x4xf32> {ssm.name = "k"},
                  %v: tensor<2x3x10x5xf32> {ssm.name = "v"},
                  %g: tensor<2x3x10xf32> {ssm.name = "g"})
    -> (tensor<2x3x10x5xf32>, tensor<2x3x4x5xf32>) {
  %o, %S = ssm.linear_attention %q, %k, %v gate(%g)
      : (tensor<2x3x10x4xf32>, tensor<2x3x10x4xf32>, tensor<2x3x10x5xf32>,
         tensor<2x3x10xf32>) -> (tensor<2x3x10x5xf32>, tensor<2x3x4x5xf32>)
  return %o, %S : tensor<2x3x10x5xf32>, tensor<2x3x4x5xf32>
}
"""

# r = x * scale + y: a scalar argument.
AXPY = """
func.func @axpy(%x: tensor<4xf32> {ssm.name = "x"}, %s: f32 {ssm.name = "scale"},
                %y: tensor<4xf32> {ssm.name = "y"}) -> tensor<4xf32> {
  %e = tensor.empty() : tensor<4xf32>
  %r = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]} ins(%x, %y : tensor<4xf32>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %m = arith.mulf %a, %s : f32
    %t = arith.addf %m, %b : f32
    linalg.yield %t : f32
  } -> tensor<4xf32>
  return %r : tensor<4xf32>
}
"""


def scan_inputs(rng, b=2, d=8, l=6, n=4, dtype=np.float32):
    """Inputs of SCAN: u, delta, A (negative), B, C, D, z, delta_bias."""
    return dict(
        u=rng.standard_normal((b, d, l)).astype(dtype),
        delta=(0.5 * rng.standard_normal((b, d, l))).astype(dtype),
        A=(-np.exp(rng.standard_normal((d, n)))).astype(dtype),
        B=rng.standard_normal((b, n, l)).astype(dtype),
        C=rng.standard_normal((b, n, l)).astype(dtype),
        D=rng.standard_normal(d).astype(dtype),
        z=rng.standard_normal((b, d, l)).astype(dtype),
        delta_bias=(0.1 * rng.standard_normal(d)).astype(dtype),
    )


@pytest.fixture(scope="session")
def scan_program():
    return ssmc.compile(SCAN)


@pytest.fixture(scope="session")
def axpy_program():
    return ssmc.compile(AXPY)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
