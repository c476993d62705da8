"""Drop-in CPU versions of the mamba_ssm, causal-conv1d, flash-linear-attention
and PyTorch attention functions, compiled by ssmc.

Every function takes the arguments, layouts and defaults of the library it
replaces, specialises an `ssm` program for the call's shapes, dtypes and flags,
compiles it once (in memory here, on disk through `ssmc.compile`'s cache) and
runs it. Inputs are NumPy arrays or PyTorch tensors; results come back as the
same kind, in the peer's layout and dtype.

Arguments the ssm dialect cannot express raise NotImplementedError naming the
argument; each such check is a `_unsupported(...)` line in the function that
takes the argument.
"""

import threading

import numpy as np

__all__ = [
    "selective_scan_fn",
    "selective_state_update",
    "mamba_chunk_scan_combined",
    "causal_conv1d_fn",
    "causal_conv1d_update",
    "chunk_simple_gla",
    "fused_recurrent_simple_gla",
    "chunk_gla",
    "fused_recurrent_gla",
    "chunk_delta_rule",
    "fused_recurrent_delta_rule",
    "chunk_gated_delta_rule",
    "fused_recurrent_gated_delta_rule",
    "chunk_kda",
    "fused_recurrent_kda",
    "chunk_dplr_delta_rule",
    "fused_recurrent_dplr_delta_rule",
    "chunk_rwkv7",
    "fused_recurrent_rwkv7",
    "scaled_dot_product_attention",
    "flash_attn_func",
    "flash_attn_varlen_func",
    "program_text",
    "clear_cache",
    "configure",
]

# ---------------------------------------------------------------------------
# Arrays: NumPy or PyTorch, without importing torch unless it is used.
# ---------------------------------------------------------------------------

_NP_NAMES = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64",
             np.dtype(np.float16): "f16", np.dtype(np.int32): "i32",
             np.dtype(np.int64): "i64"}
_FLOATS = ("f16", "bf16", "f32", "f64")


def _is_torch(x):
    return type(x).__module__.startswith("torch")


def _torch():
    import torch
    return torch


_TORCH_NAMES = {}


def _dtype(x):
    """The ssm element type name of an array or tensor."""
    if _is_torch(x):
        if not _TORCH_NAMES:
            torch = _torch()
            _TORCH_NAMES.update({torch.float32: "f32", torch.float64: "f64", torch.float16: "f16",
                                 torch.bfloat16: "bf16", torch.int32: "i32", torch.int64: "i64"})
        name = _TORCH_NAMES.get(x.dtype)
    else:
        name = _NP_NAMES.get(x.dtype)
    if name is None:
        raise ValueError(f"unsupported element type {x.dtype}")
    return name


def _as_array(x, name):
    """A NumPy array or a detached CPU PyTorch tensor."""
    if x is None:
        return None
    if _is_torch(x):
        if x.device.type != "cpu":
            raise ValueError(f"{name}: ssmc.ops runs on CPU tensors, got device {x.device}")
        return x.detach() if x.requires_grad else x
    if isinstance(x, np.ndarray):
        return x
    arr = np.asarray(x)
    if arr.dtype == np.dtype(object):
        raise ValueError(f"{name}: expected an array or tensor, got {type(x).__name__}")
    if arr.dtype.kind == "f" and arr.dtype not in _NP_NAMES:
        arr = arr.astype(np.float32)
    return arr


def _cast(x, name):
    """x converted to the element type `name` (no copy when it already is)."""
    if _dtype(x) == name:
        return x
    if _is_torch(x):
        torch = _torch()
        return x.to({"f32": torch.float32, "f64": torch.float64, "f16": torch.float16,
                     "bf16": torch.bfloat16, "i32": torch.int32, "i64": torch.int64}[name])
    if name == "bf16":
        raise ValueError("bf16 needs PyTorch tensors (NumPy has no bfloat16)")
    return x.astype({"f32": np.float32, "f64": np.float64, "f16": np.float16,
                     "i32": np.int32, "i64": np.int64}[name])


def _reshape(x, shape):
    return x.reshape(*shape) if _is_torch(x) else x.reshape(shape)


def _contiguous(x):
    return x.contiguous() if _is_torch(x) else np.ascontiguousarray(x)


def _permuted_copy(x, axes):
    """A contiguous copy of x with its axes permuted, made by NumPy for
    PyTorch tensors too (PyTorch 1.13's parallel copy into fresh memory ran
    100x slower on 2 cores for these strides)."""
    if _is_torch(x):
        torch = _torch()
        bf16 = x.dtype == torch.bfloat16
        arr = (x.view(torch.int16) if bf16 else x).numpy()
        out = torch.from_numpy(np.ascontiguousarray(arr.transpose(axes)))
        return out.view(torch.bfloat16) if bf16 else out
    return np.ascontiguousarray(x.transpose(axes))


def _broadcast(x, shape):
    return x.expand(*shape) if _is_torch(x) else np.broadcast_to(x, shape)


def _copy_into(dst, src):
    """dst[...] = src, in place (the peers' in-place state updates)."""
    if _is_torch(dst):
        torch = _torch()
        if not _is_torch(src):
            src = torch.from_numpy(np.ascontiguousarray(src))
        dst.copy_(src)
    else:
        if _is_torch(src):
            src = src.numpy()
        np.copyto(dst, src, casting="unsafe")


def _to_numpy(x):
    return x.detach().cpu().numpy() if _is_torch(x) else np.asarray(x)


def _like(x, ref):
    """x as the same kind (NumPy or PyTorch) as ref."""
    if _is_torch(ref) and not _is_torch(x):
        return _torch().from_numpy(np.ascontiguousarray(x))
    if not _is_torch(ref) and _is_torch(x):
        return x.numpy()
    return x


def _zeros(shape, dtype, ref):
    if _is_torch(ref):
        torch = _torch()
        return torch.zeros(*shape, dtype={"f32": torch.float32, "f64": torch.float64}[dtype])
    return np.zeros(shape, dtype={"f32": np.float32, "f64": np.float64}[dtype])


def _acc(t):
    """The accumulator type of element type t."""
    return "f64" if t == "f64" else "f32"


def _unsupported(arg, why):
    raise NotImplementedError(f"ssmc.ops: argument '{arg}' {why}")


def _check_shape(name, x, shape):
    got = tuple(x.shape)
    if got != tuple(shape):
        raise ValueError(f"{name}: expected shape {list(shape)}, got {list(got)}")


def _check_rank(name, x, ranks):
    if x.ndim not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(f"{name}: expected rank {want}, got rank {x.ndim} (shape {list(x.shape)})")


def _float_type(name, x):
    t = _dtype(x)
    if t not in _FLOATS:
        raise ValueError(f"{name}: expected a floating-point array, got {t}")
    return t


def _param(name, x, t):
    """A parameter (A, D, biases) that may be T or the accumulator type."""
    _float_type(name, x)
    return x if _dtype(x) in (t, _acc(t)) else _cast(x, _acc(t))


# ---------------------------------------------------------------------------
# Programs: text per (op, shapes, dtypes, flags), compiled once.
# ---------------------------------------------------------------------------

def _f64(v):
    """A float attribute literal (MLIR wants the decimal point)."""
    return "%.17e" % float(v)


def _f64_elem(v):
    """An element of an `array<f64: ...>` attribute (infinities as hex bit patterns)."""
    v = float(v)
    if v == float("inf"):
        return "0x7FF0000000000000"
    if v == float("-inf"):
        return "0xFFF0000000000000"
    return _f64(v)


def _indices(name, x, ref):
    """An index operand (i32 or i64; other integers become i64) of the kind of ref."""
    x = _as_array(x, name)
    if _dtype(x) not in ("i32", "i64"):
        if _dtype(x) in _FLOATS:
            raise ValueError(f"{name}: expected integer indices, got {_dtype(x)}")
        x = _cast(x, "i64")
    return _like(x, ref)


def _tensor(shape, t):
    dims = "x".join(str(int(d)) for d in shape)
    return f"tensor<{dims}x{t}>" if dims else f"tensor<{t}>"


def _program(op, operands, clauses, attrs, results, flags="", flags_first=False):
    """One func.func @main running one ssm op.

    operands: [(name, array)] positional operands; clauses: [(keyword, name,
    array)] optional operands written `keyword(%name)`; attrs: attribute
    dictionary text or ""; results: [(shape, type)]; flags: unit
    attributes, written after the clauses or, with flags_first, before
    them (where the op's syntax puts them, as ssm.attention's `causal`).
    """
    args = [(n, a) for n, a in operands] + [(n, a) for _, n, a in clauses]
    # ssm.name: run-time messages name the argument as the caller knows it.
    sig = ", ".join(f'%{n}: {_tensor(a.shape, _dtype(a))} {{ssm.name = "{n}"}}' for n, a in args)
    in_types = ", ".join(_tensor(a.shape, _dtype(a)) for _, a in args)
    res_types = [_tensor(s, t) for s, t in results]
    res_names = ", ".join(f"%r{i}" for i in range(len(results)))
    line = f"{op} " + ", ".join(f"%{n}" for n, _ in operands)
    if flags and flags_first:
        line += f" {flags}"
    for kw, n, _ in clauses:
        line += f" {kw}(%{n})"
    if flags and not flags_first:
        line += f" {flags}"
    if attrs:
        line += f" {{{attrs}}}"
    ret = res_types[0] if len(res_types) == 1 else "(" + ", ".join(res_types) + ")"
    return (f"func.func @main({sig}) -> {ret} {{\n"
            f"  {res_names} = {line}\n"
            f"      : ({in_types}) -> {ret}\n"
            f"  return {res_names} : {', '.join(res_types)}\n"
            f"}}\n")


