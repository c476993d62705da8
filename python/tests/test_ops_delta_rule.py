"""ssmc.ops' flash-linear-attention delta-rule functions (DeltaNet, Gated
DeltaNet, KDA, RWKV-7 / DPLR) against a float64 NumPy loop of fla's
recurrences written here: odd shapes, grouped value heads, packed
sequences, fla's in-kernel gate and beta activations, and bf16 tensors
within DESIGN.md's low-precision rule."""

import numpy as np
import pytest

from conftest import requires_torch, torch
from ssmc import ops
from test_ops import assert_close

RNG = np.random.default_rng(24)


def rand(*shape, scale=1.0):
    return (RNG.standard_normal(shape) * scale).astype(np.float32)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def logsigmoid(x):
    return -np.logaddexp(0.0, -np.asarray(x, np.float64))


def delta_ref(q, k, v, beta=None, g=None, a=None, b=None, scale=None, h0=None,
              l2=False, cu_seqlens=None):
    """fla's naive recurrences in float64, state K x V per (sequence, value
    head); value head h reads q/k head h // (H / Hk).
    Delta forms: S = exp(g) S (g [T, H] scalar or [T, H, K] per key);
    u = beta (v - S^T k); S += k u^T. DPLR: S = exp(g) S + b (a^T S) + k v^T.
    o = S^T (scale q). Returns (o [B, T, H, V], final [N, H, K, V])."""
    f = lambda x: None if x is None else np.asarray(x, np.float64)  # noqa: E731
    q, k, v, beta, g, a, b, h0 = map(f, (q, k, v, beta, g, a, b, h0))
    B, T, hk, K = q.shape
    H, V = v.shape[2], v.shape[3]
    scale = K ** -0.5 if scale is None else scale
    segs = [(n, 0, T) for n in range(B)] if cu_seqlens is None else \
        [(0, int(cu_seqlens[i]), int(cu_seqlens[i + 1])) for i in range(len(cu_seqlens) - 1)]
    o = np.zeros((B, T, H, V))
    fin = np.zeros((len(segs), H, K, V))
    for n, (row, s, e) in enumerate(segs):
        for h in range(H):
            j = h // (H // hk)
            S = np.zeros((K, V)) if h0 is None else h0[n, h].copy()
            for t in range(s, e):
                qt, kt = q[row, t, j].copy(), k[row, t, j].copy()
                if l2:
                    qt /= np.sqrt(np.sum(qt * qt) + 1e-6)
                    kt /= np.sqrt(np.sum(kt * kt) + 1e-6)
                qt *= scale
                if g is None:
                    w = np.ones((K, 1))
                elif g.ndim == 3:
                    w = np.full((K, 1), np.exp(g[row, t, h]))
                else:
                    w = np.exp(g[row, t, h])[:, None]
                if a is None:
                    S = w * S
                    u = beta[row, t, h] * (v[row, t, h] - S.T @ kt)
                    S = S + np.outer(kt, u)
                else:
                    S = w * S + np.outer(b[row, t, h], a[row, t, h] @ S) + np.outer(kt, v[row, t, h])
                o[row, t, h] = S.T @ qt
            fin[n, h] = S
    return o, fin


def unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("fn", ["chunk_gated_delta_rule", "fused_recurrent_gated_delta_rule"])
def test_gated_delta_rule_odd_shapes_grouped_heads(fn):
    # T = 37 crosses chunks of 16 and 32; K = 9, V = 7; HV = 4 over H = 2.
    B, T, H, HV, K, V = 2, 37, 2, 4, 9, 7
    q, k, v = rand(B, T, H, K), rand(B, T, H, K), rand(B, T, HV, V)
    g = logsigmoid(rand(B, T, HV) + 3.0).astype(np.float32)  # slow decays
    beta = sigmoid(rand(B, T, HV)).astype(np.float32)
    h0 = rand(B, HV, K, V, scale=0.5)
    kw = dict(initial_state=h0, output_final_state=True, use_qk_l2norm_in_kernel=True)
    if fn == "chunk_gated_delta_rule":
        o, fin = ops.chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=16, **kw)
    else:
        o, fin = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, beta=beta, **kw)
    ref, ref_fin = delta_ref(q, k, v, beta, g, h0=h0, l2=True)
    assert o.dtype == np.float32 and o.shape == (B, T, HV, V)
    assert fin.dtype == np.float32 and fin.shape == (B, HV, K, V)
    assert_close(o, ref, what="o")
    assert_close(fin, ref_fin, what="final_state")


