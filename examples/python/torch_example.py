#!/usr/bin/env python3
"""mamba_ssm / causal-conv1d / flash-linear-attention calls on CPU PyTorch
tensors through ssmc.ops: the one-line swap is the import.

    PYTHONPATH=build/python /usr/bin/python3 examples/python/torch_example.py

Each result is checked against a plain PyTorch computation of the same
formula.
"""

import torch
import torch.nn.functional as F

# Instead of: from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
#             from causal_conv1d import causal_conv1d_fn
#             from fla.ops.simple_gla import chunk_simple_gla
from ssmc.ops import causal_conv1d_fn, chunk_simple_gla, scaled_dot_product_attention, selective_scan_fn

torch.manual_seed(0)

# A Mamba-1 mixer's kernels: x [batch, channels, length].
batch, dim, d_state, L, width = 2, 64, 16, 128, 4
x = torch.randn(batch, dim, L)
conv_w, conv_b = torch.randn(dim, width) * 0.5, torch.randn(dim) * 0.1
u = causal_conv1d_fn(x, conv_w, conv_b, activation="silu")
want = F.silu(F.conv1d(x, conv_w[:, None], conv_b, padding=width - 1, groups=dim)[..., :L])
print(f"causal_conv1d_fn   max |diff| vs F.conv1d: {(u - want).abs().max():.2e}")

delta = torch.randn(batch, dim, L) * 0.5
A = -torch.arange(1, d_state + 1, dtype=torch.float32).repeat(dim, 1)
B, C = torch.randn(batch, d_state, L), torch.randn(batch, d_state, L)
D, z, dt_bias = torch.ones(dim), torch.randn(batch, dim, L), torch.rand(dim)
y, last_state = selective_scan_fn(u, delta, A, B, C, D, z, dt_bias, delta_softplus=True,
                                  return_last_state=True)
# The same recurrence, step by step in PyTorch.
dt = F.softplus(delta + dt_bias[:, None])
h = torch.zeros(batch, dim, d_state)
ys = []
for t in range(L):
    h = torch.exp(dt[..., t, None] * A) * h + dt[..., t, None] * B[:, None, :, t] * u[..., t, None]
    ys.append((h * C[:, None, :, t]).sum(-1))
ref = (torch.stack(ys, -1) + D[:, None] * u) * F.silu(z)
print(f"selective_scan_fn  max |diff| vs loop:     {(y - ref).abs().max():.2e}  "
      f"(out {tuple(y.shape)}, state {tuple(last_state.shape)})")

# fla's simple GLA in its [batch, time, heads, dim] layout, in bf16.
q, k, v = (torch.randn(1, 256, 4, 32, dtype=torch.bfloat16) for _ in range(3))
g = F.logsigmoid(torch.randn(1, 256, 4)) * 0.1
o, state = chunk_simple_gla(q, k, v, g, output_final_state=True)
print(f"chunk_simple_gla   out {tuple(o.shape)} {o.dtype}, final state {tuple(state.shape)} {state.dtype}")

# Sliding-window causal attention with grouped KV heads.
q = torch.randn(1, 8, 512, 64)
k, v = torch.randn(1, 2, 512, 64), torch.randn(1, 2, 512, 64)
o = scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True, window=128)
print(f"attention          out {tuple(o.shape)}")
