"""ssmc.ops on PyTorch tensors: f32 against the float64 references of
test_ops.py and a PyTorch implementation of the same formulas, bf16 within
DESIGN.md's low-precision rule, and mamba_ssm-style calling code run
unchanged on top of ssmc.ops."""

import sys
import types

import numpy as np
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from ssmc import ops  # noqa: E402
from test_ops import (assert_close, attention_ref, causal_conv1d_ref,  # noqa: E402
                      causal_conv1d_seq_idx_ref, causal_conv1d_update_ref, gla_ref,
                      selective_scan_ref, selective_state_update_ref, ssd_ref)

GEN = torch.Generator().manual_seed(11)


def trand(*shape, scale=1.0, dtype=torch.float32):
    return (torch.randn(*shape, generator=GEN) * scale).to(dtype)


def f64(t):
    return t.detach().to(torch.float64).numpy()


def assert_low_precision(got, ref, what=""):
    """DESIGN.md's bf16/f16 rule. The plain loop reading the same bf16 inputs
    is bounded below by rounding the exact result to bf16; the f32 rule's
    term covers its f32 accumulation. Never above 1e-2 relative."""
    got = f64(got.float())
    ref = np.asarray(ref, np.float64)
    scale = max(1.0, np.max(np.abs(ref)))
    rounded = f64(torch.from_numpy(ref).to(torch.bfloat16).float())
    plain = np.max(np.abs(rounded - ref))
    err = np.max(np.abs(got - ref))
    assert np.all(np.isfinite(got)), what
    assert err <= 2 * plain + 1e-4 * scale, f"{what}: error {err:.3g}, plain loop {plain:.3g}"
    assert err <= 1e-2 * scale, f"{what}: error {err:.3g} above 1e-2 relative"


# ---------------------------------------------------------------------------
# f32 tensors: results are tensors, against the references
# ---------------------------------------------------------------------------