@pytest.mark.parametrize("fn", ["chunk_delta_rule", "fused_recurrent_delta_rule"])
def test_delta_rule_packed_sequences(fn):
    # Lengths 1, 19, 23 packed along T; an initial state per sequence.
    cu = np.array([0, 1, 20, 43], np.int64)
    T, H, K, V = 43, 3, 16, 13
    q, k, v = rand(1, T, H, K), unit(rand(1, T, H, K)), rand(1, T, H, V)
    beta = sigmoid(rand(1, T, H)).astype(np.float32)
    h0 = rand(3, H, K, V, scale=0.5)
    o, fin = getattr(ops, fn)(q, k, v, beta, scale=0.3, initial_state=h0,
                              output_final_state=True, cu_seqlens=cu)
    ref, ref_fin = delta_ref(q, k, v, beta, scale=0.3, h0=h0, cu_seqlens=cu)
    assert_close(o, ref, what="o")
    assert_close(fin, ref_fin, what="final_state")
    # The length-1 sequence: one update of its own h0, nothing from its neighbours.
    assert not np.allclose(fin[0], fin[1])


def test_fused_recurrent_delta_rule_defaults():
    # beta None is ones; scale None is K^-1/2; no final state unless asked.
    B, T, H, K, V = 1, 5, 1, 4, 3
    q, k, v = rand(B, T, H, K), unit(rand(B, T, H, K)), rand(B, T, H, V)
    o, fin = ops.fused_recurrent_delta_rule(q, k, v)
    assert fin is None
    assert_close(o, delta_ref(q, k, v, np.ones((B, T, H)))[0])


def test_delta_rule_float64():
    B, T, H, K, V = 1, 40, 2, 8, 8
    q, k, v = (rand(B, T, H, K).astype(np.float64), unit(rand(B, T, H, K)).astype(np.float64),
               rand(B, T, H, V).astype(np.float64))
    beta = sigmoid(rand(B, T, H))
    o, fin = ops.chunk_delta_rule(q, k, v, beta, output_final_state=True)
    assert o.dtype == np.float64 and fin.dtype == np.float64
    ref, ref_fin = delta_ref(q, k, v, beta)
    assert np.max(np.abs(o - ref)) < 1e-9
    assert np.max(np.abs(fin - ref_fin)) < 1e-9


def gdn_gate(g, A_log, dt_bias):
    """fla's GDN / KDA gate: -exp(A_log) softplus(g + dt_bias)."""
    return -np.exp(A_log) * np.logaddexp(0.0, g + dt_bias)


def test_gated_delta_rule_gate_and_beta_in_kernel():
    B, T, H, K, V = 1, 21, 2, 8, 6
    q, k, v = rand(B, T, H, K), rand(B, T, H, K), rand(B, T, H, V)
    graw, braw = rand(B, T, H), rand(B, T, H)
    A_log, dt_bias = rand(H, scale=0.3), rand(H, scale=0.3)
    kw = dict(use_qk_l2norm_in_kernel=True, use_beta_sigmoid_in_kernel=True,
              allow_neg_eigval=True, output_final_state=True)
    o1, f1 = ops.chunk_gated_delta_rule(q, k, v, graw, braw, use_gate_in_kernel=True,
                                        A_log=A_log, dt_bias=dt_bias, **kw)
    o2, f2 = ops.fused_recurrent_gated_delta_rule(q, k, v, g=graw, beta=braw,
                                                  use_gate_in_kernel=True, A_log=A_log,
                                                  dt_bias=dt_bias, **kw)
    g = gdn_gate(np.float64(graw), np.float64(A_log)[None, None, :], np.float64(dt_bias)[None, None, :])
    ref, ref_fin = delta_ref(q, k, v, 2.0 * sigmoid(braw), g, l2=True)
    for o, fin in ((o1, f1), (o2, f2)):
        assert_close(o, ref, what="o")
        assert_close(fin, ref_fin, what="final_state")
    with pytest.raises(ValueError, match="allow_neg_eigval"):
        ops.chunk_gated_delta_rule(q, k, v, graw, braw, allow_neg_eigval=True)


def test_fused_recurrent_gated_delta_rule_g_and_gk():
    B, T, H, K, V = 1, 9, 2, 5, 4
    q, k, v = rand(B, T, H, K), unit(rand(B, T, H, K)), rand(B, T, H, V)
    g, gk = logsigmoid(rand(B, T, H) + 2), logsigmoid(rand(B, T, H, K) + 2)
    beta = sigmoid(rand(B, T, H)).astype(np.float32)
    o, fin = ops.fused_recurrent_gated_delta_rule(q, k, v, g=g.astype(np.float32),
                                                  gk=gk.astype(np.float32), beta=beta,
                                                  output_final_state=True)
    ref, ref_fin = delta_ref(q, k, v, beta, gk + g[..., None])
    assert_close(o, ref)
    assert_close(fin, ref_fin)