_lock = threading.Lock()
_entries = {}
_last_key = [None]
_options = {"threads": 0, "check_finite": False}


def configure(threads=None, check_finite=None):
    """Options of the programs compiled from now on: `threads` (OpenMP
    threads, 0: one per core) and `check_finite` (calls raise ValueError
    naming the argument when a float input holds NaN or infinity; see
    ssmc.compile). Returns the options in force."""
    with _lock:
        if threads is not None:
            if int(threads) < 0:
                raise ValueError(f"threads must be >= 0, got {threads}")
            _options["threads"] = int(threads)
        if check_finite is not None:
            _options["check_finite"] = bool(check_finite)
        return dict(_options)


def clear_cache():
    """Forgets the programs compiled in this process (the disk cache stays)."""
    with _lock:
        _entries.clear()


def program_text():
    """The text of the program the last ops call ran (for inspection)."""
    hit = _entries.get(_last_key[0])
    return hit[2] if hit else None


def _run(op, operands, clauses, attrs, results, flags="", flags_first=False):
    """Runs one ssm op on the arrays of operands and clauses (see _program),
    compiling its program on the first call with these shapes, dtypes and
    flags; later calls find it by a key built without the program text."""
    opts = (_options["threads"], _options["check_finite"])
    key = (opts, op, flags, attrs, tuple(results),
           tuple((n, a.dtype, tuple(a.shape)) for n, a in operands),
           tuple((kw, n, a.dtype, tuple(a.shape)) for kw, n, a in clauses))
    hit = _entries.get(key)
    if hit is None:
        import ssmc
        text = _program(op, operands, clauses, attrs, results, flags, flags_first)
        prog = ssmc.compile(text, target="cpu", threads=opts[0], check_finite=opts[1])
        with _lock:
            # The program stays referenced with its entry.
            hit = _entries.setdefault(key, (prog, prog.main, text))
    _last_key[0] = key
    res = hit[1](*[a for _, a in operands], *[a for _, _, a in clauses])
    return res if isinstance(res, tuple) else (res,)


# ---------------------------------------------------------------------------
# mamba_ssm
# ---------------------------------------------------------------------------

def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None,
                      delta_softplus=False, return_last_state=False):
    """mamba_ssm.ops.selective_scan_interface.selective_scan_fn.

    u, delta, z: [batch, dim, L]; A: [dim, N]; B, C: [batch, N, L],
    [batch, G, N, L] or [dim, N] (input-independent); D, delta_bias: [dim].
    Returns out [batch, dim, L] in u's dtype, and the last state
    [batch, dim, N] (float32; float64 for float64 inputs) with
    return_last_state.
    """
    u = _as_array(u, "u")
    delta, A, B, C = (_as_array(x, n) for x, n in ((delta, "delta"), (A, "A"), (B, "B"), (C, "C")))
    D, z, delta_bias = _as_array(D, "D"), _as_array(z, "z"), _as_array(delta_bias, "delta_bias")
    if _is_torch(A) and A.is_complex():
        _unsupported("A", "is complex; ssm.selective_scan has real state")
    _check_rank("u", u, (3,))
    b, dim, L = u.shape
    t = _float_type("u", u)
    _check_shape("delta", delta, (b, dim, L))
    _check_rank("A", A, (2,))
    n = A.shape[1]
    _check_shape("A", A, (dim, n))
    for name, x in (("B", B), ("C", C)):
        _check_rank(name, x, (2, 3, 4))
    grouped = False
    bc = []
    for name, x in (("B", B), ("C", C)):
        if x.ndim == 2:  # input-independent [dim, N]: the op's fixed form
            _check_shape(name, x, (dim, n))
        elif x.ndim == 3:
            _check_shape(name, x, (b, n, L))
        else:
            if x.shape[0] != b or tuple(x.shape[2:]) != (n, L):
                raise ValueError(f"{name}: expected shape [{b}, G, {n}, {L}], got {list(x.shape)}")
            if x.shape[1] == 0 or dim % x.shape[1]:
                raise ValueError(f"{name}: the group count {x.shape[1]} does not divide dim {dim}")
            grouped = True
        bc.append(_cast(x, t))
    B, C = bc
    if grouped and B.ndim != 2 and C.ndim != 2:  # both grouped, one group count
        if B.ndim == 3:
            B = _reshape(B, (b, 1, n, L))
        if C.ndim == 3:
            C = _reshape(C, (b, 1, n, L))
        if B.shape[1] != C.shape[1]:
            g = max(B.shape[1], C.shape[1])
            B = _broadcast(B, (b, g, n, L)) if B.shape[1] == 1 else B
            C = _broadcast(C, (b, g, n, L)) if C.shape[1] == 1 else C
            if B.shape[1] != C.shape[1]:
                raise ValueError(f"B and C: group counts {B.shape[1]} and {C.shape[1]} differ")
    operands = [("u", u), ("delta", _param("delta", delta, t)), ("A", _param("A", A, t)),
                ("B", B), ("C", C)]
    clauses = []
    if D is not None:
        _check_shape("D", D, (dim,))
        clauses.append(("D", "D", _param("D", D, t)))
    if z is not None:
        _check_shape("z", z, (b, dim, L))
        clauses.append(("z", "z", _cast(z, t)))
    if delta_bias is not None:
        _check_shape("delta_bias", delta_bias, (dim,))
        clauses.append(("delta_bias", "delta_bias", _param("delta_bias", delta_bias, t)))
    results = [((b, dim, L), t)]
    if return_last_state:
        results.append(((b, dim, n), _acc(t)))
    res = _run("ssm.selective_scan", operands, clauses, "", results,
               "delta_softplus" if delta_softplus else "")
    return (res[0], res[1]) if return_last_state else res[0]


def selective_state_update(state, x, dt, A, B, C, D=None, z=None, dt_bias=None,
                           dt_softplus=False, state_batch_indices=None, out=None):
    """mamba_ssm.ops.triton.selective_state_update.selective_state_update.

    Mamba-1: state [batch, dim, N], x, dt, z [batch, dim], A [dim, N],
    B, C [batch, N], D, dt_bias [dim]. Mamba-2: state [batch, H, P, N], x, dt,
    z [batch, H, P], A [H, P, N], B, C [batch, G, N], D, dt_bias [H, P].
    With state_batch_indices [batch] (i32/i64) `state` is a pool of slots
    [P, ...] and batch entry b reads and updates slot state_batch_indices[b];
    a negative index is padding (output 0, no slot written; vLLM's pad slot).
    Updates `state` in place and returns out (the shape of x).
    """
    state = _as_array(state, "state")
    x, dt, A, B, C = (_as_array(v, n) for v, n in ((x, "x"), (dt, "dt"), (A, "A"), (B, "B"), (C, "C")))
    D, z, dt_bias = _as_array(D, "D"), _as_array(z, "z"), _as_array(dt_bias, "dt_bias")
    _check_rank("state", state, (3, 4))
    multihead = state.ndim == 4
    # With state_batch_indices the state is a pool of slots: the batch is x's.
    nslots = state.shape[0]
    b = x.shape[0] if state_batch_indices is not None and x.ndim >= 1 else nslots
    if multihead:
        _, h, p, n = state.shape
        xs = (b, h, p)
        _check_rank("B", B, (3,))
    else:
        _, dm, n = state.shape
        h, p = 1, dm
        xs = (b, dm)
        _check_rank("B", B, (2,))
    dim = h * p
    _check_shape("x", x, xs)
    t = _float_type("x", x)
    _check_shape("dt", dt, xs)
    _check_shape("A", A, xs[1:] + (n,))
    if multihead:
        g = B.shape[1]
        _check_shape("B", B, (b, g, n))
        _check_shape("C", C, (b, g, n))
        if g == 0 or h % g:
            raise ValueError(f"B: the group count {g} does not divide the head count {h}")
    else:
        _check_shape("B", B, (b, n))
        _check_shape("C", C, (b, n))
    flat = lambda v: _reshape(v, (b, dim)) if multihead else v  # noqa: E731
    chan = lambda v: _reshape(v, (dim,)) if multihead else v  # noqa: E731
    acc = _acc(t)
    st = _cast(_reshape(state, (nslots, dim, n)) if multihead else state, acc)
    operands = [("u", flat(x)), ("delta", flat(_param("dt", dt, t))),
                ("A", _param("A", _reshape(A, (dim, n)), t)),
                ("B", _cast(B, t)), ("C", _cast(C, t)), ("state", st)]
    clauses = []
    if D is not None:
        _check_shape("D", D, xs[1:])
        clauses.append(("D", "D", _param("D", chan(D), t)))
    if z is not None:
        _check_shape("z", z, xs)
        clauses.append(("z", "z", flat(_cast(z, t))))
    if dt_bias is not None:
        _check_shape("dt_bias", dt_bias, xs[1:])
        clauses.append(("delta_bias", "dt_bias", _param("dt_bias", chan(dt_bias), t)))
    if state_batch_indices is not None:
        idx = _indices("state_batch_indices", state_batch_indices, x)
        _check_shape("state_batch_indices", idx, (b,))
        clauses.append(("state_batch_indices", "state_batch_indices", idx))
    y, new_state = _run("ssm.selective_scan_step", operands, clauses, "",
                        [((b, dim), t), ((nslots, dim, n), acc)],
                        "delta_softplus" if dt_softplus else "")
    _copy_into(state, _reshape(new_state, tuple(state.shape)))
    y = _reshape(y, xs)
    if out is not None:
        _copy_into(out, y)
        return out
    return y