def torch_selective_scan(u, delta, A, B, C, D, z, delta_bias):
    """mamba_ssm's selective_scan_ref in PyTorch (float64)."""
    u, delta, A, B, C, D, z, delta_bias = (t.double() for t in (u, delta, A, B, C, D, z, delta_bias))
    delta = F.softplus(delta + delta_bias[..., None])
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    dBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = torch.zeros(u.shape[0], u.shape[1], A.shape[1], dtype=torch.float64)
    ys = []
    for i in range(u.shape[2]):
        x = dA[:, :, i] * x + dBu[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    y = torch.stack(ys, dim=2) + u * D[None, :, None]
    return y * F.silu(z), x


def test_selective_scan_fn_torch():
    b, dim, n, L = 2, 8, 4, 10
    u, delta, z = trand(b, dim, L), trand(b, dim, L, scale=0.5), trand(b, dim, L)
    A = -torch.exp(trand(dim, n, scale=0.5))
    B, C, D, bias = trand(b, n, L), trand(b, n, L), trand(dim), trand(dim, scale=0.3)
    out, last = ops.selective_scan_fn(u, delta, A, B, C, D, z, bias, delta_softplus=True,
                                      return_last_state=True)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    assert isinstance(last, torch.Tensor) and last.dtype == torch.float32
    ref, ref_h = torch_selective_scan(u, delta, A, B, C, D, z, bias)
    assert_close(out.numpy(), ref.numpy(), what="vs PyTorch")
    assert_close(last.numpy(), ref_h.numpy(), what="state vs PyTorch")
    ref2, _ = selective_scan_ref(f64(u), f64(delta), f64(A), f64(B), f64(C), f64(D), f64(z), f64(bias), True)
    assert_close(out.numpy(), ref2, what="vs NumPy")


def test_requires_grad_inputs_are_read():
    q = trand(1, 2, 5, 4).requires_grad_()
    o = ops.scaled_dot_product_attention(q, trand(1, 2, 5, 4), trand(1, 2, 5, 4))
    assert isinstance(o, torch.Tensor) and o.shape == (1, 2, 5, 4)


def test_selective_state_update_torch_inplace():
    b, h, p, n = 1, 2, 4, 4
    state = trand(b, h, p, n)
    x, dt = trand(b, h, p), trand(b, h, p, scale=0.5)
    # Mamba2.step broadcasts per-head A, dt and D over the head dimension.
    A = (-torch.exp(trand(h, scale=0.5)))[:, None, None].expand(h, p, n)
    dt_bias = trand(h)[:, None].expand(h, p)
    D = trand(h)[:, None].expand(h, p)
    B, C = trand(b, 1, n), trand(b, 1, n)
    ref_out, ref_state = selective_state_update_ref(f64(state), f64(x), f64(dt), f64(A), f64(B),
                                                    f64(C), D=f64(D), dt_bias=f64(dt_bias),
                                                    dt_softplus=True)
    out = ops.selective_state_update(state, x, dt, A, B, C, D=D, dt_bias=dt_bias, dt_softplus=True)
    assert isinstance(out, torch.Tensor)
    assert_close(out.numpy(), ref_out)
    assert_close(state.numpy(), ref_state)


def test_ssd_torch():
    b, L, h, p, g, n = 1, 12, 2, 4, 1, 4
    x, dt = trand(b, L, h, p), trand(b, L, h, scale=0.5)
    A = -torch.exp(trand(h, scale=0.5))
    B, C, D, bias = trand(b, L, g, n), trand(b, L, g, n), trand(h), trand(h, scale=0.3)
    out, fin = ops.mamba_chunk_scan_combined(x, dt, A, B, C, 256, D=D, dt_bias=bias, dt_softplus=True,
                                             return_final_states=True)
    ref, ref_fin, _ = ssd_ref(f64(x), f64(dt), f64(A), f64(B), f64(C), D=f64(D), dt_bias=f64(bias),
                              dt_softplus=True)
    assert isinstance(out, torch.Tensor) and out.shape == (b, L, h, p)
    assert_close(out.numpy(), ref)
    assert_close(fin.numpy(), ref_fin)


def test_causal_conv1d_torch_against_conv1d():
    b, dim, L, w = 2, 6, 9, 4
    x, weight, bias = trand(b, dim, L), trand(dim, w), trand(dim)
    out = ops.causal_conv1d_fn(x, weight, bias, activation="silu")
    ref = F.silu(F.conv1d(x.double(), weight.double()[:, None], bias.double(), padding=w - 1,
                          groups=dim)[..., :L])
    assert isinstance(out, torch.Tensor)
    assert_close(out.numpy(), ref.numpy())
    state = trand(b, dim, w - 1)
    upd = ops.causal_conv1d_update(x[:, :, 0], state, weight, bias, activation="silu")
    assert upd.shape == (b, dim)


def test_gla_torch_against_naive_recurrence():
    b, T, h, kd, vd = 2, 7, 2, 4, 4
    q, k, v = trand(b, T, h, kd), trand(b, T, h, kd), trand(b, T, h, vd)
    g = F.logsigmoid(trand(b, T, h, kd))
    o, fin = ops.fused_recurrent_gla(q, k, v, g, output_final_state=True)
    # fla's naive_recurrent_gla, in PyTorch float64
    S = torch.zeros(b, h, kd, vd, dtype=torch.float64)
    os = []
    for t in range(T):
        S = S * g[:, t].double().exp()[..., None] + k[:, t].double()[..., None] * v[:, t].double()[..., None, :]
        os.append(torch.einsum("bhk,bhkv->bhv", q[:, t].double() * kd ** -0.5, S))
    ref = torch.stack(os, dim=1)
    assert o.shape == (b, T, h, vd) and o.is_contiguous()
    assert_close(o.numpy(), ref.numpy())
    assert_close(fin.numpy(), S.numpy())


def test_sdpa_torch():
    q, k, v = trand(1, 4, 6, 8), trand(1, 2, 6, 8), trand(1, 2, 6, 8)
    o = ops.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    assert isinstance(o, torch.Tensor)
    kr, vr = k.repeat_interleave(2, dim=1).double(), v.repeat_interleave(2, dim=1).double()
    s = q.double() @ kr.transpose(-1, -2) / 8 ** 0.5
    s = s.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    assert_close(o.numpy(), (s.softmax(-1) @ vr).numpy(), what="vs PyTorch")


# ---------------------------------------------------------------------------
# bf16
# ---------------------------------------------------------------------------

BF = torch.bfloat16


def test_selective_scan_fn_bf16():
    b, dim, n, L = 1, 16, 8, 32
    u, delta, z = trand(b, dim, L, dtype=BF), trand(b, dim, L, scale=0.5, dtype=BF), trand(b, dim, L, dtype=BF)
    A = -torch.exp(trand(dim, n, scale=0.5))
    B, C = trand(b, n, L, dtype=BF), trand(b, n, L, dtype=BF)
    D, bias = trand(dim), trand(dim, scale=0.3)
    out = ops.selective_scan_fn(u, delta, A, B, C, D, z, bias, delta_softplus=True)
    assert out.dtype == BF
    ref, _ = selective_scan_ref(f64(u), f64(delta), f64(A), f64(B), f64(C), f64(D), f64(z), f64(bias), True)
    assert_low_precision(out, ref)


def test_ssd_bf16():
    b, L, h, p, n = 1, 24, 2, 8, 8
    x, dt = trand(b, L, h, p, dtype=BF), trand(b, L, h, scale=0.5, dtype=BF)
    A = -torch.exp(trand(h, scale=0.5))
    B, C = trand(b, L, 1, n, dtype=BF), trand(b, L, 1, n, dtype=BF)
    bias = trand(h, scale=0.3)
    out, fin = ops.mamba_chunk_scan_combined(x, dt, A, B, C, 16, dt_bias=bias, dt_softplus=True,
                                             return_final_states=True)
    assert out.dtype == BF and fin.dtype == torch.float32
    ref, ref_fin, _ = ssd_ref(f64(x), f64(dt), f64(A), f64(B), f64(C), dt_bias=f64(bias), dt_softplus=True)
    assert_low_precision(out, ref)
    assert_close(fin.numpy(), ref_fin, rtol=1e-4)


def test_causal_conv1d_bf16():
    x, weight, bias = trand(2, 8, 16, dtype=BF), trand(8, 4, dtype=BF), trand(8, dtype=BF)
    out = ops.causal_conv1d_fn(x, weight, bias, activation="silu")
    assert out.dtype == BF
    assert_low_precision(out, causal_conv1d_ref(f64(x), f64(weight), f64(bias), None, True)[0])


@pytest.mark.parametrize("fn", ["chunk_simple_gla", "chunk_gla"])
def test_gla_bf16(fn):
    b, T, h, kd, vd = 1, 16, 2, 8, 8
    q, k, v = trand(b, T, h, kd, dtype=BF), trand(b, T, h, kd, dtype=BF), trand(b, T, h, vd, dtype=BF)
    g = F.logsigmoid(trand(b, T, h) if fn == "chunk_simple_gla" else trand(b, T, h, kd)) * 0.2
    o, fin = getattr(ops, fn)(q, k, v, g, output_final_state=True)
    assert o.dtype == BF and fin.dtype == torch.float32
    ref, ref_fin = gla_ref(f64(q), f64(k), f64(v), f64(g))
    assert_low_precision(o, ref)
    assert_close(fin.numpy(), ref_fin)


def test_sdpa_bf16_window():
    q, k, v = trand(1, 2, 20, 16, dtype=BF), trand(1, 2, 20, 16, dtype=BF), trand(1, 2, 20, 16, dtype=BF)
    o = ops.scaled_dot_product_attention(q, k, v, is_causal=True, window=5)
    assert o.dtype == BF
    assert_low_precision(o, attention_ref(f64(q), f64(k), f64(v), True, window=5))


def test_ssd_bf16_with_f32_parameters():
    """Mamba-2's bf16 activations with f32 dt, A, D [H, P] and dt_bias:
    the f32 operands reach ssm.ssd unrounded; dt_limit clamps."""
    b, L, h, p, n = 1, 21, 3, 5, 8
    x, z = trand(b, L, h, p, dtype=BF), trand(b, L, h, p, dtype=BF)
    dt = trand(b, L, h, scale=0.5)
    A = -torch.exp(trand(h, scale=0.5))
    B, C = trand(b, L, 1, n, dtype=BF), trand(b, L, 1, n, dtype=BF)
    D, bias = trand(h, p), trand(h, scale=0.3)
    out = ops.mamba_chunk_scan_combined(x, dt, A, B, C, 16, D=D, z=z, dt_bias=bias, dt_softplus=True,
                                        dt_limit=(0.3, 0.8))
    assert out.dtype == BF
    text = ops.program_text()
    assert f"%dt: tensor<1x{L}x{h}xf32>" in text and f"%D: tensor<{h}x{p}xf32>" in text
    ref, _, _ = ssd_ref(f64(x), f64(dt), f64(A), f64(B), f64(C), D=f64(D), z=f64(z), dt_bias=f64(bias),
                        dt_softplus=True, dt_limit=(0.3, 0.8))
    assert_low_precision(out, ref)


def test_selective_state_update_bf16_pool():
    """bf16 x with f32 dt on a pool of f32 states (state_batch_indices)."""
    b, dim, n, slots = 3, 12, 4, 6
    pool = trand(slots, dim, n)
    x, dt = trand(b, dim, dtype=BF), trand(b, dim, scale=0.5)
    A = -torch.exp(trand(dim, n, scale=0.5))
    B, C = trand(b, n, dtype=BF), trand(b, n, dtype=BF)
    idx = torch.tensor([2, 5, -1], dtype=torch.int32)
    before = pool.clone()
    out = ops.selective_state_update(pool, x, dt, A, B, C, dt_softplus=True, state_batch_indices=idx)
    assert out.dtype == BF and "%delta: tensor<3x12xf32>" in ops.program_text()
    for bi, slot in enumerate(idx.tolist()):
        if slot < 0:
            assert torch.all(out[bi] == 0)
            continue
        ref_out, ref_state = selective_state_update_ref(f64(before[slot:slot + 1]), f64(x[bi:bi + 1]),
                                                        f64(dt[bi:bi + 1]), f64(A), f64(B[bi:bi + 1]),
                                                        f64(C[bi:bi + 1]), dt_softplus=True)
        assert_low_precision(out[bi:bi + 1], ref_out)
        assert_close(pool[slot:slot + 1].numpy(), ref_state, rtol=1e-4)
    assert torch.equal(pool[[0, 1, 3, 4]], before[[0, 1, 3, 4]])


def test_causal_conv1d_bf16_with_f32_weights():
    """causal-conv1d's f32 weight and bias next to bf16 x, in the packed
    (seq_idx) convolution and in the decode step on a ring-buffer pool."""
    b, dim, L, w = 2, 7, 13, 4
    x, weight, bias = trand(b, dim, L, dtype=BF), trand(dim, w), trand(dim)
    seq_idx = torch.tensor([[0] * 5 + [1] * 8, [2] * 13], dtype=torch.int32)
    out = ops.causal_conv1d_fn(x, weight, bias, seq_idx=seq_idx, activation="silu")
    assert out.dtype == BF and f"%weight: tensor<{dim}x{w}xf32>" in ops.program_text()
    assert_low_precision(out, causal_conv1d_seq_idx_ref(f64(x), f64(weight), f64(bias),
                                                        seq_idx.numpy(), True))
    conv_state = trand(4, dim, 6, dtype=BF)
    xt = trand(b, dim, dtype=BF)
    cache = torch.tensor([3, 8], dtype=torch.int32)
    idx = torch.tensor([3, 0], dtype=torch.int64)
    ref, ref_state = causal_conv1d_update_ref(f64(xt)[..., None], f64(conv_state), f64(weight),
                                              f64(bias), True, cache.numpy(), idx.numpy())
    out = ops.causal_conv1d_update(xt, conv_state, weight, bias, activation="silu",
                                   cache_seqlens=cache, conv_state_indices=idx)
    assert out.dtype == BF and "%weight: tensor<7x4xf32>" in ops.program_text()
    assert_low_precision(out, ref[..., 0])
    assert np.array_equal(f64(conv_state), ref_state), "the state holds the bf16 inputs exactly"


# ---------------------------------------------------------------------------
# Drop-in: mamba_ssm's Mamba block, unchanged, on ssmc.ops
# ---------------------------------------------------------------------------

@pytest.fixture
def mamba_ssm_on_ssmc(monkeypatch):
    """Makes `from mamba_ssm.ops... import ...` and `from causal_conv1d
    import ...` resolve to ssmc.ops, as a user's one-line swap would."""
    names = {
        "mamba_ssm": None, "mamba_ssm.ops": None,
        "mamba_ssm.ops.selective_scan_interface": ["selective_scan_fn"],
        "mamba_ssm.ops.triton": None,
        "mamba_ssm.ops.triton.selective_state_update": ["selective_state_update"],
        "causal_conv1d": ["causal_conv1d_fn", "causal_conv1d_update"],
    }
    for name, attrs in names.items():
        mod = types.ModuleType(name)
        for a in attrs or []:
            setattr(mod, a, getattr(ops, a))
        monkeypatch.setitem(sys.modules, name, mod)


class MambaBlock(torch.nn.Module):
    """mamba_ssm's Mamba (mamba_simple.py) forward and step, written as it
    calls the kernels (einops' rearranges spelled in PyTorch)."""

    def __init__(self, d_model=16, d_state=8, d_conv=4, expand=2):
        super().__init__()
        self.d_inner = expand * d_model
        self.d_state, self.d_conv = d_state, d_conv
        self.dt_rank = max(1, d_model // 16)
        self.in_proj = torch.nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.conv1d = torch.nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner,
                                      padding=d_conv - 1)
        self.x_proj = torch.nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = torch.nn.Linear(self.dt_rank, self.d_inner, bias=True)
        A = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
        self.A_log = torch.nn.Parameter(torch.log(A))
        self.D = torch.nn.Parameter(torch.ones(self.d_inner))
        self.out_proj = torch.nn.Linear(self.d_inner, d_model, bias=False)

    def forward(self, hidden_states):
        from causal_conv1d import causal_conv1d_fn
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
        batch, seqlen, dim = hidden_states.shape
        xz = (self.in_proj.weight @ hidden_states.reshape(-1, dim).t()).reshape(
            2 * self.d_inner, batch, seqlen).permute(1, 0, 2)
        A = -torch.exp(self.A_log.float())
        x, z = xz.chunk(2, dim=1)
        x = causal_conv1d_fn(x=x, weight=self.conv1d.weight.squeeze(1), bias=self.conv1d.bias,
                             activation="silu")
        x_dbl = self.x_proj(x.permute(0, 2, 1).reshape(batch * seqlen, -1))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (self.dt_proj.weight @ dt.t()).reshape(self.d_inner, batch, seqlen).permute(1, 0, 2)
        B = B.reshape(batch, seqlen, -1).permute(0, 2, 1).contiguous()
        C = C.reshape(batch, seqlen, -1).permute(0, 2, 1).contiguous()
        y, last_state = selective_scan_fn(x, dt, A, B, C, self.D.float(), z=z,
                                          delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
                                          return_last_state=True)
        return self.out_proj(y.permute(0, 2, 1)), last_state

    def step(self, hidden_states, conv_state, ssm_state):
        from causal_conv1d import causal_conv1d_update
        from mamba_ssm.ops.triton.selective_state_update import selective_state_update
        xz = self.in_proj(hidden_states.squeeze(1))
        x, z = xz.chunk(2, dim=-1)
        x = causal_conv1d_update(x, conv_state, self.conv1d.weight.squeeze(1), self.conv1d.bias, "silu")
        x_db = self.x_proj(x)
        dt, B, C = torch.split(x_db, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = F.linear(dt, self.dt_proj.weight)
        A = -torch.exp(self.A_log.float())
        y = selective_state_update(ssm_state, x, dt, A, B, C, self.D, z=z, dt_bias=self.dt_proj.bias,
                                   dt_softplus=True)
        return self.out_proj(y).unsqueeze(1)

    def reference(self, hidden_states):
        """The same block with PyTorch's own conv1d and a float64 scan."""
        batch, seqlen, dim = hidden_states.shape
        xz = self.in_proj(hidden_states).permute(0, 2, 1)
        x, z = xz.chunk(2, dim=1)
        x = F.silu(self.conv1d(x)[..., :seqlen])
        x_dbl = self.x_proj(x.permute(0, 2, 1))
        dt, B, C = torch.split(x_dbl, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = (dt @ self.dt_proj.weight.t()).permute(0, 2, 1)
        y, _ = torch_selective_scan(x, dt, -torch.exp(self.A_log), B.permute(0, 2, 1), C.permute(0, 2, 1),
                                    self.D, z, self.dt_proj.bias)
        return self.out_proj(y.float().permute(0, 2, 1))


def test_mamba_block_runs_unchanged(mamba_ssm_on_ssmc):
    torch.manual_seed(0)
    block = MambaBlock()
    h = torch.randn(2, 12, 16)
    with torch.no_grad():
        out, _ = block(h)
        ref = block.reference(h)
    assert out.shape == (2, 12, 16)
    assert_close(out.numpy(), ref.numpy(), rtol=1e-4)


def test_mamba_block_decode_continues_prefill(mamba_ssm_on_ssmc):
    """Mamba.step after a prefill of L-1 tokens gives forward's last output."""
    torch.manual_seed(1)
    block = MambaBlock()
    h = torch.randn(1, 9, 16)
    with torch.no_grad():
        full, _ = block(h)
        _, ssm_state = block(h[:, :-1])
        xz = block.in_proj(h[:, :-1]).permute(0, 2, 1)
        conv_state = xz[:, :block.d_inner, -block.d_conv:].contiguous()  # mamba_ssm keeps d_conv inputs
        ssm_state = ssm_state.clone()
        last = block.step(h[:, -1:], conv_state, ssm_state)
    assert_close(last[:, 0].numpy(), full[:, -1].numpy())


def test_torch_example_runs():
    """examples/python/torch_example.py runs and its checks agree."""
    import os
    import re
    import subprocess
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
    r = subprocess.run([sys.executable, os.path.join(root, "examples", "python", "torch_example.py")],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    diffs = [float(d) for d in re.findall(r"max \|diff\| vs [^:]*:\s*([0-9.e+-]+)", r.stdout)]
    assert len(diffs) == 2 and max(diffs) < 1e-4, r.stdout
