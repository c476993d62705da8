"""ssmc.ops against independent float64 NumPy references of the peers'
documented formulas (plain loops, no code shared with ssmc), on NumPy arrays.
"""

import numpy as np
import pytest

from ssmc import ops

RNG = np.random.default_rng(7)


def rand(*shape, scale=1.0, dtype=np.float32):
    return (RNG.standard_normal(shape) * scale).astype(dtype)


def assert_close(got, ref, rtol=1e-4, what=""):
    """DESIGN.md's f32 rule: max |err| <= rtol * max(1, max |ref|)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != {ref.shape}"
    assert np.all(np.isfinite(got)), f"{what}: non-finite values"
    err = np.max(np.abs(got - ref)) if ref.size else 0.0
    tol = rtol * max(1.0, np.max(np.abs(ref)) if ref.size else 0.0)
    assert err <= tol, f"{what}: max error {err:.3g} > {tol:.3g}"


# ---------------------------------------------------------------------------
# References (float64 loops of the peers' formulas)
# ---------------------------------------------------------------------------

def softplus(x):
    return np.log1p(np.exp(x))


def silu(x):
    return x / (1.0 + np.exp(-x))


def selective_scan_ref(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                       delta_softplus=False):
    """mamba_ssm's selective_scan_ref, as loops."""
    u, delta, A = (np.asarray(x, np.float64) for x in (u, delta, A))
    B, C = np.asarray(B, np.float64), np.asarray(C, np.float64)
    b, dim, L = u.shape
    n = A.shape[1]
    if delta_bias is not None:
        delta = delta + np.asarray(delta_bias, np.float64)[None, :, None]
    if delta_softplus:
        delta = softplus(delta)

    def bc(X, bi, d, t):
        if X.ndim == 2:
            return X[d]
        if X.ndim == 3:
            return X[bi, :, t]
        g = X.shape[1]
        return X[bi, d // (dim // g), :, t]

    out = np.zeros((b, dim, L))
    h = np.zeros((b, dim, n))
    for bi in range(b):
        for d in range(dim):
            x = np.zeros(n)
            for t in range(L):
                x = np.exp(delta[bi, d, t] * A[d]) * x + delta[bi, d, t] * bc(B, bi, d, t) * u[bi, d, t]
                y = np.dot(bc(C, bi, d, t), x)
                if D is not None:
                    y += float(D[d]) * u[bi, d, t]
                if z is not None:
                    y *= silu(float(z[bi, d, t]))
                out[bi, d, t] = y
            h[bi, d] = x
    return out, h


def selective_state_update_ref(state, x, dt, A, B, C, D=None, z=None, dt_bias=None,
                               dt_softplus=False):
    """mamba_ssm's selective_state_update_ref; returns (out, new_state)."""
    state = np.asarray(state, np.float64).copy()
    multi = state.ndim == 4
    if not multi:
        state, x, dt, A, B, C = state[:, None], x[:, None], dt[:, None], A[None], B[:, None], C[:, None]
        D = None if D is None else D[None]
        z = None if z is None else z[:, None]
        dt_bias = None if dt_bias is None else dt_bias[None]
    b, h, p, n = state.shape
    g = B.shape[1]
    dt = np.asarray(dt, np.float64)
    if dt_bias is not None:
        dt = dt + dt_bias
    if dt_softplus:
        dt = softplus(dt)
    out = np.zeros((b, h, p))
    for bi in range(b):
        for hi in range(h):
            gi = hi // (h // g)
            for pi in range(p):
                d = dt[bi, hi, pi]
                state[bi, hi, pi] = (np.exp(d * A[hi, pi]) * state[bi, hi, pi]
                                     + d * B[bi, gi] * x[bi, hi, pi])
                y = np.dot(state[bi, hi, pi], C[bi, gi])
                if D is not None:
                    y += D[hi, pi] * x[bi, hi, pi]
                if z is not None:
                    y *= silu(z[bi, hi, pi])
                out[bi, hi, pi] = y
    if not multi:
        return out[:, 0], state[:, 0]
    return out, state


def ssd_ref(x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False, h0=None,
            resets=None, dt_limit=None):
    """The Mamba-2 recurrence step by step; resets[b, t] restarts the state
    (from zero) before step t; dt_limit (lo, hi) clamps dt after the bias
    and softplus; D is [H] or [H, P]. Returns (out, state after each row,
    state after each step)."""
    x, dt, A, B, C = (np.asarray(v, np.float64) for v in (x, dt, A, B, C))
    b, L, h, p = x.shape
    g, n = B.shape[2], B.shape[3]
    if dt_bias is not None:
        dt = dt + dt_bias
    if dt_softplus:
        dt = softplus(dt)
    if dt_limit is not None:
        dt = np.minimum(np.maximum(dt, dt_limit[0]), dt_limit[1])
    out = np.zeros((b, L, h, p))
    fin = np.zeros((b, h, p, n))
    every = np.zeros((b, L, h, p, n))
    for bi in range(b):
        for hi in range(h):
            gi = hi // (h // g)
            s = np.zeros((p, n)) if h0 is None else np.array(h0[bi, hi], np.float64)
            for t in range(L):
                if resets is not None and resets[bi, t] and t > 0:
                    s = np.zeros((p, n))
                s = np.exp(dt[bi, t, hi] * A[hi]) * s + dt[bi, t, hi] * np.outer(x[bi, t, hi], B[bi, t, gi])
                y = s @ C[bi, t, gi]
                if D is not None:
                    y = y + D[hi] * x[bi, t, hi]
                if z is not None:
                    y = y * silu(np.asarray(z[bi, t, hi], np.float64))
                out[bi, t, hi] = y
                every[bi, t, hi] = s
            fin[bi, hi] = s
    return out, fin, every


def causal_conv1d_ref(x, weight, bias=None, initial_states=None, silu_act=False):
    """causal-conv1d's causal_conv1d_ref; returns (out, final_states)."""
    x, weight = np.asarray(x, np.float64), np.asarray(weight, np.float64)
    b, dim, L = x.shape
    w = weight.shape[1]
    s0 = np.zeros((b, dim, w - 1)) if initial_states is None else np.asarray(initial_states, np.float64)
    xx = np.concatenate([s0, x], axis=2)
    out = np.zeros((b, dim, L))
    for t in range(L):
        out[:, :, t] = np.sum(xx[:, :, t:t + w] * weight[None], axis=2)
    if bias is not None:
        out += np.asarray(bias, np.float64)[None, :, None]
    if silu_act:
        out = silu(out)
    return out, xx[:, :, L:]


def causal_conv1d_seq_idx_ref(x, weight, bias, seq_idx, silu_act=False):
    """causal-conv1d's channel-last kernel with seq_idx: tap i of step t
    reads x[t - (W-1) + i] only when it lies in the row and its seq_idx
    equals seq_idx[t]."""
    x, weight = np.asarray(x, np.float64), np.asarray(weight, np.float64)
    b, dim, L = x.shape
    w = weight.shape[1]
    out = np.zeros((b, dim, L))
    for bi in range(b):
        for t in range(L):
            for i in range(w):
                s = t - (w - 1) + i
                if s >= 0 and seq_idx[bi, s] == seq_idx[bi, t]:
                    out[bi, :, t] += weight[:, i] * x[bi, :, s]
    if bias is not None:
        out += np.asarray(bias, np.float64)[None, :, None]
    return silu(out) if silu_act else out


def causal_conv1d_update_ref(x, conv_state, weight, bias=None, silu_act=False,
                             cache_seqlens=None, conv_state_indices=None):
    """causal-conv1d's causal_conv1d_update_ref (x [B, D, L]) in float64,
    with conv_state_indices selecting a slot of the pool per batch entry
    (negative: padding, output 0, as ssmc defines it). Returns (out, the
    new conv_state)."""
    x, weight = np.asarray(x, np.float64), np.asarray(weight, np.float64)
    state = np.array(conv_state, np.float64)
    b, dim, L = x.shape
    w = weight.shape[1]
    S = state.shape[2]
    out = np.zeros((b, dim, L))
    for bi in range(b):
        slot = bi if conv_state_indices is None else int(conv_state_indices[bi])
        if slot < 0:
            continue
        st = state[slot]
        if cache_seqlens is None:
            xx = np.concatenate([st, x[bi]], axis=1)
            state[slot] = xx[:, -S:]
        else:
            c = int(cache_seqlens[bi])
            width_idx = np.remainder(np.arange(-(w - 1), 0) + c, S)
            xx = np.concatenate([st[:, width_idx], x[bi]], axis=1)
            copy_idx = np.remainder(np.arange(L) + c, S)
            st = st.copy()
            st[:, copy_idx] = x[bi]
            state[slot] = st
        for t in range(L):
            out[bi, :, t] = np.sum(xx[:, xx.shape[1] - L + t - (w - 1):xx.shape[1] - L + t + 1] * weight,
                                   axis=1)
        if bias is not None:
            out[bi] += np.asarray(bias, np.float64)[:, None]
        if silu_act:
            out[bi] = silu(out[bi])
    return out, state


def gla_ref(q, k, v, g=None, scale=None, h0=None, cu_seqlens=None, reverse=False):
    """fla's naive recurrent (simple) GLA on [B, T, H, *]: g is [B, T, H]
    or [B, T, H, K] log decays; reverse runs each sequence from its last
    step to its first (fla's fused_recurrent reverse=True). Returns (o,
    final states)."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    b, T, h, kd = q.shape
    vd = v.shape[-1]
    scale = kd ** -0.5 if scale is None else scale
    segs = [(bi, 0, T) for bi in range(b)] if cu_seqlens is None else \
        [(0, int(cu_seqlens[i]), int(cu_seqlens[i + 1])) for i in range(len(cu_seqlens) - 1)]
    o = np.zeros((b, T, h, vd))
    fin = np.zeros((len(segs), h, kd, vd))
    for si, (bi, t0, t1) in enumerate(segs):
        for hi in range(h):
            S = np.zeros((kd, vd)) if h0 is None else np.array(h0[si, hi], np.float64)
            for t in (range(t1 - 1, t0 - 1, -1) if reverse else range(t0, t1)):
                if g is not None:
                    gt = np.asarray(g[bi, t, hi], np.float64)
                    S = (np.exp(gt)[:, None] if gt.ndim else np.exp(gt)) * S
                S = S + np.outer(k[bi, t, hi], v[bi, t, hi])
                o[bi, t, hi] = (q[bi, t, hi] * scale) @ S
            fin[si, hi] = S
    return o, fin


def attention_ref(q, k, v, causal=False, scale=None, window=None):
    """PyTorch's scaled_dot_product_attention (causal: top-left aligned) in
    float64, with a sliding window of the w most recent keys."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    b, h, lq, e = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    scale = e ** -0.5 if scale is None else scale
    o = np.zeros((b, h, lq, v.shape[3]))
    for bi in range(b):
        for hi in range(h):
            kh = hi // (h // hkv)
            s = (q[bi, hi] @ k[bi, kh].T) * scale
            i = np.arange(lq)[:, None]
            j = np.arange(lk)[None, :]
            mask = np.ones((lq, lk), bool)
            if causal:
                mask &= j <= i
                if window is not None:
                    mask &= j > i - window
            s = np.where(mask, s, -np.inf)
            p = np.exp(s - s.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            o[bi, hi] = p @ v[bi, kh]
    return o


def flash_attention_ref(q, k, v, causal=False, window_size=(-1, -1), softcap=0.0, alibi=None,
                        scale=None, normalise=True):
    """flash-attention's attention_ref (tests/test_flash_attn.py) in float64
    on [B, L, H, d]: construct_local_mask's bottom-right window, softcap
    before the mask, attn_bias_from_alibi_slopes (slope * (j - Lk + 1) for
    causal, -slope * |i + Lk - Lq - j| otherwise), and rows with every key
    masked give 0. window_size is first normalised as flash_api.cpp's
    mha_fwd and set_params_fprop do (unless normalise is False: the
    kernel's own window, as the varlen path normalises it)."""
    q, k, v = (np.asarray(a, np.float64) for a in (q, k, v))
    b, lq, h, d = q.shape
    lk, hkv = k.shape[1], k.shape[2]
    scale = d ** -0.5 if scale is None else scale
    # flash_api.cpp: sides >= Lk are unbounded; causal sets right = 0; an
    # unbounded side next to a bounded one is Lk.
    if normalise:
        left, right = (-1 if w >= lk else w for w in window_size)
        if causal:
            right = 0
        if left < 0 and right >= 0:
            left = lk
        if left >= 0 and right < 0:
            right = lk
        window_size = (left, right)
    i = np.arange(lq)[:, None]
    j = np.arange(lk)[None, :]
    if window_size[0] < 0 and window_size[1] < 0:
        masked = np.zeros((lq, lk), bool)
    elif window_size[0] < 0:
        masked = j > i + lk - lq + window_size[1]
    else:
        masked = (j > np.minimum(i + lk - lq + window_size[1], lk)) | (j < i + lk - lq - window_size[0])
    o = np.zeros((b, lq, h, v.shape[3]))
    for bi in range(b):
        for hi in range(h):
            kh = hi // (h // hkv)
            s = (q[bi, :, hi] @ k[bi, :, kh].T) * scale
            if softcap > 0:
                s = np.tanh(s / softcap) * softcap
            s = np.where(masked, -np.inf, s)
            if alibi is not None:
                slope = float(np.asarray(alibi, np.float64)[(bi, hi) if np.ndim(alibi) == 2 else hi])
                s = s + (slope * (j - lk + 1) if causal else -slope * np.abs(i + lk - lq - j))
            for r in range(lq):
                if np.all(masked[r]):
                    continue
                p = np.exp(s[r] - np.max(s[r]))
                o[bi, r, hi] = (p / p.sum()) @ v[bi, :, kh]
    return o


# ---------------------------------------------------------------------------
# mamba_ssm
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("full", [False, True])
@pytest.mark.parametrize("bc_form", ["shared", "grouped"])
def test_selective_scan_fn(full, bc_form):
    b, dim, n, L = 2, 12, 8, 11
    u, delta = rand(b, dim, L), rand(b, dim, L, scale=0.5)
    A = -np.exp(rand(dim, n, scale=0.5))
    shape = (b, n, L) if bc_form == "shared" else (b, 3, n, L)
    B, C = rand(*shape), rand(*shape)
    kw = dict(D=rand(dim), z=rand(b, dim, L), delta_bias=rand(dim, scale=0.3),
              delta_softplus=True) if full else {}
    out, last = ops.selective_scan_fn(u, delta, A, B, C, return_last_state=True, **kw)
    ref, ref_h = selective_scan_ref(u, delta, A, B, C, **kw)
    assert out.dtype == np.float32 and last.dtype == np.float32
    assert_close(out, ref, what="out")
    assert_close(last, ref_h, what="last_state")
    only = ops.selective_scan_fn(u, delta, A, B, C, **kw)
    assert not isinstance(only, tuple)
    assert_close(only, ref, what="out without state")


def test_selective_scan_fn_input_independent_B():
    b, dim, n, L = 1, 4, 4, 6
    u, delta = rand(b, dim, L), np.abs(rand(b, dim, L, scale=0.5))
    A = -np.exp(rand(dim, n, scale=0.5))
    B, C = rand(dim, n), rand(b, n, L)
    out = ops.selective_scan_fn(u, delta, A, B, C)
    assert_close(out, selective_scan_ref(u, delta, A, B, C)[0])


def test_selective_scan_fn_input_independent_C_next_to_grouped_B():
    # C [dim, N] reaches the op as its fixed form, B stays grouped.
    b, dim, n, L = 2, 9, 5, 13
    u, delta = rand(b, dim, L), rand(b, dim, L, scale=0.5)
    A = -np.exp(rand(dim, n, scale=0.5))
    B, C = rand(b, 3, n, L), rand(dim, n)
    kw = dict(D=rand(dim), z=rand(b, dim, L), delta_bias=rand(dim, scale=0.3),
              delta_softplus=True)
    out, last = ops.selective_scan_fn(u, delta, A, B, C, return_last_state=True, **kw)
    ref, ref_h = selective_scan_ref(u, delta, A, B, C, **kw)
    assert_close(out, ref, what="out")
    assert_close(last, ref_h, what="last_state")


def test_selective_scan_fn_f64_strided():
    b, dim, n, L = 1, 5, 4, 9
    base = rand(b, L, dim, dtype=np.float64)
    u = base.transpose(0, 2, 1)  # a strided view in the op's layout
    delta = np.abs(rand(b, dim, L, scale=0.5, dtype=np.float64))
    A = -np.exp(rand(dim, n, scale=0.5, dtype=np.float64))
    B, C = rand(b, n, L, dtype=np.float64), rand(b, n, L, dtype=np.float64)
    out, last = ops.selective_scan_fn(u, delta, A, B, C, return_last_state=True)
    assert out.dtype == np.float64 and last.dtype == np.float64
    ref, ref_h = selective_scan_ref(u, delta, A, B, C)
    assert_close(out, ref, rtol=1e-10)
    assert_close(last, ref_h, rtol=1e-10)


@pytest.mark.parametrize("multihead", [False, True])
def test_selective_state_update(multihead):
    if multihead:
        b, h, p, n, g = 2, 4, 3, 8, 2
        xs = (b, h, p)
        state = rand(b, h, p, n)
        A = -np.exp(rand(h, p, n, scale=0.5))
        B, C = rand(b, g, n), rand(b, g, n)
        D, bias = rand(h, p), rand(h, p, scale=0.3)
    else:
        b, dim, n = 2, 10, 8
        xs = (b, dim)
        state = rand(b, dim, n)
        A = -np.exp(rand(dim, n, scale=0.5))
        B, C = rand(b, n), rand(b, n)
        D, bias = rand(dim), rand(dim, scale=0.3)
    x, dt, z = rand(*xs), rand(*xs, scale=0.5), rand(*xs)
    ref_out, ref_state = selective_state_update_ref(state, x, dt, A, B, C, D=D, z=z, dt_bias=bias,
                                                    dt_softplus=True)
    st = state.copy()
    out = ops.selective_state_update(st, x, dt, A, B, C, D=D, z=z, dt_bias=bias, dt_softplus=True)
    assert out.shape == xs
    assert_close(out, ref_out, what="out")
    assert_close(st, ref_state, what="state updated in place")


def test_selective_state_update_equals_scan_steps():
    """Token-by-token decoding continues selective_scan_fn's last state."""
    b, dim, n, L = 1, 6, 4, 7
    u, delta = rand(b, dim, L), rand(b, dim, L, scale=0.5)
    A = -np.exp(rand(dim, n, scale=0.5))
    B, C, D = rand(b, n, L), rand(b, n, L), rand(dim)
    full = ops.selective_scan_fn(u, delta, A, B, C, D=D, delta_softplus=True)
    _, st = ops.selective_scan_fn(u[..., :4], delta[..., :4], A, B[..., :4], C[..., :4], D=D,
                                  delta_softplus=True, return_last_state=True)
    st = np.array(st)
    for t in range(4, L):
        y = ops.selective_state_update(st, u[..., t], delta[..., t], A, B[..., t], C[..., t], D=D,
                                       dt_softplus=True)
        assert_close(y, full[..., t], what=f"step {t}")


@pytest.mark.parametrize("multihead", [False, True])
def test_selective_state_update_state_batch_indices(multihead):
    """A pool of 5 state slots; batch entry b updates slot idx[b], a
    negative index pads (output 0, no slot written), other slots keep."""
    nslots, b, n = 5, 3, 7
    idx = np.array([4, -1, 1], np.int32)
    if multihead:
        h, p, g = 3, 5, 1
        xs, pool = (b, h, p), rand(nslots, h, p, n)
        A = -np.exp(rand(h, p, n, scale=0.5))
        B, C = rand(b, g, n), rand(b, g, n)
        D, bias = rand(h, p), rand(h, p, scale=0.3)
    else:
        dim = 9
        xs, pool = (b, dim), rand(nslots, dim, n)
        A = -np.exp(rand(dim, n, scale=0.5))
        B, C = rand(b, n), rand(b, n)
        D, bias = rand(dim), rand(dim, scale=0.3)
    x, dt, z = rand(*xs), rand(*xs, scale=0.5), rand(*xs)
    ref_out = np.zeros(xs)
    ref_pool = pool.astype(np.float64)
    for bi in range(b):
        if idx[bi] < 0:
            continue
        o, st = selective_state_update_ref(pool[idx[bi]][None], x[bi:bi + 1], dt[bi:bi + 1], A,
                                           B[bi:bi + 1], C[bi:bi + 1], D=D, z=z[bi:bi + 1],
                                           dt_bias=bias, dt_softplus=True)
        ref_out[bi], ref_pool[idx[bi]] = o[0], st[0]
    st = pool.copy()
    out = ops.selective_state_update(st, x, dt, A, B, C, D=D, z=z, dt_bias=bias, dt_softplus=True,
                                     state_batch_indices=idx)
    assert out.shape == xs
    assert_close(out, ref_out, what="out")
    assert np.all(out[1] == 0), "a padded entry's output is 0"
    assert_close(st, ref_pool, what="pool updated in place")
    assert np.array_equal(st[[0, 2, 3]], pool[[0, 2, 3]]), "slots not named keep their values"


@pytest.mark.parametrize("softplus", [False, True])
def test_mamba_chunk_scan_combined_dt_limit_and_D_per_channel(softplus):
    """dt_limit clamps dt after the bias and softplus; D [H, P] is one skip
    weight per head channel (D_has_hdim). Without softplus the default
    (0, inf) clamps negative steps to 0, as the peer always clamps."""
    b, L, h, p, g, n = 2, 11, 3, 5, 1, 7
    x, dt = rand(b, L, h, p), rand(b, L, h)
    A = -np.exp(rand(h, scale=0.5))
    B, C = rand(b, L, g, n), rand(b, L, g, n)
    D, bias, z = rand(h, p), rand(h, scale=0.3), rand(b, L, h, p)
    h0 = rand(b, h, p, n)
    limit = (0.2, 0.9) if softplus else (0.0, float("inf"))
    kw = dict(D=D, z=z, dt_bias=bias, dt_softplus=softplus)
    out, fin = ops.mamba_chunk_scan_combined(x, dt, A, B, C, 8, initial_states=h0, dt_limit=limit,
                                             return_final_states=True, **kw)
    ref, ref_fin, _ = ssd_ref(x, dt, A, B, C, h0=h0, dt_limit=limit, **kw)
    assert_close(out, ref, what="out")
    assert_close(fin, ref_fin, what="final_states")
    # The clamp changes the result (the test can fail).
    unclamped, _, _ = ssd_ref(x, dt, A, B, C, h0=h0, **kw)
    assert np.max(np.abs(unclamped - ref)) > 1e-2
    # Packed along the sequence (seq_idx) the clamp still applies.
    seq_idx = np.array([[0] * 4 + [1] * 7, [0] * 11], np.int32)
    resets = np.concatenate([np.zeros((b, 1), bool), seq_idx[:, 1:] != seq_idx[:, :-1]], axis=1)
    outp = ops.mamba_chunk_scan_combined(x, dt, A, B, C, 8, dt_limit=limit, seq_idx=seq_idx, **kw)
    assert_close(outp, ssd_ref(x, dt, A, B, C, dt_limit=limit, resets=resets, **kw)[0], what="packed")


@pytest.mark.parametrize("full", [False, True])
def test_mamba_chunk_scan_combined(full):
    b, L, h, p, g, n = 2, 13, 4, 3, 2, 8
    x, dt = rand(b, L, h, p), rand(b, L, h, scale=0.5)
    A = -np.exp(rand(h, scale=0.5))
    B, C = rand(b, L, g, n), rand(b, L, g, n)
    kw = dict(D=rand(h), z=rand(b, L, h, p), dt_bias=rand(h, scale=0.3), dt_softplus=True) if full else {}
    h0 = rand(b, h, p, n) if full else None
    if not full:
        dt = np.abs(dt)
    out, fin = ops.mamba_chunk_scan_combined(x, dt, A, B, C, 64, initial_states=h0,
                                             return_final_states=True, **kw)
    ref, ref_fin, _ = ssd_ref(x, dt, A, B, C, h0=h0, **kw)
    assert out.shape == (b, L, h, p) and fin.shape == (b, h, p, n)
    assert_close(out, ref, what="out")
    assert_close(fin, ref_fin, what="final_states")
    only = ops.mamba_chunk_scan_combined(x, dt, A, B, C, 64, initial_states=h0, **kw)
    assert_close(only, ref, what="out only")


def test_mamba_chunk_scan_combined_packed():
    """cu_seqlens + seq_idx (as Mamba-2 calls it on packed batches): the state
    restarts at each sequence, varlen_states are each sequence's last state."""
    L, h, p, g, n = 15, 2, 3, 1, 4
    cu = np.array([0, 4, 4, 11, 15], np.int64)
    seq_idx = np.repeat(np.arange(4), np.diff(cu))[None].astype(np.int32)
    x, dt = rand(1, L, h, p), np.abs(rand(1, L, h, scale=0.5))
    A = -np.exp(rand(h, scale=0.5))
    B, C = rand(1, L, g, n), rand(1, L, g, n)
    h0 = rand(1, h, p, n)
    out, fin, varlen = ops.mamba_chunk_scan_combined(
        x, dt, A, B, C, 8, initial_states=h0, seq_idx=seq_idx, cu_seqlens=cu,
        return_final_states=True, return_varlen_states=True)
    resets = np.zeros((1, L), bool)
    resets[0, cu[1:-1]] = True
    ref, ref_fin, every = ssd_ref(x, dt, A, B, C, h0=h0, resets=resets)
    assert_close(out, ref, what="out")
    assert_close(fin, ref_fin, what="final_states")
    assert varlen.shape == (4, h, p, n)
    for i in range(4):
        want = np.zeros((h, p, n)) if cu[i] == cu[i + 1] else every[0, cu[i + 1] - 1]
        if i == 0 and cu[1] == 0:
            want = h0[0]
        assert_close(varlen[i], want, what=f"varlen state {i}")


def test_mamba_chunk_scan_combined_seq_idx_batched():
    b, L, h, p, n = 2, 9, 2, 2, 4
    seq_idx = np.array([[0, 0, 0, 1, 1, 1, 1, 2, 2], [0] * 5 + [1] * 4], np.int32)
    x, dt = rand(b, L, h, p), np.abs(rand(b, L, h, scale=0.5))
    A = -np.exp(rand(h, scale=0.5))
    B, C = rand(b, L, 1, n), rand(b, L, 1, n)
    out, fin = ops.mamba_chunk_scan_combined(x, dt, A, B, C, 4, seq_idx=seq_idx,
                                             return_final_states=True)
    resets = np.concatenate([np.zeros((b, 1), bool), seq_idx[:, 1:] != seq_idx[:, :-1]], axis=1)
    ref, ref_fin, _ = ssd_ref(x, dt, A, B, C, resets=resets)
    assert_close(out, ref)
    assert_close(fin, ref_fin)


# ---------------------------------------------------------------------------
# causal-conv1d
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("with_state", [False, True])
def test_causal_conv1d_fn(activation, with_state):
    b, dim, L, w = 2, 6, 10, 4
    x, weight, bias = rand(b, dim, L), rand(dim, w), rand(dim)
    s0 = rand(b, dim, w - 1) if with_state else None
    out, fin = ops.causal_conv1d_fn(x, weight, bias, initial_states=s0, return_final_states=True,
                                    activation=activation)
    ref, ref_fin = causal_conv1d_ref(x, weight, bias, s0, activation == "silu")
    assert_close(out, ref, what="out")
    assert_close(fin, ref_fin, what="final_states")
    dst = np.zeros((b, dim, w - 1), np.float32)
    out2, fin2 = ops.causal_conv1d_fn(x, weight, None, initial_states=s0, return_final_states=True,
                                      final_states_out=dst, activation=activation)
    assert fin2 is dst
    assert_close(dst, ref_fin, what="final_states_out")
    assert_close(out2, causal_conv1d_ref(x, weight, None, s0, activation == "silu")[0])


def test_causal_conv1d_channel_last_view():
    """causal-conv1d accepts x as a [B, L, D] buffer seen as [B, D, L]."""
    b, dim, L, w = 1, 8, 7, 3
    x = rand(b, L, dim).transpose(0, 2, 1)
    weight = rand(dim, w)
    out = ops.causal_conv1d_fn(x, weight, activation="swish")
    assert_close(out, causal_conv1d_ref(x, weight, silu_act=True)[0])


@pytest.mark.parametrize("seqlen", [None, 3])
@pytest.mark.parametrize("state_len", [3, 5])
def test_causal_conv1d_update(seqlen, state_len):
    b, dim, w = 2, 5, 4
    xs = (b, dim) if seqlen is None else (b, dim, seqlen)
    x, weight, bias = rand(*xs), rand(dim, w), rand(dim)
    conv_state = rand(b, dim, state_len)
    x3 = x[..., None] if seqlen is None else x
    xx = np.concatenate([conv_state, x3], axis=2).astype(np.float64)
    want_state = xx[:, :, -state_len:].copy()
    ref, _ = causal_conv1d_ref(x3, weight, bias, xx[:, :, state_len - (w - 1):state_len], True)
    st = conv_state.copy()
    out = ops.causal_conv1d_update(x, st, weight, bias, activation="silu")
    assert out.shape == xs
    assert_close(out, ref.reshape(xs), what="out")
    assert_close(st, want_state, what="conv_state")


@pytest.mark.parametrize("activation", [None, "silu"])
def test_causal_conv1d_fn_seq_idx(activation):
    """seq_idx: no tap reads an input of another sequence (or row)."""
    b, dim, L, w = 2, 5, 11, 4
    x, weight, bias = rand(b, dim, L), rand(dim, w), rand(dim)
    seq_idx = np.array([[0, 0, 0, 1, 1, 2, 2, 2, 2, 2, 2], [3] * 6 + [4] * 5], np.int32)
    out = ops.causal_conv1d_fn(x, weight, bias, seq_idx=seq_idx, activation=activation)
    ref = causal_conv1d_seq_idx_ref(x, weight, bias, seq_idx, activation == "silu")
    assert out.shape == (b, dim, L)
    assert_close(out, ref)
    # One sequence per row is the plain convolution.
    one = ops.causal_conv1d_fn(x, weight, bias, seq_idx=np.zeros((b, L), np.int64),
                               activation=activation)
    assert_close(one, causal_conv1d_ref(x, weight, bias, None, activation == "silu")[0])
    assert np.max(np.abs(one - out)) > 1e-3


def test_causal_conv1d_fn_seq_idx_preconditions():
    x, weight = rand(1, 3, 5), rand(3, 2)
    s = np.zeros((1, 5), np.int32)
    with pytest.raises(ValueError, match="initial_states"):
        ops.causal_conv1d_fn(x, weight, seq_idx=s, initial_states=rand(1, 3, 1))
    with pytest.raises(ValueError, match="final_states"):
        ops.causal_conv1d_fn(x, weight, seq_idx=s, return_final_states=True)
    with pytest.raises(NotImplementedError, match="'seq_idx'"):
        ops.causal_conv1d_fn(x, weight, seq_idx=np.array([[0, 0, 1, 0, 0]], np.int32))


@pytest.mark.parametrize("seqlen", [None, 3])
@pytest.mark.parametrize("ring,pool", [(True, False), (False, True), (True, True)])
def test_causal_conv1d_update_cache_seqlens_and_indices(seqlen, ring, pool):
    """causal_conv1d_update_ref's circular conv_state (cache_seqlens) and a
    pool of conv states (conv_state_indices, -1 pads)."""
    b, dim, w, state_len = 3, 5, 4, 7
    xs = (b, dim) if seqlen is None else (b, dim, seqlen)
    x, weight, bias = rand(*xs), rand(dim, w), rand(dim)
    conv_state = rand(6 if pool else b, dim, state_len)
    cache = np.array([2, 9, 0], np.int32) if ring else None
    idx = np.array([5, -1, 0], np.int64) if pool else None
    x3 = x[..., None] if seqlen is None else x
    ref, ref_state = causal_conv1d_update_ref(x3, conv_state, weight, bias, True, cache, idx)
    st = conv_state.copy()
    out = ops.causal_conv1d_update(x, st, weight, bias, activation="silu", cache_seqlens=cache,
                                   conv_state_indices=idx)
    assert out.shape == xs
    assert_close(out, ref.reshape(xs), what="out")
    assert_close(st, ref_state, what="conv_state")
    if pool:
        assert np.all(np.asarray(out)[1] == 0)
        assert np.array_equal(st[1:5], conv_state[1:5])


# ---------------------------------------------------------------------------
# flash-linear-attention
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn", ["chunk_simple_gla", "fused_recurrent_simple_gla"])
def test_simple_gla(fn):
    b, T, h, kd, vd = 2, 9, 3, 4, 5
    q, k, v = rand(b, T, h, kd), rand(b, T, h, kd), rand(b, T, h, vd)
    g = -np.abs(rand(b, T, h, scale=0.3))
    h0 = rand(b, h, kd, vd)
    o, fin = getattr(ops, fn)(q, k, v, g=g, initial_state=h0, output_final_state=True)
    ref, ref_fin = gla_ref(q, k, v, g, h0=h0)
    assert o.shape == (b, T, h, vd) and fin.shape == (b, h, kd, vd)
    assert_close(o, ref, what="o")
    assert_close(fin, ref_fin, what="final_state")
    o2, none = getattr(ops, fn)(q, k, v, g=g, scale=0.3)
    assert none is None
    assert_close(o2, gla_ref(q, k, v, g, scale=0.3)[0], what="scale")


def test_simple_gla_g_gamma_and_cu_seqlens():
    T, h, kd, vd = 10, 2, 3, 3
    q, k, v = rand(1, T, h, kd), rand(1, T, h, kd), rand(1, T, h, vd)
    gamma = -np.abs(rand(h, scale=0.3))
    cu = np.array([0, 3, 10], np.int64)
    o, fin = ops.chunk_simple_gla(q, k, v, g_gamma=gamma, output_final_state=True, cu_seqlens=cu)
    g = np.broadcast_to(gamma, (1, T, h))
    ref, ref_fin = gla_ref(q, k, v, g, cu_seqlens=cu)
    assert_close(o, ref)
    assert_close(fin, ref_fin)


@pytest.mark.parametrize("fn", ["chunk_gla", "fused_recurrent_gla"])
def test_gla(fn):
    b, T, h, kd, vd = 1, 8, 2, 4, 3
    q, k, v = rand(b, T, h, kd), rand(b, T, h, kd), rand(b, T, h, vd)
    g = -np.abs(rand(b, T, h, kd, scale=0.3))
    h0 = rand(b, h, kd, vd)
    o, fin = getattr(ops, fn)(q, k, v, g, initial_state=h0, output_final_state=True)
    ref, ref_fin = gla_ref(q, k, v, g, h0=h0)
    assert_close(o, ref)
    assert_close(fin, ref_fin)


def test_gla_head_first():
    b, T, h, kd, vd = 1, 6, 2, 3, 3
    q, k, v = rand(b, h, T, kd), rand(b, h, T, kd), rand(b, h, T, vd)
    g = -np.abs(rand(b, h, T, kd, scale=0.3))
    o, _ = ops.chunk_gla(q, k, v, g, head_first=True)
    t = lambda a: a.transpose(0, 2, 1, 3)  # noqa: E731
    assert_close(o, t(gla_ref(t(q), t(k), t(v), t(g))[0]))


@pytest.mark.parametrize("gate", ["simple", "gla"])
@pytest.mark.parametrize("packed", [False, True])
def test_fused_recurrent_reverse(gate, packed):
    """reverse=True: each sequence from its last step to its first;
    initial_state enters before the last step, the final state leaves
    after the first."""
    b, T, h, kd, vd = (1 if packed else 2), 9, 3, 5, 3
    q, k, v = rand(b, T, h, kd), rand(b, T, h, kd), rand(b, T, h, vd)
    cu = np.array([0, 4, 4, 9], np.int64) if packed else None
    nseq = 3 if packed else b
    h0 = rand(nseq, h, kd, vd)
    if gate == "simple":
        g = -np.abs(rand(b, T, h, scale=0.3))
        o, fin = ops.fused_recurrent_simple_gla(q, k, v, g=g, initial_state=h0, output_final_state=True,
                                                reverse=True, cu_seqlens=cu)
    else:
        g = -np.abs(rand(b, T, h, kd, scale=0.3))
        o, fin = ops.fused_recurrent_gla(q, k, v, gk=g, initial_state=h0, output_final_state=True,
                                         reverse=True, cu_seqlens=cu)
    ref, ref_fin = gla_ref(q, k, v, g, h0=h0, cu_seqlens=cu, reverse=True)
    assert_close(o, ref, what="o")
    assert_close(fin, ref_fin, what="final_state")
    fwd, _ = gla_ref(q, k, v, g, h0=h0, cu_seqlens=cu)
    assert np.max(np.abs(fwd - ref)) > 1e-2


# ---------------------------------------------------------------------------
# Softmax attention
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("causal,window", [(False, None), (True, None), (True, 3)])
@pytest.mark.parametrize("hkv", [4, 2, 1])
def test_scaled_dot_product_attention(causal, window, hkv):
    b, h, L, e = 2, 4, 9, 8
    q, k, v = rand(b, h, L, e), rand(b, hkv, L, e), rand(b, hkv, L, 5)
    o = ops.scaled_dot_product_attention(q, k, v, is_causal=causal, enable_gqa=hkv != h,
                                         window=window)
    assert_close(o, attention_ref(q, k, v, causal, window=window))


@pytest.mark.parametrize("window", [None, 6])
def test_attention_causal_more_queries_than_keys(window):
    """is_causal with Lq > Lk: PyTorch's top-left mask, query i sees keys
    j <= i (the last Lq - Lk queries see every key)."""
    b, h, lq, lk, e = 2, 3, 9, 5, 4
    q, k, v = rand(b, h, lq, e), rand(b, h, lk, e), rand(b, h, lk, 3)
    o = ops.scaled_dot_product_attention(q, k, v, is_causal=True, window=window)
    assert_close(o, attention_ref(q, k, v, True, window=window))
    with pytest.raises(NotImplementedError, match="'window'"):
        ops.scaled_dot_product_attention(q, k, v, is_causal=True, window=2)


@pytest.mark.parametrize("causal,window", [(False, (-1, -1)), (True, (-1, -1)), (True, (3, -1)),
                                           (False, (2, 1)), (False, (-1, 0)), (False, (4, -1)),
                                           (False, (2, -1))])
@pytest.mark.parametrize("lq,lk", [(7, 7), (5, 11), (9, 4)])
def test_flash_attn_func(causal, window, lq, lk):
    """flash_attn_func against flash-attention's attention_ref: bottom-right
    masks, two-sided windows, GQA, softcap and ALiBi ([H] and [B, H])."""
    b, h, hkv, d = 2, 4, 2, 6
    q, k, v = rand(b, lq, h, d), rand(b, lk, hkv, d), rand(b, lk, hkv, 5)
    o = ops.flash_attn_func(q, k, v, causal=causal, window_size=window)
    assert o.shape == (b, lq, h, 5)
    assert_close(o, flash_attention_ref(q, k, v, causal, window), what="plain")
    slopes = np.abs(rand(h, scale=0.5)) if lk % 2 else np.abs(rand(b, h, scale=0.5))
    o = ops.flash_attn_func(q * 3, k, v, softmax_scale=0.7, causal=causal, window_size=window,
                            softcap=2.5, alibi_slopes=slopes)
    ref = flash_attention_ref(q * 3, k, v, causal, window, softcap=2.5, alibi=slopes, scale=0.7)
    assert_close(o, ref, what="softcap + alibi")
    assert np.max(np.abs(ref - flash_attention_ref(q * 3, k, v, causal, window, scale=0.7))) > 1e-2


@pytest.mark.parametrize("causal,window", [(False, (-1, -1)), (True, (-1, -1)), (True, (2, -1)),
                                           (False, (1, 2)), (False, (3, -1)), (False, (1, -1))])
def test_flash_attn_varlen_func(causal, window):
    """Packed sequences of their own lengths (one empty, Lq > Lk, Lq < Lk):
    flash_attn_func on each sequence, with the window normalised by
    max_seqlen_k as flash-attention's varlen path does."""
    h, hkv, d = 4, 1, 5
    cuq = np.array([0, 3, 3, 10, 12], np.int32)
    cuk = np.array([0, 5, 7, 10, 16], np.int32)
    q, k, v = rand(12, h, d), rand(16, hkv, d), rand(16, hkv, 3)
    slopes = np.abs(rand(h, scale=0.5))
    o = ops.flash_attn_varlen_func(q, k, v, cuq, cuk, 7, 6, causal=causal, window_size=window,
                                   softcap=3.0, alibi_slopes=slopes)
    assert o.shape == (12, h, 3)
    mk = int(np.max(np.diff(cuk)))
    ref = np.zeros((12, h, 3))
    for i in range(4):
        q0, q1, k0, k1 = cuq[i], cuq[i + 1], cuk[i], cuk[i + 1]
        if q1 == q0:
            continue
        # The peer normalises the window with max_seqlen_k, not the sequence's Lk.
        left, right = (-1 if w >= mk else w for w in window)
        if causal:
            right = 0
        if left < 0 and right >= 0:
            left = mk
        if left >= 0 and right < 0:
            right = mk
        ref[q0:q1] = flash_attention_ref(q[None, q0:q1], k[None, k0:k1], v[None, k0:k1], causal,
                                         (left, right), softcap=3.0, alibi=slopes,
                                         normalise=False)[0]
    assert_close(o, ref)


def test_attention_top_left_causal_and_scale():
    q, k, v = rand(1, 2, 3, 4), rand(1, 2, 7, 4), rand(1, 2, 7, 4)
    o = ops.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.25)
    assert_close(o, attention_ref(q, k, v, True, scale=0.25))
    o3 = ops.scaled_dot_product_attention(q[0], k[0], v[0])
    assert_close(o3, attention_ref(q, k, v)[0])


# ---------------------------------------------------------------------------
# Caching and bad inputs
# ---------------------------------------------------------------------------

def test_program_cached_per_specialisation():
    q, k, v = rand(1, 1, 4, 2), rand(1, 1, 4, 2), rand(1, 1, 4, 2)
    ops.scaled_dot_product_attention(q, k, v)
    first = ops.program_text()
    n = len(ops._entries)
    ops.scaled_dot_product_attention(q * 2, k, v)
    assert ops.program_text() == first and len(ops._entries) == n
    ops.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert ops.program_text() != first and len(ops._entries) == n + 1


@pytest.mark.parametrize("call", [
    lambda: ops.selective_scan_fn(rand(2, 3), rand(2, 3), rand(3, 4), rand(2, 4, 3), rand(2, 4, 3)),
    lambda: ops.selective_scan_fn(rand(1, 3, 5), rand(1, 3, 4), rand(3, 4), rand(1, 4, 5), rand(1, 4, 5)),
    lambda: ops.selective_scan_fn(rand(1, 3, 5), rand(1, 3, 5), rand(3, 4), rand(1, 2, 4, 5), rand(1, 2, 4, 5)),
    lambda: ops.selective_scan_fn(np.ones((1, 3, 5), np.int32), rand(1, 3, 5), rand(3, 4), rand(1, 4, 5), rand(1, 4, 5)),
    lambda: ops.causal_conv1d_fn(rand(1, 3, 5), rand(4, 2)),
    lambda: ops.causal_conv1d_update(rand(1, 3), rand(1, 3, 1), rand(3, 4)),
    lambda: ops.chunk_gla(rand(2, 4, 1, 3), rand(2, 4, 1, 3), rand(2, 4, 1, 3), rand(2, 4, 1, 3),
                          cu_seqlens=np.array([0, 4])),
    lambda: ops.scaled_dot_product_attention(rand(1, 4, 3, 2), rand(1, 3, 3, 2), rand(1, 3, 3, 2), enable_gqa=True),
    lambda: ops.scaled_dot_product_attention(rand(1, 4, 3, 2), rand(1, 2, 3, 2), rand(1, 2, 3, 2)),
    lambda: ops.mamba_chunk_scan_combined(rand(1, 4, 2, 2), rand(1, 4, 2), rand(2), rand(1, 4, 1, 3),
                                          rand(1, 4, 1, 3), 0),
    lambda: ops.mamba_chunk_scan_combined(rand(1, 4, 2, 2), rand(1, 4, 2), rand(2), rand(1, 4, 1, 3),
                                          rand(1, 4, 1, 3), 4, cu_seqlens=np.array([0, 5])),
    lambda: ops.causal_conv1d_fn(rand(1, 3, 5), rand(3, 2), activation="relu"),
    lambda: ops.mamba_chunk_scan_combined(rand(1, 4, 2, 2), rand(1, 4, 2), rand(2), rand(1, 4, 1, 3),
                                          rand(1, 4, 1, 3), 4, D=rand(2, 3)),
    lambda: ops.mamba_chunk_scan_combined(rand(1, 4, 2, 2), rand(1, 4, 2), rand(2), rand(1, 4, 1, 3),
                                          rand(1, 4, 1, 3), 4, dt_limit=(1.0, 0.5)),
    lambda: ops.selective_state_update(rand(4, 3, 2), rand(2, 3), rand(2, 3), rand(3, 2),
                                       rand(2, 2), rand(2, 2),
                                       state_batch_indices=np.array([0, 1, 2])),
    lambda: ops.causal_conv1d_update(rand(2, 3), rand(4, 3, 3), rand(3, 3)),
    lambda: ops.causal_conv1d_update(rand(2, 3), rand(4, 3, 3), rand(3, 3),
                                     conv_state_indices=np.array([0.5, 1.0])),
    lambda: ops.causal_conv1d_fn(rand(2, 3, 5), rand(3, 2), seq_idx=np.zeros((1, 5), np.int32)),
])
def test_bad_inputs_raise(call):
    with pytest.raises((ValueError, NotImplementedError)):
        call()


@pytest.mark.parametrize("call,arg", [
    (lambda: ops.fused_recurrent_gla(rand(1, 4, 1, 2), rand(1, 4, 1, 2), rand(1, 4, 1, 2),
                                     gv=rand(1, 4, 1, 2)), "gv"),
    (lambda: ops.scaled_dot_product_attention(rand(1, 1, 2, 2), rand(1, 1, 2, 2), rand(1, 1, 2, 2),
                                              attn_mask=np.ones((2, 2), bool)), "attn_mask"),
    (lambda: ops.scaled_dot_product_attention(rand(1, 1, 2, 2), rand(1, 1, 2, 2), rand(1, 1, 2, 2),
                                              dropout_p=0.1), "dropout_p"),
    (lambda: ops.flash_attn_func(rand(1, 2, 1, 2), rand(1, 2, 1, 2), rand(1, 2, 1, 2), dropout_p=0.1),
     "dropout_p"),
    (lambda: ops.flash_attn_func(rand(1, 2, 1, 2), rand(1, 2, 1, 2), rand(1, 2, 1, 2),
                                 return_attn_probs=True), "return_attn_probs"),
])
def test_unsupported_arguments_named(call, arg):
    with pytest.raises(NotImplementedError, match=f"'{arg}'"):
        call()


def test_nan_inputs_propagate_without_crash():
    u = rand(1, 2, 4)
    u[0, 0, 1] = np.nan
    out = ops.selective_scan_fn(u, np.abs(rand(1, 2, 4)), -np.ones((2, 3), np.float32),
                                rand(1, 3, 4), rand(1, 3, 4))
    assert np.isnan(out[0, 0, 1:]).all() and np.isfinite(out[0, 1]).all()


def test_calls_from_threads_agree():
    """Several threads calling (and compiling) the same op at once get the
    single-threaded results."""
    import threading
    q, k, v = rand(1, 2, 7, 4), rand(1, 2, 7, 4), rand(1, 2, 7, 4)
    ops.clear_cache()
    want = attention_ref(q, k, v, True, window=2)
    results, errors = [None] * 4, []

    def work(i):
        try:
            for _ in range(5):
                results[i] = ops.scaled_dot_product_attention(q, k, v, is_causal=True, window=2)
        except Exception as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for r in results:
        assert_close(r, want)


def test_second_process_loads_from_disk_cache(tmp_path):
    """The compiled op program is on disk for the next process."""
    import os
    import subprocess
    import sys
    import ssmc
    if not getattr(ssmc._ssmc, "can_save_objects", False):
        pytest.skip("this build of ssmc cannot store compiled objects on disk")
    code = ("import numpy as np\n"
            "from ssmc import ops\n"
            "x = np.ones((1, 3, 5), np.float32)\n"
            "ops.causal_conv1d_fn(x, np.ones((3, 2), np.float32))\n"
            "print(next(iter(ops._entries.values()))[0].from_disk_cache)\n")
    env = dict(os.environ, SSMC_CACHE_DIR=str(tmp_path))
    env.pop("SSMC_NO_DISK_CACHE", None)
    runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                           timeout=300) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[0].stderr + runs[1].stderr
    assert [r.stdout.strip() for r in runs] == ["False", "True"]


def test_check_finite_names_the_argument():
    u = rand(1, 2, 4)
    u[0, 1, 2] = np.nan
    args = (np.abs(rand(1, 2, 4)), -np.ones((2, 3), np.float32), rand(1, 3, 4), rand(1, 3, 4))
    try:
        assert ops.configure(check_finite=True)["check_finite"]
        with pytest.raises(ValueError, match=r"argument 'u'.*NaN or infinity at \[0, 1, 2\]"):
            ops.selective_scan_fn(u, *args)
        u[0, 1, 2] = 0.0
        ops.selective_scan_fn(u, *args)  # finite again: runs
    finally:
        ops.configure(check_finite=False)
    with pytest.raises(ValueError):
        ops.configure(threads=-1)