def _segments(b, L, seq_idx, cu_seqlens):
    """Packed-sequence boundaries over the flattened batch [1, b*L]."""
    cuts = {0, b * L}
    cuts.update(r * L for r in range(b))
    if seq_idx is not None:
        s = _to_numpy(seq_idx).astype(np.int64)
        if s.shape != (b, L):
            raise ValueError(f"seq_idx: expected shape [{b}, {L}], got {list(s.shape)}")
        change = np.nonzero(s[:, 1:] != s[:, :-1])
        cuts.update((change[0] * L + change[1] + 1).tolist())
    if cu_seqlens is not None:
        cu = _to_numpy(cu_seqlens).astype(np.int64)
        if cu.ndim != 1 or cu.size < 2 or cu[0] != 0 or cu[-1] != b * L or np.any(np.diff(cu) < 0):
            raise ValueError("cu_seqlens: expected non-decreasing offsets from 0 to the sequence length "
                             f"{b * L}, got {cu.tolist()}")
        cuts.update(cu.tolist())
    return np.array(sorted(cuts), dtype=np.int64)


def mamba_chunk_scan_combined(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None,
                              initial_states=None, seq_idx=None, cu_seqlens=None,
                              dt_softplus=False, dt_limit=(0.0, float("inf")),
                              return_final_states=False, return_varlen_states=False):
    """mamba_ssm.ops.triton.ssd_combined.mamba_chunk_scan_combined.

    x, z: [batch, L, H, P]; dt: [batch, L, H]; A, dt_bias: [H]; D: [H] or
    [H, P]; dt_limit = (lo, hi) clamps dt after the bias and softplus (the
    default (0, inf) clamps negative steps to 0); B, C: [batch, L, G, N];
    initial_states: [batch, H, P, N]; seq_idx: [batch, L] (the state
    restarts where it changes); cu_seqlens: [S + 1]
    offsets of packed sequences (batch 1), whose final states
    return_varlen_states returns ([S, H, P, N]). chunk_size is accepted and
    left to the compiler. Returns out, (out, final_states), (out,
    varlen_states) or (out, final_states, varlen_states) as mamba_ssm does.
    """
    lo, hi = (float(v) for v in dt_limit)
    if not lo <= hi:
        raise ValueError(f"dt_limit: expected lo <= hi, got {tuple(dt_limit)}")
    if int(chunk_size) <= 0:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    x = _as_array(x, "x")
    dt, A, B, C = (_as_array(v, n) for v, n in ((dt, "dt"), (A, "A"), (B, "B"), (C, "C")))
    D, z, dt_bias = _as_array(D, "D"), _as_array(z, "z"), _as_array(dt_bias, "dt_bias")
    h0 = _as_array(initial_states, "initial_states")
    _check_rank("x", x, (4,))
    b, L, h, p = x.shape
    t = _float_type("x", x)
    _check_shape("dt", dt, (b, L, h))
    _check_shape("A", A, (h,))
    _check_rank("B", B, (4,))
    g, n = B.shape[2], B.shape[3]
    _check_shape("B", B, (b, L, g, n))
    _check_shape("C", C, (b, L, g, n))
    if g == 0 or h % g:
        raise ValueError(f"B: the group count {g} does not divide the head count {h}")
    if return_varlen_states and cu_seqlens is None:
        raise ValueError("return_varlen_states requires cu_seqlens")
    if cu_seqlens is not None and b != 1:
        raise ValueError(f"cu_seqlens: the batch must be 1, got {b}")
    acc = _acc(t)
    packed = seq_idx is not None or cu_seqlens is not None
    if h0 is not None:
        _check_shape("initial_states", h0, (b, h, p, n))
        h0 = _cast(h0, acc)
    if packed:
        cuts = _segments(b, L, seq_idx, cu_seqlens)
        nseg = len(cuts) - 1
        flat4 = lambda v: _reshape(v, (1, b * L) + tuple(v.shape[2:]))  # noqa: E731
        xs, dts, Bs, Cs = flat4(x), flat4(_param("dt", dt, t)), flat4(_cast(B, t)), flat4(_cast(C, t))
        zs = flat4(_cast(z, t)) if z is not None else None
        starts = {int(c): i for i, c in enumerate(cuts[:-1])}
        if h0 is not None:
            h0s = _zeros((nseg, h, p, n), acc, x)
            for r in range(b):
                h0s[starts[r * L]] = _like(h0[r], h0s)
        else:
            h0s = None
        cu = cuts
        cu = _like(cu, x)
    else:
        xs, dts, Bs, Cs = x, _param("dt", dt, t), _cast(B, t), _cast(C, t)
        zs = _cast(z, t) if z is not None else None
        h0s = h0
    operands = [("x", xs), ("dt", dts), ("A", _param("A", A, t)), ("B", Bs), ("C", Cs)]
    clauses = []
    if D is not None:
        _check_rank("D", D, (1, 2))
        _check_shape("D", D, (h,) if D.ndim == 1 else (h, p))
        clauses.append(("D", "D", _param("D", D, t)))
    if z is not None:
        _check_shape("z", z, (b, L, h, p))
        clauses.append(("z", "z", zs))
    if dt_bias is not None:
        _check_shape("dt_bias", dt_bias, (h,))
        clauses.append(("dt_bias", "dt_bias", _param("dt_bias", dt_bias, t)))
    if h0s is not None:
        clauses.append(("h0", "h0", h0s))
    if packed:
        clauses.append(("cu_seqlens", "cu_seqlens", cu))
    want_states = return_final_states or return_varlen_states
    results = [(tuple(xs.shape), t)]
    if want_states:
        results.append((((len(cuts) - 1) if packed else b, h, p, n), acc))
    # The peer always clamps dt to dt_limit; its default (0, inf) changes
    # nothing after softplus, so the attribute is left out there.
    attrs = ""
    if (lo, hi) != (0.0, float("inf")) or not dt_softplus:
        attrs = f"dt_limit = array<f64: {_f64_elem(lo)}, {_f64_elem(hi)}>"
    res = _run("ssm.ssd", operands, clauses, attrs, results, "dt_softplus" if dt_softplus else "")
    out = _reshape(res[0], (b, L, h, p))
    if not want_states:
        return out
    states = res[1]
    ret = [out]
    if packed:
        ends = {int(c): i for i, c in enumerate(cuts[1:])}
        if return_final_states:
            idx = [ends[(r + 1) * L] for r in range(b)]
            ret.append(states[idx] if not _is_torch(states) else states[_torch().tensor(idx)])
        if return_varlen_states:
            cu_np = _to_numpy(cu_seqlens).astype(np.int64)
            rows = []
            for i in range(len(cu_np) - 1):
                if cu_np[i] == cu_np[i + 1]:  # an empty sequence keeps its (zero) state
                    rows.append(_zeros((h, p, n), acc, x))
                else:
                    rows.append(states[ends[int(cu_np[i + 1])]])
            ret.append(_torch().stack(rows) if _is_torch(states) else np.stack(rows))
    else:
        ret.append(states)
    return tuple(ret)


# ---------------------------------------------------------------------------
# causal-conv1d
# ---------------------------------------------------------------------------

def _activation(activation):
    if activation not in (None, "silu", "swish"):
        raise NotImplementedError("activation must be None, silu, or swish")
    return activation is not None