@pytest.mark.parametrize("fn", ["chunk_kda", "fused_recurrent_kda"])
def test_kda(fn):
    B, T, H, HV, K, V = 1, 34, 1, 2, 12, 5
    q, k, v = rand(B, T, H, K), rand(B, T, H, K), rand(B, T, HV, V)
    g = logsigmoid(rand(B, T, HV, K) + 2.5).astype(np.float32)
    beta = sigmoid(rand(B, T, HV)).astype(np.float32)
    h0 = rand(B, HV, K, V, scale=0.3)
    o, fin = getattr(ops, fn)(q, k, v, g, beta, initial_state=h0, output_final_state=True,
                              use_qk_l2norm_in_kernel=True)
    ref, ref_fin = delta_ref(q, k, v, beta, g, h0=h0, l2=True)
    assert_close(o, ref, what="o")
    assert_close(fin, ref_fin, what="final_state")


@pytest.mark.parametrize("lower_bound", [None, -4.0])
def test_kda_gate_in_kernel(lower_bound):
    B, T, H, K, V = 1, 17, 2, 6, 4
    q, k, v = rand(B, T, H, K), rand(B, T, H, K), rand(B, T, H, V)
    graw, beta = rand(B, T, H, K), sigmoid(rand(B, T, H)).astype(np.float32)
    A_log, dt_bias = rand(H, scale=0.3), rand(H * K, scale=0.3)
    o, fin = ops.chunk_kda(q, k, v, graw, beta, use_qk_l2norm_in_kernel=True,
                           use_gate_in_kernel=True, A_log=A_log, dt_bias=dt_bias,
                           lower_bound=lower_bound, output_final_state=True)
    x = np.float64(graw) + np.float64(dt_bias).reshape(H, K)
    a = np.exp(np.float64(A_log))[:, None]
    g = gdn_gate(np.float64(graw), np.float64(A_log)[:, None], np.float64(dt_bias).reshape(H, K)) \
        if lower_bound is None else lower_bound * sigmoid(a * x)
    ref, ref_fin = delta_ref(q, k, v, beta, g, l2=True)
    assert_close(o, ref)
    assert_close(fin, ref_fin)


def rwkv7_inputs(B, T, H, K, V):
    r, k, v = rand(B, T, H, K), rand(B, T, H, K, scale=0.5), rand(B, T, H, V)
    kk = unit(rand(B, T, H, K))
    a, b = -kk, (kk * sigmoid(rand(B, T, H, K))).astype(np.float32)
    w = (-np.exp(-0.5) * sigmoid(rand(B, T, H, K))).astype(np.float32)  # RWKV-7's log decay
    return r, w, k, v, a, b


def test_rwkv7_fused_recurrent_and_chunk():
    B, T, H, K, V = 2, 29, 2, 11, 10
    r, w, k, v, a, b = rwkv7_inputs(B, T, H, K, V)
    h0 = rand(B, H, K, V, scale=0.3)
    # fused_recurrent_rwkv7: scale K^-1/2 and a final state by default.
    o, fin = ops.fused_recurrent_rwkv7(r, w, k, v, a, b, initial_state=h0)
    ref, ref_fin = delta_ref(r, k, v, g=w, a=a, b=b, h0=h0)
    assert_close(o, ref, what="o")
    assert_close(fin, ref_fin, what="final_state")
    # chunk_rwkv7: scale 1.0 and no final state by default.
    o, fin = ops.chunk_rwkv7(r, w, k, v, a, b, initial_state=h0)
    assert fin is None
    assert_close(o, delta_ref(r, k, v, g=w, a=a, b=b, h0=h0, scale=1.0)[0])


def test_dplr_packed():
    cu = np.array([0, 13, 14, 31], np.int32)
    r, w, k, v, a, b = rwkv7_inputs(1, 31, 2, 7, 9)
    o, fin = ops.chunk_dplr_delta_rule(r, k, v, a, b, w, output_final_state=True, cu_seqlens=cu)
    ref, ref_fin = delta_ref(r, k, v, g=w, a=a, b=b, cu_seqlens=cu)
    assert_close(o, ref)
    assert_close(fin, ref_fin)
    with pytest.raises(NotImplementedError, match="reverse"):
        ops.fused_recurrent_dplr_delta_rule(r, k, v, a, b, w, reverse=True)