def causal_conv1d_fn(x, weight, bias=None, seq_idx=None, initial_states=None,
                     return_final_states=False, final_states_out=None, activation=None):
    """causal_conv1d.causal_conv1d_fn: x [batch, dim, L], weight [dim, W],
    bias [dim], initial_states [batch, dim, W - 1]. Returns out, or
    (out, final_states) with return_final_states."""
    silu = _activation(activation)
    if seq_idx is not None:
        # The peer's own preconditions.
        if initial_states is not None:
            raise ValueError("initial_states must be None if seq_idx is not None")
        if return_final_states:
            raise ValueError("If seq_idx is not None, we don't return final_states_out")
    x = _as_array(x, "x")
    weight, bias = _as_array(weight, "weight"), _as_array(bias, "bias")
    s0 = _as_array(initial_states, "initial_states")
    _check_rank("x", x, (3,))
    b, dim, L = x.shape
    t = _float_type("x", x)
    _check_rank("weight", weight, (2,))
    if weight.shape[0] != dim or weight.shape[1] < 1:
        raise ValueError(f"weight: expected shape [{dim}, W], got {list(weight.shape)}")
    w = weight.shape[1]
    if seq_idx is not None:
        return _conv1d_packed(x, weight, bias, seq_idx, silu, t)
    operands = [("x", x), ("weight", _param("weight", weight, t))]
    clauses = []
    if bias is not None:
        _check_shape("bias", bias, (dim,))
        clauses.append(("bias", "bias", _param("bias", bias, t)))
    if s0 is not None:
        _check_shape("initial_states", s0, (b, dim, w - 1))
        clauses.append(("initial_state", "initial_state", _cast(s0, t)))
    final = return_final_states or final_states_out is not None
    results = [((b, dim, L), t)]
    if final:
        results.append(((b, dim, w - 1), t))
    res = _run("ssm.causal_conv1d", operands, clauses, "", results, "silu" if silu else "")
    if not return_final_states:
        return res[0]
    fs = res[1]
    if final_states_out is not None:
        _copy_into(final_states_out, fs)
        fs = final_states_out
    return res[0], fs


def _conv1d_packed(x, weight, bias, seq_idx, silu, t):
    """causal_conv1d_fn with seq_idx [B, L]: a tap reads x[t - i] only when
    seq_idx there equals seq_idx[t] (and within the row), i.e. the rows
    packed into one and cut where seq_idx changes: ssm.causal_conv1d with
    cu_seqlens."""
    b, dim, L = x.shape
    s = _to_numpy(seq_idx)
    if s.shape != (b, L):
        raise ValueError(f"seq_idx: expected shape [{b}, {L}], got {list(s.shape)}")
    if s.dtype.kind not in "iu":
        raise ValueError(f"seq_idx: expected integers, got {s.dtype}")
    if L > 1 and np.any(s[:, 1:] < s[:, :-1]):
        # A sequence id that comes back after another one would let the
        # peer's taps reach across the other sequence; cuts cannot say that.
        _unsupported("seq_idx", "that decreases along a row is not supported")
    cuts = _segments(b, L, seq_idx, None)
    xs = _reshape(_permuted_copy(x, (1, 0, 2)), (1, dim, b * L))
    operands = [("x", xs), ("weight", _param("weight", weight, t))]
    clauses = []
    if bias is not None:
        _check_shape("bias", bias, (dim,))
        clauses.append(("bias", "bias", _param("bias", bias, t)))
    clauses.append(("cu_seqlens", "cu_seqlens", _like(cuts, x)))
    (out,) = _run("ssm.causal_conv1d", operands, clauses, "", [((1, dim, b * L), t)],
                  "silu" if silu else "")
    return _permuted_copy(_reshape(out, (dim, b, L)), (1, 0, 2))


def causal_conv1d_update(x, conv_state, weight, bias=None, activation=None,
                         cache_seqlens=None, conv_state_indices=None):
    """causal_conv1d.causal_conv1d_update: x [batch, dim] or [batch, dim, L],
    conv_state [batch, dim, state_len >= W - 1] (updated in place), weight
    [dim, W], bias [dim]. Without cache_seqlens conv_state holds the last
    state_len inputs (a shift register); with cache_seqlens [batch] it is a
    ring buffer and token j of entry b is written at slot
    (cache_seqlens[b] + j) % state_len (cache_seqlens itself is not
    advanced). With conv_state_indices [batch] conv_state is a pool of slots
    [P, dim, state_len] and entry b uses slot conv_state_indices[b]; a
    negative index is padding (output 0, no slot written). Returns out with
    the shape of x. Each token is one ssm.causal_conv1d_step."""
    silu = _activation(activation)
    x = _as_array(x, "x")
    conv_state = _as_array(conv_state, "conv_state")
    weight, bias = _as_array(weight, "weight"), _as_array(bias, "bias")
    _check_rank("x", x, (2, 3))
    squeeze = x.ndim == 2
    x3 = _reshape(x, tuple(x.shape) + (1,)) if squeeze else x
    b, dim, L = x3.shape
    t = _float_type("x", x)
    _check_rank("weight", weight, (2,))
    if weight.shape[0] != dim:
        raise ValueError(f"weight: expected shape [{dim}, W], got {list(weight.shape)}")
    w = weight.shape[1]
    _check_rank("conv_state", conv_state, (3,))
    pooled = conv_state_indices is not None
    if ((not pooled and conv_state.shape[0] != b) or conv_state.shape[1] != dim
            or conv_state.shape[2] < w - 1):
        rows = "P" if pooled else str(b)
        raise ValueError(f"conv_state: expected shape [{rows}, {dim}, >= {w - 1}], "
                         f"got {list(conv_state.shape)}")
    _float_type("conv_state", conv_state)
    state = _param("conv_state", conv_state, t)
    w_op = _param("weight", weight, t)
    base = []
    if bias is not None:
        _check_shape("bias", bias, (dim,))
        base.append(("bias", "bias", _param("bias", bias, t)))
    seqlens = None
    if cache_seqlens is not None:
        seqlens = _to_numpy(_indices("cache_seqlens", cache_seqlens, x))
        _check_shape("cache_seqlens", seqlens, (b,))
    if pooled:
        idx = _indices("conv_state_indices", conv_state_indices, x)
        _check_shape("conv_state_indices", idx, (b,))
    outs = []
    for j in range(L):
        operands = [("x", _contiguous(x3[:, :, j])), ("state", state), ("weight", w_op)]
        clauses = list(base)
        if seqlens is not None:
            clauses.append(("cache_seqlens", "cache_seqlens", _like(seqlens + j, x)))
        if pooled:
            clauses.append(("conv_state_indices", "conv_state_indices", idx))
        out, state = _run("ssm.causal_conv1d_step", operands, clauses, "",
                          [((b, dim), t), (tuple(conv_state.shape), _dtype(state))],
                          "silu" if silu else "")
        outs.append(out)
    _copy_into(conv_state, state)
    if squeeze:
        return outs[0]
    if _is_torch(outs[0]):
        return _torch().stack(outs, dim=2)
    return np.stack(outs, axis=2)


# ---------------------------------------------------------------------------
# flash-linear-attention
# ---------------------------------------------------------------------------

def _linear_attention(q, k, v, gate, gate_rank, scale, initial_state, output_final_state,
                      cu_seqlens, head_first, g_gamma=None, reverse=False):
    """fla layout [B, T, H, *] (or [B, H, T, *] with head_first) onto
    ssm.linear_attention's [B, H, T, *]; returns (o, final_state or None)."""
    q = _as_array(q, "q")
    k, v = _as_array(k, "k"), _as_array(v, "v")
    gate = _as_array(gate, "g")
    g_gamma = _as_array(g_gamma, "g_gamma")
    h0 = _as_array(initial_state, "initial_state")
    for name, x in (("q", q), ("k", k), ("v", v)):
        _check_rank(name, x, (4,))
    t = _float_type("q", q)
    if head_first:
        b, h, L, kd = q.shape
    else:
        b, L, h, kd = q.shape
    vd = v.shape[-1]
    # [B, T, H, *] -> [B, H, T, *]: one transposing copy per input (a
    # tight copy here costs less than a strided argument does).
    to_op = (lambda x: x) if head_first else (lambda x: _permuted_copy(x, (0, 2, 1, 3)))
    qs = (b, h, L, kd) if head_first else (b, L, h, kd)
    _check_shape("k", k, qs)
    _check_shape("v", v, qs[:3] + (vd,))
    operands = [("q", to_op(q)), ("k", to_op(_cast(k, t))), ("v", to_op(_cast(v, t)))]
    clauses = []
    if g_gamma is not None:
        _check_shape("g_gamma", g_gamma, (h,))
        gg = _broadcast(_reshape(_cast(g_gamma, _acc(t)), (1, h, 1)), (b, h, L))
        if gate is not None:
            _check_shape("g", gate, qs[:3])
            g_op = _cast(gate, _acc(t)) if head_first else _permuted_copy(_cast(gate, _acc(t)), (0, 2, 1))
            gate_op = g_op + gg
        else:
            gate_op = gg
        clauses.append(("gate", "gate", gate_op))
    elif gate is not None:
        gshape = qs[:3] if gate_rank == 3 else qs
        _check_shape("g", gate, gshape)
        gt = _dtype(gate)
        gate = gate if gt in (t, _acc(t)) else _cast(gate, _acc(t))
        if not head_first:
            gate = _permuted_copy(gate, (0, 2, 1) if gate_rank == 3 else (0, 2, 1, 3))
        clauses.append(("gate", "gate", gate))
    nstates = b
    if cu_seqlens is not None:
        if b != 1:
            raise ValueError(f"The batch size is expected to be 1 rather than {b} when using `cu_seqlens`.")
        cu = _as_array(cu_seqlens, "cu_seqlens")
        if _dtype(cu) not in ("i32", "i64"):
            cu = _cast(cu, "i64")
        _check_rank("cu_seqlens", cu, (1,))
        nstates = cu.shape[0] - 1
    if h0 is not None:
        _check_shape("initial_state", h0, (nstates, h, kd, vd))
        clauses.append(("h0", "h0", _cast(h0, _acc(t))))
    if cu_seqlens is not None:
        clauses.append(("cu_seqlens", "cu_seqlens", cu))
    attrs = "scale = " + _f64(kd ** -0.5 if scale is None else scale)
    results = [((b, h, L, vd), t)]
    if output_final_state:
        results.append(((nstates, h, kd, vd), _acc(t)))
    res = _run("ssm.linear_attention", operands, clauses, attrs, results,
               "reverse" if reverse else "")
    o = res[0] if head_first else _permuted_copy(res[0], (0, 2, 1, 3))
    return o, (res[1] if output_final_state else None)


def chunk_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                     output_final_state=False, cu_seqlens=None, head_first=False):
    """fla.ops.simple_gla.chunk_simple_gla: q, k [B, T, H, K], v [B, T, H, V],
    g [B, T, H] (log decays), g_gamma [H] (a constant log decay per head).
    Returns (o [B, T, H, V], final_state [N, H, K, V] or None)."""
    return _linear_attention(q, k, v, g, 3, scale, initial_state, output_final_state,
                             cu_seqlens, head_first, g_gamma)


def fused_recurrent_simple_gla(q, k, v, g=None, g_gamma=None, scale=None, initial_state=None,
                               output_final_state=False, reverse=False, cu_seqlens=None,
                               head_first=False):
    """fla.ops.simple_gla.fused_recurrent_simple_gla (see chunk_simple_gla).
    reverse runs each sequence right to left: initial_state enters before its
    last step and the final state leaves after its first."""
    return _linear_attention(q, k, v, g, 3, scale, initial_state, output_final_state,
                             cu_seqlens, head_first, g_gamma, bool(reverse))


def chunk_gla(q, k, v, g, scale=None, initial_state=None, output_final_state=False,
              cu_seqlens=None, head_first=False):
    """fla.ops.gla.chunk_gla: q, k, g [B, T, H, K] (g: log decays per key
    dimension), v [B, T, H, V]. Returns (o, final_state or None)."""
    if g is None:
        raise ValueError("g: chunk_gla needs the gate")
    return _linear_attention(q, k, v, g, 4, scale, initial_state, output_final_state,
                             cu_seqlens, head_first)


def fused_recurrent_gla(q, k, v, gk=None, gv=None, scale=None, initial_state=None,
                        output_final_state=False, reverse=False, cu_seqlens=None,
                        head_first=False):
    """fla.ops.gla.fused_recurrent_gla: gk [B, T, H, K] log decays per key
    dimension; reverse as in fused_recurrent_simple_gla. Returns (o,
    final_state or None)."""
    if gv is not None:
        _unsupported("gv", "(decay per value dimension) is not supported")
    return _linear_attention(q, k, v, gk, 4, scale, initial_state, output_final_state,
                             cu_seqlens, head_first, reverse=bool(reverse))


# ---------------------------------------------------------------------------
# flash-linear-attention: the delta-rule family (ssm.delta_rule)
# ---------------------------------------------------------------------------

def _no_head_first(kwargs):
    """fla removed head_first from the delta-rule functions and raises
    DeprecationWarning when it is passed; so do these."""
    if "head_first" in kwargs:
        raise DeprecationWarning(
            "head_first has been removed. Inputs must be in `[B, T, H, ...]` format.")


def _float_array(x, t):
    """x as a NumPy array in the accumulator type of t (a float32/float64
    copy of PyTorch tensors, bf16 included), for the gate and beta
    activations computed before the op."""
    dt = np.float64 if t == "f64" else np.float32
    if _is_torch(x):
        torch = _torch()
        return x.detach().to(torch.float64 if t == "f64" else torch.float32).numpy()
    return np.asarray(x, dtype=dt)


def _beta_activation(beta, t, use_beta_sigmoid, allow_neg_eigval, ref):
    """fla's use_beta_sigmoid_in_kernel / allow_neg_eigval: beta = sigmoid(beta),
    times 2 with allow_neg_eigval."""
    if allow_neg_eigval and not use_beta_sigmoid:
        raise ValueError("`allow_neg_eigval=True` requires `use_beta_sigmoid_in_kernel=True`.")
    if not use_beta_sigmoid:
        return beta
    x = _float_array(beta, t)
    y = 1.0 / (1.0 + np.exp(-x))
    if allow_neg_eigval:
        y = 2.0 * y
    return _like(y.astype(x.dtype), ref)


def _gate_activation(g, A_log, dt_bias, lower_bound, t, ref):
    """fla's use_gate_in_kernel: the log decay from the raw gate g
    ([B, T, HV] or [B, T, HV, K]) with A_log [HV] and dt_bias ([HV], or
    [HV * K] for per-key gates): -exp(A_log) softplus(g + dt_bias), or with
    lower_bound: lower_bound sigmoid(exp(A_log) (g + dt_bias)) (A_log may be
    None there: lower_bound sigmoid(g + dt_bias))."""
    x = _float_array(g, t)
    hv = x.shape[2]
    per_key = x.ndim == 4
    if dt_bias is not None:
        bias = _float_array(_as_array(dt_bias, "dt_bias"), t)
        want = hv * x.shape[3] if per_key else hv
        if bias.size != want:
            raise ValueError(f"dt_bias: expected {want} elements, got shape {list(bias.shape)}")
        x = x + (bias.reshape(hv, x.shape[3]) if per_key else bias.reshape(hv))
    a = None
    if A_log is not None:
        a = _float_array(_as_array(A_log, "A_log"), t)
        if a.size != hv:
            raise ValueError(f"A_log: expected {hv} elements, got shape {list(a.shape)}")
        a = np.exp(a.reshape((hv, 1) if per_key else (hv,)))
    if lower_bound is not None:
        y = float(lower_bound) / (1.0 + np.exp(-(x if a is None else a * x)))
    else:
        if a is None:
            raise ValueError("`A_log` must be provided when `use_gate_in_kernel=True`.")
        y = -a * np.logaddexp(0.0, x)
    return _like(y.astype(x.dtype), ref)


def _state_in(h0, state_v_first):
    """An fla initial state as the op's [N, H, K, V] (from [N, H, V, K] with
    state_v_first)."""
    if h0 is None or not state_v_first:
        return h0
    _check_rank("initial_state", h0, (4,))
    return _permuted_copy(h0, (0, 1, 3, 2))