def test_state_v_first():
    B, T, H, K, V = 1, 8, 1, 6, 4
    q, k, v = rand(B, T, H, K), unit(rand(B, T, H, K)), rand(B, T, H, V)
    g, beta = logsigmoid(rand(B, T, H)).astype(np.float32), sigmoid(rand(B, T, H)).astype(np.float32)
    h0 = rand(B, H, K, V)
    o, fin = ops.chunk_gated_delta_rule(q, k, v, g, beta, initial_state=h0.transpose(0, 1, 3, 2).copy(),
                                        output_final_state=True, state_v_first=True)
    ref, ref_fin = delta_ref(q, k, v, beta, g, h0=h0)
    assert fin.shape == (B, H, V, K)
    assert_close(o, ref)
    assert_close(fin, ref_fin.transpose(0, 1, 3, 2))


def test_refusals_name_the_argument():
    q, k, v = rand(2, 4, 1, 4), rand(2, 4, 1, 4), rand(2, 4, 1, 4)
    beta, g = sigmoid(rand(2, 4, 1)).astype(np.float32), rand(2, 4, 1)
    with pytest.raises(DeprecationWarning, match="head_first"):
        ops.chunk_delta_rule(q, k, v, beta, head_first=True)
    with pytest.raises(NotImplementedError, match="gv"):
        ops.fused_recurrent_gated_delta_rule(q, k, v, g=g, gv=rand(2, 4, 1, 4), beta=beta)
    with pytest.raises(ValueError, match="batch size is expected to be 1"):
        ops.chunk_gated_delta_rule(q, k, v, g, beta, cu_seqlens=np.array([0, 2, 4]))
    with pytest.raises(ValueError, match="chunk_size"):
        ops.chunk_gated_delta_rule(q, k, v, g, beta, chunk_size=48)
    with pytest.raises(ValueError, match="HV % H"):
        ops.fused_recurrent_gated_delta_rule(rand(2, 4, 2, 4), rand(2, 4, 2, 4), rand(2, 4, 3, 4),
                                             g=rand(2, 4, 3), beta=sigmoid(rand(2, 4, 3)))


@requires_torch
def test_gated_delta_rule_torch_f32_and_bf16():
    from test_ops_torch import assert_low_precision
    F = torch.nn.functional
    gen = torch.Generator().manual_seed(24)
    B, T, H, HV, K, V = 1, 45, 1, 2, 24, 20
    tr = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    q, k, v = tr(B, T, H, K), tr(B, T, H, K), tr(B, T, HV, V)
    g = F.logsigmoid(tr(B, T, HV) + 3)
    beta = torch.sigmoid(tr(B, T, HV))
    h0 = tr(B, HV, K, V) * 0.3
    cu = torch.tensor([0, 20, 45])
    args = dict(use_qk_l2norm_in_kernel=True, output_final_state=True)
    o, fin = ops.chunk_gated_delta_rule(q, k, v, g, beta, initial_state=h0[:1].expand(2, HV, K, V),
                                        cu_seqlens=cu, **args)
    assert isinstance(o, torch.Tensor) and o.dtype == torch.float32
    f = lambda t: t.double().numpy()  # noqa: E731
    ref, ref_fin = delta_ref(f(q), f(k), f(v), f(beta), f(g), h0=f(h0[:1].expand(2, HV, K, V)),
                             l2=True, cu_seqlens=cu.numpy())
    assert_close(o.numpy(), ref)
    assert_close(fin.numpy(), ref_fin)
    # bf16 inputs, float32 gate and beta: o in bf16, the state in float32.
    BF = torch.bfloat16
    qb, kb, vb = q.to(BF), k.to(BF), v.to(BF)
    for fn in (ops.chunk_gated_delta_rule, ops.fused_recurrent_gated_delta_rule):
        o, fin = fn(qb, kb, vb, g=g, beta=beta, **args)
        assert o.dtype == BF and fin.dtype == torch.float32
        ref, ref_fin = delta_ref(f(qb), f(kb), f(vb), f(beta), f(g), l2=True)
        assert_low_precision(o, ref, fn.__name__)
        assert_close(fin.numpy(), ref_fin, rtol=1e-2)


@requires_torch
def test_kda_bf16():
    from test_ops_torch import assert_low_precision
    BF = torch.bfloat16
    gen = torch.Generator().manual_seed(7)
    B, T, H, K, V = 1, 33, 2, 16, 16
    tr = lambda *s: torch.randn(*s, generator=gen)  # noqa: E731
    q, k, v = tr(B, T, H, K).to(BF), tr(B, T, H, K).to(BF), tr(B, T, H, V).to(BF)
    g = torch.nn.functional.logsigmoid(tr(B, T, H, K) + 3).to(BF)
    beta = torch.sigmoid(tr(B, T, H)).to(BF)
    o, _ = ops.chunk_kda(q, k, v, g, beta, use_qk_l2norm_in_kernel=True)
    f = lambda t: t.double().numpy()  # noqa: E731
    assert o.dtype == BF
    assert_low_precision(o, delta_ref(f(q), f(k), f(v), f(beta), f(g), l2=True)[0])