def _delta_rule(q, k, v, *, beta=None, gate=None, a=None, b=None, scale=None,
                initial_state=None, output_final_state=False, use_qk_l2norm=False,
                cu_seqlens=None, chunk_size=None, state_v_first=False):
    """fla's [B, T, H, *] layout is ssm.delta_rule's: no transposes. Returns
    (o [B, T, HV, V] in q's dtype, final_state [N, HV, K, V] or None)."""
    q = _as_array(q, "q")
    k, v = _as_array(k, "k"), _as_array(v, "v")
    for name, x in (("q", q), ("k", k), ("v", v)):
        _check_rank(name, x, (4,))
    t = _float_type("q", q)
    bsz, L, hk, kd = q.shape
    hv, vd = v.shape[2], v.shape[3]
    _check_shape("k", k, q.shape)
    _check_shape("v", v, (bsz, L, hv, vd))
    if hv % hk != 0:
        raise ValueError(f"For GVA, num_v_heads (HV={hv}) must be evenly divisible by "
                         f"num_heads (H={hk}), but got HV % H = {hv % hk}")
    operands = [("q", _contiguous(q)), ("k", _contiguous(_cast(k, t))),
                ("v", _contiguous(_cast(v, t)))]
    clauses = []
    if beta is not None:
        beta = _as_array(beta, "beta")
        _check_shape("beta", beta, (bsz, L, hv))
        clauses.append(("beta", "beta", _contiguous(_param("beta", beta, t))))
    if gate is not None:
        gate = _as_array(gate, "g")
        _check_rank("g", gate, (3, 4))
        _check_shape("g", gate, (bsz, L, hv) if gate.ndim == 3 else (bsz, L, hv, kd))
        clauses.append(("gate", "gate", _contiguous(_param("g", gate, t))))
    for name, x in (("a", a), ("b", b)):
        if x is not None:
            x = _as_array(x, name)
            _check_shape(name, x, (bsz, L, hv, kd))
            clauses.append((name, name, _contiguous(_param(name, x, t))))
    nstates = bsz
    cu = None
    if cu_seqlens is not None:
        if bsz != 1:
            raise ValueError(f"The batch size is expected to be 1 rather than {bsz} when using "
                             "`cu_seqlens`. Please flatten variable-length inputs before processing.")
        cu = _indices("cu_seqlens", cu_seqlens, q)
        _check_rank("cu_seqlens", cu, (1,))
        nstates = cu.shape[0] - 1
    h0 = _state_in(_as_array(initial_state, "initial_state"), state_v_first)
    if h0 is not None:
        if cu is not None and h0.shape[0] != nstates:
            raise ValueError("The number of initial states is expected to be equal to the number "
                             f"of input sequences, i.e., {nstates} rather than {h0.shape[0]}.")
        _check_shape("initial_state", h0, (nstates, hv, kd, vd))
        clauses.append(("h0", "h0", _contiguous(_cast(h0, _acc(t)))))
    if cu is not None:
        clauses.append(("cu_seqlens", "cu_seqlens", _contiguous(cu)))
    attrs = "scale = " + _f64(kd ** -0.5 if scale is None else scale)
    if chunk_size is not None:
        attrs += f", chunk_size = {int(chunk_size)} : i64"
    results = [((bsz, L, hv, vd), t)]
    if output_final_state:
        results.append(((nstates, hv, kd, vd), _acc(t)))
    res = _run("ssm.delta_rule", operands, clauses, attrs, results,
               "use_qk_l2norm" if use_qk_l2norm else "")
    final = res[1] if output_final_state else None
    if final is not None and state_v_first:
        final = _permuted_copy(final, (0, 1, 3, 2))
    return res[0], final


def _fla_chunk_size(kwargs, allowed=(16, 32, 64)):
    """fla's chunk_size keyword of the chunk_* functions (default 64): the
    op's chunk_size, which asks for the chunked form."""
    c = kwargs.pop("chunk_size", 64)
    if c is None:
        c = 64
    if allowed and c not in allowed:
        raise ValueError(f"`chunk_size` must be 16, 32, or 64, got {c}.")
    return int(c)


def _no_extra(fn, kwargs):
    if kwargs:
        raise TypeError(f"{fn}() got unexpected keyword arguments {sorted(kwargs)}")


def chunk_delta_rule(q, k, v, beta, scale=None, initial_state=None, output_final_state=False,
                     use_qk_l2norm_in_kernel=False, cu_seqlens=None, cu_seqlens_cpu=None,
                     **kwargs):
    """fla.ops.delta_rule.chunk_delta_rule: q, k [B, T, H, K], v [B, T, H, V],
    beta [B, T, H]. Returns (o [B, T, H, V], final_state [N, H, K, V] float32
    or None). The chunked form."""
    _no_head_first(kwargs)
    chunk = _fla_chunk_size(kwargs)
    _no_extra("chunk_delta_rule", kwargs)
    beta = _as_array(beta, "beta")
    if beta.ndim != 3:
        raise ValueError("beta must be of shape (batch size, num of head, seq len).")
    return _delta_rule(q, k, v, beta=beta, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state,
                       use_qk_l2norm=use_qk_l2norm_in_kernel, cu_seqlens=cu_seqlens,
                       chunk_size=chunk)


def fused_recurrent_delta_rule(q, k, v, beta=None, scale=None, initial_state=None,
                               output_final_state=False, use_qk_l2norm_in_kernel=False,
                               cu_seqlens=None):
    """fla.ops.delta_rule.fused_recurrent_delta_rule (beta None: ones). The
    recurrent form."""
    if scale is not None and not scale > 0:
        raise ValueError("scale must be positive")
    q = _as_array(q, "q")
    if beta is None:
        beta = _like(np.ones(tuple(q.shape[:2]) + (_as_array(v, "v").shape[2],),
                             np.float64 if _dtype(q) == "f64" else np.float32), q)
    beta = _as_array(beta, "beta")
    if beta.ndim == 4:
        _unsupported("beta", "per value dimension ([B, T, H, V]) is not supported")
    return _delta_rule(q, k, v, beta=beta, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state,
                       use_qk_l2norm=use_qk_l2norm_in_kernel, cu_seqlens=cu_seqlens,
                       chunk_size=0)


def chunk_gated_delta_rule(q, k, v, g, beta, scale=None, initial_state=None,
                           output_final_state=False, use_qk_l2norm_in_kernel=False,
                           use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                           state_v_first=False, cu_seqlens=None, cu_seqlens_cpu=None,
                           chunk_indices=None, cp_context=None, **kwargs):
    """fla.ops.gated_delta_rule.chunk_gated_delta_rule: q, k [B, T, H, K],
    v [B, T, HV, V] (HV a multiple of H), g (log decays) and beta
    [B, T, HV]; keywords use_gate_in_kernel, A_log [HV], dt_bias [HV] and
    chunk_size as fla takes them. Returns (o [B, T, HV, V], final_state
    [N, HV, K, V] or None). The chunked form."""
    _no_head_first(kwargs)
    if "transpose_state_layout" in kwargs:
        state_v_first = state_v_first or bool(kwargs.pop("transpose_state_layout"))
    chunk = _fla_chunk_size(kwargs)
    use_gate = kwargs.pop("use_gate_in_kernel", False)
    A_log, dt_bias = kwargs.pop("A_log", None), kwargs.pop("dt_bias", None)
    _no_extra("chunk_gated_delta_rule", kwargs)
    if cp_context is not None:
        _unsupported("cp_context", "(context parallelism) is not supported")
    q = _as_array(q, "q")
    t = _float_type("q", q)
    if use_gate:
        if A_log is None:
            raise ValueError("A_log must be provided when use_gate_in_kernel=True.")
        g = _gate_activation(_as_array(g, "g"), A_log, dt_bias, None, t, q)
    beta = _beta_activation(_as_array(beta, "beta"), t, use_beta_sigmoid_in_kernel,
                            allow_neg_eigval, q)
    g = _as_array(g, "g")
    if g is not None and g.ndim != 3:
        raise ValueError(f"g: expected shape [B, T, HV], got {list(g.shape)}")
    return _delta_rule(q, k, v, beta=beta, gate=g, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state,
                       use_qk_l2norm=use_qk_l2norm_in_kernel, cu_seqlens=cu_seqlens,
                       chunk_size=chunk, state_v_first=state_v_first)


def fused_recurrent_gated_delta_rule(q, k, v, g=None, gk=None, gv=None, beta=None, scale=None,
                                     initial_state=None, output_final_state=False,
                                     use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
                                     A_log=None, dt_bias=None, use_beta_sigmoid_in_kernel=False,
                                     allow_neg_eigval=False, state_v_first=False,
                                     cu_seqlens=None, **kwargs):
    """fla.ops.gated_delta_rule.fused_recurrent_gated_delta_rule: g [B, T, HV]
    and/or gk [B, T, HV, K] (log decays; both: their sum per key), beta
    [B, T, HV] (None: ones). The recurrent form."""
    if "transpose_state_layout" in kwargs:
        state_v_first = state_v_first or bool(kwargs.pop("transpose_state_layout"))
    _no_extra("fused_recurrent_gated_delta_rule", kwargs)
    if gv is not None:
        _unsupported("gv", "(decay per value dimension) is not supported")
    q = _as_array(q, "q")
    t = _float_type("q", q)
    v_arr = _as_array(v, "v")
    if use_gate_in_kernel:
        if A_log is None:
            raise ValueError("`A_log` must be provided when `use_gate_in_kernel=True`.")
        if g is None:
            raise ValueError("`g` (raw pre-activation) must be provided when `use_gate_in_kernel=True`.")
        g = _gate_activation(_as_array(g, "g"), A_log, dt_bias, None, t, q)
    if beta is None:
        beta = _like(np.ones(tuple(q.shape[:2]) + (v_arr.shape[2],),
                             np.float64 if t == "f64" else np.float32), q)
    beta = _beta_activation(_as_array(beta, "beta"), t, use_beta_sigmoid_in_kernel,
                            allow_neg_eigval, q)
    g, gk = _as_array(g, "g"), _as_array(gk, "gk")
    gate = g
    if gk is not None:
        _check_rank("gk", gk, (4,))
        gate = gk
        if g is not None:
            _check_rank("g", g, (3,))
            gate = _like(_float_array(gk, t) + _float_array(g, t)[..., None], q)
    return _delta_rule(q, k, v, beta=beta, gate=gate, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state,
                       use_qk_l2norm=use_qk_l2norm_in_kernel, cu_seqlens=cu_seqlens,
                       chunk_size=0, state_v_first=state_v_first)


def _kda(fn, q, k, v, g, beta, scale, initial_state, output_final_state,
         use_qk_l2norm_in_kernel, use_gate_in_kernel, A_log, dt_bias,
         use_beta_sigmoid_in_kernel, allow_neg_eigval, lower_bound, state_v_first,
         cu_seqlens, chunk_size):
    q = _as_array(q, "q")
    t = _float_type("q", q)
    g = _as_array(g, "g")
    if g is None:
        raise ValueError(f"g: {fn} needs the gate")
    _check_rank("g", g, (4,))
    if use_gate_in_kernel:
        if A_log is None and lower_bound is None:
            raise ValueError("`A_log` must be provided when `use_gate_in_kernel=True` and "
                             "`lower_bound` is not set.")
        g = _gate_activation(g, A_log, dt_bias, lower_bound, t, q)
    beta = _beta_activation(_as_array(beta, "beta"), t, use_beta_sigmoid_in_kernel,
                            allow_neg_eigval, q)
    return _delta_rule(q, k, v, beta=beta, gate=g, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state,
                       use_qk_l2norm=use_qk_l2norm_in_kernel, cu_seqlens=cu_seqlens,
                       chunk_size=chunk_size, state_v_first=state_v_first)


def chunk_kda(q, k, v, g, beta, scale=None, initial_state=None, output_final_state=False,
              use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
              use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False, safe_gate=False,
              lower_bound=None, disable_recompute=False, return_intermediate_states=False,
              state_v_first=False, cu_seqlens=None, cu_seqlens_cpu=None, cp_context=None,
              **kwargs):
    """fla.ops.kda.chunk_kda: Kimi Delta Attention, g [B, T, HV, K] (log decays
    per key; raw with use_gate_in_kernel, A_log [HV], dt_bias [HV * K],
    lower_bound), beta [B, T, HV]. safe_gate and disable_recompute are
    GPU/training hints without effect here. Returns (o, final_state or
    None). The chunked form."""
    _no_head_first(kwargs)
    if "transpose_state_layout" in kwargs:
        state_v_first = state_v_first or bool(kwargs.pop("transpose_state_layout"))
    chunk = _fla_chunk_size(kwargs, allowed=None)
    A_log, dt_bias = kwargs.pop("A_log", None), kwargs.pop("dt_bias", None)
    _no_extra("chunk_kda", kwargs)
    if return_intermediate_states:
        _unsupported("return_intermediate_states", "(per-chunk states) is not supported")
    if cp_context is not None:
        _unsupported("cp_context", "(context parallelism) is not supported")
    if safe_gate and use_gate_in_kernel:
        if lower_bound is None:
            raise ValueError("`lower_bound` must be specified when `safe_gate=True` and "
                             "`use_gate_in_kernel=True`.")
        if not -5 <= lower_bound < 0:
            raise ValueError(f"`lower_bound` must be in the safe range [-5, 0), got {lower_bound}.")
    return _kda("chunk_kda", q, k, v, g, beta, scale, initial_state, output_final_state,
                use_qk_l2norm_in_kernel, use_gate_in_kernel, A_log, dt_bias,
                use_beta_sigmoid_in_kernel, allow_neg_eigval, lower_bound, state_v_first,
                cu_seqlens, chunk)


def fused_recurrent_kda(q, k, v, g, beta, A_log=None, dt_bias=None, scale=None,
                        initial_state=None, output_final_state=False,
                        use_qk_l2norm_in_kernel=False, use_gate_in_kernel=False,
                        use_beta_sigmoid_in_kernel=False, allow_neg_eigval=False,
                        lower_bound=None, state_v_first=False, cu_seqlens=None, **kwargs):
    """fla.ops.kda.fused_recurrent_kda (see chunk_kda). The recurrent form."""
    if "transpose_state_layout" in kwargs:
        state_v_first = state_v_first or bool(kwargs.pop("transpose_state_layout"))
    _no_extra("fused_recurrent_kda", kwargs)
    return _kda("fused_recurrent_kda", q, k, v, g, beta, scale, initial_state,
                output_final_state, use_qk_l2norm_in_kernel, use_gate_in_kernel, A_log,
                dt_bias, use_beta_sigmoid_in_kernel, allow_neg_eigval, lower_bound,
                state_v_first, cu_seqlens, 0)


def chunk_dplr_delta_rule(q, k, v, a, b, gk, scale=None, initial_state=None,
                          output_final_state=False, cu_seqlens=None, cu_seqlens_cpu=None,
                          safe_gate=False, chunk_size=None, disable_recompute=False,
                          cp_context=None, lower_bound=None, **kwargs):
    """fla.ops.generalized_delta_rule.chunk_dplr_delta_rule: S_t = diag(exp(gk_t))
    S_{t-1} + b_t (a_t^T S_{t-1}) + k_t v_t^T (K x V state), q, k, a, b, gk
    [B, T, H, K], v [B, T, H, V]. chunk_size is not passed on: the lowering
    chooses the form from T (chunked at T >= 64, on CPU and GPU)."""
    _no_head_first(kwargs)
    _no_extra("chunk_dplr_delta_rule", kwargs)
    if lower_bound is not None and lower_bound >= 0:
        raise ValueError(f"`lower_bound` must be negative (gk is a log-decay < 0), got {lower_bound}.")
    if cp_context is not None:
        _unsupported("cp_context", "(context parallelism) is not supported")
    if gk is None:
        raise ValueError("gk: chunk_dplr_delta_rule needs the decay")
    return _delta_rule(q, k, v, a=a, b=b, gate=gk, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state, cu_seqlens=cu_seqlens)


def fused_recurrent_dplr_delta_rule(q, k, v, a, b, gk, scale=None, initial_state=None,
                                    output_final_state=False, reverse=False, cu_seqlens=None):
    """fla.ops.generalized_delta_rule.fused_recurrent_dplr_delta_rule (see
    chunk_dplr_delta_rule); reverse=True is not supported."""
    if reverse:
        _unsupported("reverse", "(right-to-left recurrence) is not supported by ssm.delta_rule")
    if gk is None:
        raise ValueError("gk: fused_recurrent_dplr_delta_rule needs the decay")
    return _delta_rule(q, k, v, a=a, b=b, gate=gk, scale=scale, initial_state=initial_state,
                       output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                       chunk_size=0)


def chunk_rwkv7(r, w, k, v, a, b, scale=1.0, initial_state=None, output_final_state=False,
                cu_seqlens=None, cu_seqlens_cpu=None, safe_gate=False, chunk_size=None,
                disable_recompute=False, cp_context=None, lower_bound=None, **kwargs):
    """fla.ops.rwkv7.chunk_rwkv7: chunk_dplr_delta_rule with q = r and
    gk = w (log decays); scale defaults to 1.0 as in fla."""
    _no_head_first(kwargs)
    return chunk_dplr_delta_rule(r, k, v, a, b, w, scale=scale, initial_state=initial_state,
                                 output_final_state=output_final_state, cu_seqlens=cu_seqlens,
                                 safe_gate=safe_gate, chunk_size=chunk_size,
                                 disable_recompute=disable_recompute, cp_context=cp_context,
                                 lower_bound=lower_bound, **kwargs)


def fused_recurrent_rwkv7(r, w, k, v, a, b, scale=None, initial_state=None,
                          output_final_state=True, cu_seqlens=None, **kwargs):
    """fla.ops.rwkv7.fused_recurrent_rwkv7: fused_recurrent_dplr_delta_rule
    with q = r, gk = w; scale defaults to K^-1/2 and output_final_state to
    True, as in fla."""
    _no_head_first(kwargs)
    _no_extra("fused_recurrent_rwkv7", kwargs)
    return fused_recurrent_dplr_delta_rule(r, k, v, a, b, w, scale=scale,
                                           initial_state=initial_state,
                                           output_final_state=output_final_state,
                                           cu_seqlens=cu_seqlens)


# ---------------------------------------------------------------------------
# Softmax attention
# ---------------------------------------------------------------------------

def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False, window=None):
    """torch.nn.functional.scaled_dot_product_attention on [B, H, L, E]
    (or [H, L, E]) queries and [B, Hkv, S, E] keys and values.

    is_causal masks as PyTorch does (query i sees keys j <= i); enable_gqa
    lets Hkv divide H; `window = w` (an ssmc extension, with is_causal) keeps
    the w most recent keys, the query's own included.
    """
    if attn_mask is not None:
        _unsupported("attn_mask", "(an explicit mask) is not supported; use is_causal and window")
    if dropout_p:
        _unsupported("dropout_p", "(attention dropout) is not supported")
    q = _as_array(query, "query")
    k, v = _as_array(key, "key"), _as_array(value, "value")
    _check_rank("query", q, (3, 4))
    squeeze = q.ndim == 3
    if squeeze:
        q, k, v = (_reshape(x, (1,) + tuple(x.shape)) if x.ndim == 3 else x for x in (q, k, v))
    _check_rank("key", k, (4,))
    _check_rank("value", v, (4,))
    t = _float_type("query", q)
    b, h, lq, e = q.shape
    hkv, lk = k.shape[1], k.shape[2]
    _check_shape("key", k, (b, hkv, lk, e))
    _check_shape("value", v, (b, hkv, lk, v.shape[3]))
    if hkv != h and not enable_gqa:
        raise ValueError(f"key: {hkv} heads against the query's {h}; pass enable_gqa=True")
    if hkv == 0 or h % hkv:
        raise ValueError(f"key: {hkv} heads do not divide the query's {h}")
    if window is not None:
        if not is_causal:
            raise ValueError("window needs is_causal=True")
        if int(window) <= 0:
            raise ValueError(f"window must be positive, got {window}")
    attrs = []
    flag = "causal" if is_causal else ""
    if is_causal and lq > lk:
        # Top-left alignment with more queries than keys: query i sees keys
        # j <= i, i.e. ssm.attention's bottom-right window reaching
        # lq - lk keys right of its diagonal, without `causal`.
        flag = ""
        attrs.append(f"window_right = {lq - lk} : i64")
        if window is not None:
            left = int(window) - 1 - (lq - lk)
            if left < 0:
                _unsupported("window", f"below {lq - lk + 1} with {lq} queries and {lk} keys "
                             "(queries that see no key) is not supported")
            attrs.append(f"window_left = {left} : i64")
        window = None
    elif is_causal and lq < lk:
        # PyTorch aligns the causal mask top-left: keys past lq are never seen,
        # and on the first lq keys its mask is ssm.attention's bottom-right one.
        k = k[:, :, :lq]
        v = v[:, :, :lq]
        lk = lq
    if window is not None:
        attrs.append(f"window = {int(window)} : i64")
    if scale is not None:
        attrs.append("scale = " + _f64(scale))
    operands = [("q", q), ("k", _cast(k, t)), ("v", _cast(v, t))]
    (o,) = _run("ssm.attention", operands, [], ", ".join(attrs),
                [((b, h, lq, v.shape[3]), t)], flag)
    return _reshape(o, tuple(o.shape[1:])) if squeeze else o


def _flash_attrs(lk, causal, window_size, softcap, softmax_scale):
    """ssm.attention's attributes for flash-attention's window_size, softcap
    and softmax_scale, lk being the key length the peer normalises with."""
    left, right = (int(w) for w in window_size)
    # flash-attention's mha_fwd / set_params_fprop: a side >= Lk is
    # unbounded (-1); causal sets right to 0; an unbounded side next to a
    # bounded one becomes Lk (which bounds the right side when Lq > Lk + 1).
    left = -1 if left >= lk else left
    right = -1 if right >= lk else right
    if causal:
        right = 0
    if left < 0 and right >= 0:
        left = lk
    if left >= 0 and right < 0:
        right = lk
    attrs = []
    if left >= 0:
        attrs.append(f"window_left = {left} : i64")
    if right >= 0 and not causal:
        attrs.append(f"window_right = {right} : i64")
    if softcap:
        if float(softcap) < 0:
            raise ValueError(f"softcap must be >= 0, got {softcap}")
        attrs.append("softcap = " + _f64(softcap))
    if softmax_scale is not None:
        attrs.append("scale = " + _f64(softmax_scale))
    return attrs


def flash_attn_func(q, k, v, dropout_p=0.0, softmax_scale=None, causal=False,
                    window_size=(-1, -1), softcap=0.0, alibi_slopes=None,
                    deterministic=False, return_attn_probs=False):
    """flash_attn.flash_attn_func: q [B, Lq, H, d], k [B, Lk, Hkv, d], v
    [B, Lk, Hkv, dv] (Hkv divides H). causal and window_size = (left, right)
    align bottom-right (query i's diagonal key is i + Lk - Lq; causal sets
    right to 0; -1, or a side >= Lk, is no limit, except that next to a
    bounded side it becomes Lk as in flash-attention's kernel); softcap > 0 caps the scaled scores with
    softcap * tanh(s / softcap); alibi_slopes [H] or [B, H] (f32) adds
    -slope * |i + Lk - Lq - j|. A query that sees no key gets 0. Returns o
    [B, Lq, H, dv] in q's dtype."""
    if dropout_p:
        _unsupported("dropout_p", "(attention dropout) is not supported")
    if return_attn_probs:
        _unsupported("return_attn_probs", "is not supported: the probabilities are never formed")
    q = _as_array(q, "q")
    k, v = _as_array(k, "k"), _as_array(v, "v")
    alibi = _as_array(alibi_slopes, "alibi_slopes")
    for name, x in (("q", q), ("k", k), ("v", v)):
        _check_rank(name, x, (4,))
    t = _float_type("q", q)
    b, lq, h, e = q.shape
    lk, hkv = k.shape[1], k.shape[2]
    _check_shape("k", k, (b, lk, hkv, e))
    _check_shape("v", v, (b, lk, hkv, v.shape[3]))
    if hkv == 0 or h % hkv:
        raise ValueError(f"k: {hkv} heads do not divide the query's {h}")
    attrs = _flash_attrs(lk, causal, window_size, softcap, softmax_scale)
    to_op = lambda x: _permuted_copy(x, (0, 2, 1, 3))  # noqa: E731
    operands = [("q", to_op(q)), ("k", to_op(_cast(k, t))), ("v", to_op(_cast(v, t)))]
    clauses = []
    if alibi is not None:
        _check_rank("alibi_slopes", alibi, (1, 2))
        _check_shape("alibi_slopes", alibi, (h,) if alibi.ndim == 1 else (b, h))
        clauses.append(("alibi_slopes", "alibi_slopes", _cast(alibi, _acc(t))))
    (o,) = _run("ssm.attention", operands, clauses, ", ".join(attrs),
                [((b, h, lq, v.shape[3]), t)], "causal" if causal else "", flags_first=True)
    return _permuted_copy(o, (0, 2, 1, 3))


def flash_attn_varlen_func(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q, max_seqlen_k,
                           dropout_p=0.0, softmax_scale=None, causal=False, window_size=(-1, -1),
                           softcap=0.0, alibi_slopes=None, deterministic=False,
                           return_attn_probs=False, block_table=None):
    """flash_attn.flash_attn_varlen_func: q [total_q, H, d], k, v
    [total_k, Hkv, d] packing S sequences at offsets cu_seqlens_q,
    cu_seqlens_k [S + 1]; each sequence attends within itself, masks and
    ALiBi aligned to its own lengths (flash_attn_func per sequence; the
    window normalisation uses max_seqlen_k as the peer does). alibi_slopes
    [H]. Returns o [total_q, H, dv]."""
    if dropout_p:
        _unsupported("dropout_p", "(attention dropout) is not supported")
    if return_attn_probs:
        _unsupported("return_attn_probs", "is not supported: the probabilities are never formed")
    if block_table is not None:
        _unsupported("block_table", "(a paged KV cache) is not supported")
    q = _as_array(q, "q")
    k, v = _as_array(k, "k"), _as_array(v, "v")
    alibi = _as_array(alibi_slopes, "alibi_slopes")
    for name, x in (("q", q), ("k", k), ("v", v)):
        _check_rank(name, x, (3,))
    t = _float_type("q", q)
    tq, h, e = q.shape
    tk, hkv = k.shape[0], k.shape[1]
    _check_shape("k", k, (tk, hkv, e))
    _check_shape("v", v, (tk, hkv, v.shape[2]))
    if hkv == 0 or h % hkv:
        raise ValueError(f"k: {hkv} heads do not divide the query's {h}")
    cuq = _indices("cu_seqlens_q", cu_seqlens_q, q)
    cuk = _indices("cu_seqlens_k", cu_seqlens_k, q)
    _check_rank("cu_seqlens_q", cuq, (1,))
    _check_shape("cu_seqlens_k", cuk, tuple(cuq.shape))
    attrs = _flash_attrs(int(max_seqlen_k), causal, window_size, softcap, softmax_scale)
    def to_op(x):  # [T, H, d] -> [1, H, T, d]
        y = _permuted_copy(x, (1, 0, 2))
        return _reshape(y, (1,) + tuple(y.shape))

    operands = [("q", to_op(q)), ("k", to_op(_cast(k, t))), ("v", to_op(_cast(v, t)))]
    clauses = []
    if alibi is not None:
        _check_shape("alibi_slopes", alibi, (h,))
        clauses.append(("alibi_slopes", "alibi_slopes", _cast(alibi, _acc(t))))
    clauses += [("cu_seqlens_q", "cu_seqlens_q", cuq), ("cu_seqlens_k", "cu_seqlens_k", cuk)]
    (o,) = _run("ssm.attention", operands, clauses, ", ".join(attrs),
                [((1, h, tq, v.shape[2]), t)], "causal" if causal else "", flags_first=True)
    return _permuted_copy(_reshape(o, (h, tq, v.shape[2])), (1, 0, 2))
