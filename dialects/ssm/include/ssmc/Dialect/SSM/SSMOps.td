//===- SSMOps.td - ssm dialect operations ----------------------------------===//
//
// Operation definitions of the ssm dialect. Each op's description states its
// layout and its exact formula; the C++ verifiers in SSMOps.cpp check every
// rank, static dimension relation and element-type rule stated here.
//
//===----------------------------------------------------------------------===//

#ifndef SSM_OPS_TD
#define SSM_OPS_TD

include "SSMBase.td"
include "SSMEnums.td"
include "SSMInterfaces.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/ControlFlowInterfaces.td"

//===----------------------------------------------------------------------===//
// selective_scan
//===----------------------------------------------------------------------===//

def SSM_SelectiveScanOp : SSM_Op<"selective_scan",
    [Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<SSM_SequenceOpInterface>]> {
  let summary = "Mamba-1 selective scan";
  let description = [{
    Computes the selective state-space recurrence of Mamba-1 with the layout
    of mamba_ssm's `selective_scan_fn`. For batch `b`, channel `d`, state
    index `n` and time `t`:

    ```
    dt[b,d,t]  = delta[b,d,t] + delta_bias[d]        (delta_bias optional)
    dt[b,d,t]  = softplus(dt[b,d,t])                 (if `delta_softplus`)
    h[b,d,n]   = h0[b,d,n]  (zero when h0 is absent)
    h[b,d,n]   = exp(dt[b,d,t] * A[d,n]) * h[b,d,n]
               + dt[b,d,t] * B[b,g,n,t] * u[b,d,t]
    y[b,d,t]   = sum_n C[b,g,n,t] * h[b,d,n] + D[d] * u[b,d,t]   (D optional)
    out[b,d,t] = y[b,d,t] * silu(z[b,d,t])           (z optional)
    final_state[b,d,n] = h[b,d,n] after the last step (optional result)
    ```

    with `softplus(x) = log(1 + exp(x))`, `silu(x) = x / (1 + exp(-x))`, and
    `g = d / (D / G)` the group of channel `d` when B/C are grouped. B and C
    may also be fixed over time ([Dm, N], mamba_ssm's non-selective B/C,
    `is_variable_B = False`): the formula then reads `B[d,n]` (`C[d,n]`) at
    every batch entry and step, as the peer's
    `einsum('bdl,dn,bdl->bdln', delta, B, u)` does. Each of B and C takes
    its own form (B fixed next to a variable C and the reverse).

    Shapes (`Dm` is the channel count, `N` the state size):

    | operand | shape |
    | --- | --- |
    | u, delta, z, out | [B, Dm, L] |
    | A | [Dm, N] |
    | B, C | [B, N, L] (shared by all channels), [B, G, N, L] (grouped; G divides Dm) or [Dm, N] (fixed over time) |
    | D, delta_bias | [Dm] |
    | h0, final_state | [B, Dm, N] |
    | seq_idx | [B, L] |

    Element types: u, z, B, C and out share one type T in {f16, bf16, f32,
    f64}; delta, A, D and delta_bias are each T or the accumulation type
    (mamba_ssm keeps A, D and delta_bias in f32 next to bf16/f16 u; an f32
    delta is accepted too, as `selective_state_update` takes it); h0 and
    final_state have the accumulation type (f64 when T is f64, f32
    otherwise). Complex A (mamba_ssm's complex weight type) is not
    supported. Dimensions may be dynamic; every static relation is checked.

    With `cu_seqlens` ([S + 1] offsets, i32 or i64) the batch (B = 1) packs S
    sequences along L: the state restarts at every boundary (from h0[i] or
    zero), and h0 and final_state are [S, Dm, N]; the offsets must start at
    0, never decrease and end at L (checked at run time).

    With `seq_idx` ([B, L], i32 or i64; mamba_ssm's argument) every batch
    row packs its own sequences, any B: the state restarts from zero at
    every step t > 0 with seq_idx[b,t] != seq_idx[b,t-1]. h0 [B, Dm, N]
    enters at step 0 (the row's first sequence, the peer's sequence 0) and
    final_state [B, Dm, N] is the state after step L-1 (the row's last
    sequence). Only changes of the index matter (the peer numbers the
    sequences of a row 0, 1, ...). Not together with `cu_seqlens`.

    Example:

    ```mlir
    %y, %h = ssm.selective_scan %u, %delta, %A, %B, %C D(%D) z(%z)
               delta_bias(%bias) delta_softplus
             : (tensor<2x64x128xf32>, tensor<2x64x128xf32>, tensor<64x16xf32>,
                tensor<2x16x128xf32>, tensor<2x16x128xf32>, tensor<64xf32>,
                tensor<2x64x128xf32>, tensor<64xf32>)
             -> (tensor<2x64x128xf32>, tensor<2x64x16xf32>)
    ```
  }];

  let arguments = (ins
    SSM_FloatTensor:$u,
    SSM_FloatTensor:$delta,
    SSM_FloatTensor:$A,
    SSM_FloatTensor:$B,
    SSM_FloatTensor:$C,
    Optional<SSM_FloatTensor>:$D,
    Optional<SSM_FloatTensor>:$z,
    Optional<SSM_FloatTensor>:$delta_bias,
    Optional<SSM_FloatTensor>:$h0,
    Optional<RankedTensorOf<[I32, I64]>>:$cu_seqlens,
    Optional<RankedTensorOf<[I32, I64]>>:$seq_idx,
    UnitAttr:$delta_softplus
  );
  let results = (outs
    SSM_FloatTensor:$out,
    Optional<SSM_FloatTensor>:$final_state
  );

  let assemblyFormat = [{
    $u `,` $delta `,` $A `,` $B `,` $C
    (`D` `(` $D^ `)`)?
    (`z` `(` $z^ `)`)?
    (`delta_bias` `(` $delta_bias^ `)`)?
    (`h0` `(` $h0^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    (`seq_idx` `(` $seq_idx^ `)`)?
    (`delta_softplus` $delta_softplus^)?
    attr-dict `:` functional-type(operands, results)
  }];

  let hasVerifier = 1;
  let hasCanonicalizer = 1;

  let extraClassDeclaration = [{
    /// True when B and C carry a group dimension ([B, G, N, L]).
    bool isGroupedB() { return getB().getType().getRank() == 4; }
    bool isGroupedC() { return getC().getType().getRank() == 4; }
    /// True when B and C are fixed over time ([Dm, N]).
    bool isFixedB() { return getB().getType().getRank() == 2; }
    bool isFixedC() { return getC().getType().getRank() == 2; }
    /// Static sizes (ShapedType::kDynamic when unknown).
    int64_t getBatchSize();
    int64_t getChannels();
    int64_t getSeqLen();
    int64_t getStateSize();
  }];
}

//===----------------------------------------------------------------------===//
// ssd
//===----------------------------------------------------------------------===//

def SSM_SSDOp : SSM_Op<"ssd",
    [Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<SSM_SequenceOpInterface>]> {
  let summary = "Mamba-2 state space duality (scalar decay per head)";
  let description = [{
    The Mamba-2 recurrence with the layout of mamba_ssm's
    `mamba_chunk_scan_combined`. For batch `b`, step `t`, head `h` (in group
    `g = h / (H / G)`), head channel `p` and state index `n`:

    ```
    dt    = softplus(dt[b,t,h] + dt_bias[h])     (bias, softplus optional)
    dt    = min(max(dt, lo), hi)                 (with dt_limit = [lo, hi])
    h[p,n] = exp(dt * A[h]) * h[p,n] + dt * x[b,t,h,p] * B[b,t,g,n]
    y     = sum_n C[b,t,g,n] * h[p,n] + D[h,p] * x[b,t,h,p]
    out   = y * silu(z[b,t,h,p])                 (z optional)
    ```

    `D` is one skip weight per head ([H], D[h,p] = D[h]) or per head and
    head channel ([H, P], Mamba-2's `D_has_hdim`). `dt_limit = array<f64:
    lo, hi>` clamps the step size after the bias and softplus, as
    `mamba_chunk_scan_combined(dt_limit=(lo, hi))`; without it dt is not
    clamped (the peer's default (0, inf)). lo <= hi; hi may be infinite.

    `h` starts at `h0` [B, H, P, N] (zero when absent); the optional second
    result is the final state. It is linear attention with a scalar gate per
    head and step: q = C, k = B, v = dt * x, log gate = dt * A.

    With `cu_seqlens` ([S + 1] offsets, i32 or i64) the batch (B = 1) packs S
    sequences along L: the state restarts at every boundary (from h0[i] or
    zero), and h0 and final_state are [S, H, P, N]; the offsets must start
    at 0, never decrease and end at L (checked at run time).

    With `seq_idx` ([B, L], i32 or i64; `mamba_chunk_scan_combined`'s
    argument) every batch row packs its own sequences, any B: the state
    restarts from zero at every step t > 0 with seq_idx[b,t] !=
    seq_idx[b,t-1]; h0 [B, H, P, N] enters at step 0 (the row's first
    sequence) and final_state [B, H, P, N] is the state after step L-1 (the
    row's last sequence). Only changes of the index matter. Not together
    with `cu_seqlens`.

    | operand | shape |
    | --- | --- |
    | x, z, result out | [B, L, H, P] |
    | dt | [B, L, H] |
    | A, dt_bias | [H] |
    | D | [H] or [H, P] |
    | B, C | [B, L, G, N], G divides H |
    | h0, result final_state | [B, H, P, N] |
    | seq_idx | [B, L] |

    x, B, C, z and out share T in {f16, bf16, f32, f64}; dt, A, D and
    dt_bias are each T or the accumulator type (f32 step sizes and
    parameters next to bf16/f16 activations, as the peers keep them); h0
    and final_state the accumulator type.
  }];
  let arguments = (ins
    SSM_FloatTensor:$x, SSM_FloatTensor:$dt, SSM_FloatTensor:$A,
    SSM_FloatTensor:$B, SSM_FloatTensor:$C,
    Optional<SSM_FloatTensor>:$D, Optional<SSM_FloatTensor>:$z,
    Optional<SSM_FloatTensor>:$dt_bias, Optional<SSM_FloatTensor>:$h0,
    Optional<RankedTensorOf<[I32, I64]>>:$cu_seqlens,
    Optional<RankedTensorOf<[I32, I64]>>:$seq_idx,
    UnitAttr:$dt_softplus, OptionalAttr<DenseF64ArrayAttr>:$dt_limit);
  let results = (outs SSM_FloatTensor:$out, Optional<SSM_FloatTensor>:$final_state);
  let assemblyFormat = [{
    $x `,` $dt `,` $A `,` $B `,` $C
    (`D` `(` $D^ `)`)? (`z` `(` $z^ `)`)? (`dt_bias` `(` $dt_bias^ `)`)?
    (`h0` `(` $h0^ `)`)? (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    (`seq_idx` `(` $seq_idx^ `)`)?
    (`dt_softplus` $dt_softplus^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// linear_attention
//===----------------------------------------------------------------------===//

def SSM_LinearAttentionOp : SSM_Op<"linear_attention",
    [Pure, AttrSizedOperandSegments, AttrSizedResultSegments,
     DeclareOpInterfaceMethods<SSM_SequenceOpInterface>]> {
  let summary = "Linear attention with optional decay gates (Mamba-2, GLA, RetNet)";
  let description = [{
    Causal linear attention with the layout of flash-linear-attention. For
    batch (or packed sequence) `b`, head `h` and step `t`, with `phi` the
    feature map and `s` the scale:

    ```
    q~_t = s * phi(q_t),  k~_t = phi(k_t)                  (vectors of K)
    S_t  = diag(g_t) S_{t-1} + k~_t v_t^T                  (state K x V)
    o_t  = S_t^T q~_t                                      (vector of V)
    with `normalize`:  z_t = g_t * z_{t-1} + k~_t          (vector of K)
                       o_t = S_t^T q~_t / (q~_t . z_t + eps)
    ```

    `g_t = exp(gate_t)`: the `gate` operand holds log decays. A gate of shape
    [B, H, L] is one scalar per step and head (Mamba-2 / RetNet); [B, H, L, K]
    is one per key dimension (GLA); without a gate `g_t = 1`. `S_0 = h0` (zero
    when absent); the optional result `final_state` is `S_L`. Feature maps:
    `identity` (default), `elu_plus_one` (elu(x) + 1), `relu`. `scale`
    defaults to `K^-1/2`.

    `normalize` divides by the normaliser as flash-linear-attention does:
    `eps` (default 1e-10) is added to `q~_t . z_t`, so a query that shares no
    positive feature with the keys so far (0 / 0 without it) reads out 0.
    The normaliser is a recurrent state of its own: `z0` ([B, H, K]) is
    `z_0` (zero when absent) and the optional result `final_z` is `z_L`, so
    a normalised run split at any step and resumed from (`final_state`,
    `final_z`) equals the whole run. Both need `normalize`.

    With `reverse` the recurrence runs right to left, as flash-linear-
    attention's `reverse=True`: step t = L-1 first, `S_t = diag(g_t)
    S_{t+1} + k~_t v_t^T` (likewise z), so S_t sums the steps t..L-1; `h0`
    (and `z0`) is the state before step L-1, and `final_state` (`final_z`)
    the state after step 0. With `cu_seqlens` each packed sequence runs
    right to left within itself.

    | operand | shape |
    | --- | --- |
    | q, k | [B, H, L, K] |
    | v, result o | [B, H, L, V] |
    | gate | [B, H, L] or [B, H, L, K] |
    | h0, result final_state | [B, H, K, V], or [S, H, K, V] with cu_seqlens |
    | z0, result final_z | [B, H, K], or [S, H, K] with cu_seqlens |
    | cu_seqlens | [S + 1], i32 or i64 |

    With `cu_seqlens` the batch holds S sequences packed along L (B must be
    1): sequence `i` covers steps `[cu_seqlens[i], cu_seqlens[i+1])`, the
    state restarts from `h0[i]` (or zero) at each boundary, and one final
    state per sequence is returned.

    Element types: q, k, v and o share T in {f16, bf16, f32, f64}; gate is T
    or the accumulator type; h0, z0, final_state and final_z have the
    accumulator type (f64 for f64 programs, f32 otherwise).

    Syntax (the optional results are told apart by the ranks of the result
    types: final_state has rank 4, final_z rank 3; they come in the order
    out, final_state, final_z):

    ```
    operation ::= `ssm.linear_attention` $q `,` $k `,` $v
                  (`gate` `(` $gate^ `)`)? (`h0` `(` $h0^ `)`)?
                  (`z0` `(` $z0^ `)`)? (`cu_seqlens` `(` $cu_seqlens^ `)`)?
                  (`normalize`)? (`reverse`)?
                  attr-dict `:` functional-type(operands, results)
    ```

    ```mlir
    %o, %S = ssm.linear_attention %q, %k, %v gate(%g)
        : (tensor<2x4x128x64xf32>, tensor<2x4x128x64xf32>, tensor<2x4x128x64xf32>,
           tensor<2x4x128xf32>) -> (tensor<2x4x128x64xf32>, tensor<2x4x64x64xf32>)
    ```
  }];

  let arguments = (ins
    SSM_FloatTensor:$q,
    SSM_FloatTensor:$k,
    SSM_FloatTensor:$v,
    Optional<SSM_FloatTensor>:$gate,
    Optional<SSM_FloatTensor>:$h0,
    Optional<SSM_FloatTensor>:$z0,
    Optional<RankedTensorOf<[I32, I64]>>:$cu_seqlens,
    DefaultValuedAttr<SSM_FeatureMapAttr, "::mlir::ssm::FeatureMap::identity">:$feature_map,
    OptionalAttr<F64Attr>:$scale,
    UnitAttr:$normalize,
    DefaultValuedAttr<F64Attr, "1e-10">:$eps,
    UnitAttr:$reverse
  );
  let results = (outs
    SSM_FloatTensor:$out,
    Optional<SSM_FloatTensor>:$final_state,
    Optional<SSM_FloatTensor>:$final_z
  );

  // The declarative format cannot tell which optional results a functional
  // type lists; the parser tells them apart by rank (final_state has rank 4,
  // final_z rank 3). Syntax:
  //   $q, $k, $v (gate(..))? (h0(..))? (z0(..))? (cu_seqlens(..))?
  //   (normalize)? (reverse)? attr-dict : functional-type(operands, results)
  let hasCustomAssemblyFormat = 1;

  let hasVerifier = 1;
  let hasCanonicalizer = 1;

  let extraClassDeclaration = [{
    /// True when the gate has one value per key dimension ([B, H, L, K]).
    bool hasKeyGate() {
      return getGate() && ::llvm::cast<::mlir::ShapedType>(
                              getGate().getType()).getRank() == 4;
    }
    /// The scale applied to phi(q): the attribute, or K^-1/2 (dynamic K:
    /// std::nullopt).
    std::optional<double> getEffectiveScale();
  }];
}

//===----------------------------------------------------------------------===//
// delta_rule
//===----------------------------------------------------------------------===//

def SSM_DeltaRuleOp : SSM_Op<"delta_rule",
    [Pure, AttrSizedOperandSegments,
     DeclareOpInterfaceMethods<SSM_SequenceOpInterface>]> {
  let summary = "Delta-rule family: DeltaNet, Gated DeltaNet, KDA, RWKV-7 (DPLR)";
  let description = [{
    The diagonal-plus-low-rank (DPLR) state updates of the delta-rule family,
    with the layout of flash-linear-attention (fla): sequence-first
    `[B, T, H, K]`, not head-first. For batch (or packed sequence) `b`,
    value head `h` (reading query/key head `h / (H / Hk)`) and step `t`, the
    state `S` is `K x V` (fla's layout; f32, or f64 for f64 programs) and

    ```
    q~_t = s * n(q_t),  k~_t = n(k_t)     n = l2 normalisation with
                                          `use_qk_l2norm`, else identity
    Delta forms (operand `beta`):
      D_t  = diag(exp(gate_t))            (gate [B,T,H]: scalar per head and
                                           step; [B,T,H,K]: per key (KDA);
                                           absent: D_t = I)
      S'   = D_t S_{t-1}                  (decay first, as fla's naive
                                           references do)
      u_t  = beta_t (v_t - S'^T k~_t)
      S_t  = S' + k~_t u_t^T   = (I - beta_t k~ k~^T) D_t S_{t-1} + beta_t k~ v^T
    DPLR form (operands `a`, `b`; RWKV-7, fla's generalized delta rule):
      S_t  = diag(exp(gate_t)) S_{t-1} + b_t (a_t^T S_{t-1}) + k~_t v_t^T
    o_t = S_t^T q~_t
    ```

    Forms, as fla names them: DeltaNet (`beta`, no gate:
    `chunk_delta_rule`), Gated DeltaNet (`beta`, gate [B, T, H]:
    `chunk_gated_delta_rule`, `fused_recurrent_gated_delta_rule`), Kimi
    Delta Attention (`beta`, gate [B, T, H, K]: `chunk_kda`), RWKV-7 (`a`,
    `b`, gate [B, T, H, K]: `chunk_dplr_delta_rule` with `gk = gate`, and
    `fused_recurrent_rwkv7` with `gate = w`, fla's log decay; RWKV-7
    models use `scale = 1.0`). Written with the
    transposed state `S^T` (`V x K`), the delta forms are `S_t = S_{t-1}
    (I - beta k k^T) + beta v k^T` and DeltaNet is the DPLR form with `w =
    1`, `a = -beta k`, `b = k` and the value `beta v`.

    `gate` holds log decays (fla's `g` / `gk`). `scale` `s` defaults to
    `K^-1/2`. `use_qk_l2norm` normalises q and k as fla's
    `use_qk_l2norm_in_kernel`: `x / sqrt(sum x^2 + 1e-6)`. Grouped heads
    (fla's GVA, Qwen3-Next): q and k have `Hk` heads, dividing the `H` heads
    of v, beta, gate, a, b and the state; value head `h` reads query/key
    head `h / (H / Hk)`.

    `S_0 = h0` (zero when absent); the optional result `final_state` is
    `S_T`. With `cu_seqlens` ([S + 1] offsets, i32 or i64; B must be 1) the
    batch packs S sequences along T: the state restarts from `h0[i]` (or
    zero) at each boundary, and h0 and final_state are [S, H, K, V].

    `chunk_size` selects the algorithm, not the result: 0 runs the
    recurrent form (one state update per step); C > 0 asks for the chunked
    (WY / UT transform) form over chunks of C steps where the lowering has
    it (CPU: chunks of min(C, 32); GPU: a power of two <= min(C, 16) whose
    shared arrays fit the budget); absent, the lowering chooses from T (the
    chunked form for a static T >= 64 or a dynamic T, on CPU and GPU).
    Every form, the DPLR form (RWKV-7) included, has both forms on the CPU
    and on the GPU.

    | operand | shape |
    | --- | --- |
    | q, k | [B, T, Hk, K], Hk divides H |
    | v, result out | [B, T, H, V] |
    | beta | [B, T, H] |
    | gate | [B, T, H] (delta forms only) or [B, T, H, K] |
    | a, b | [B, T, H, K] |
    | h0, result final_state | [B, H, K, V], or [S, H, K, V] with cu_seqlens |
    | cu_seqlens | [S + 1], i32 or i64 |

    Exactly one of `beta` (delta forms) and the pair `a`, `b` (DPLR form) is
    given. q, k, v and out share T in {f16, bf16, f32, f64}; beta, gate, a
    and b are each T or the accumulator type; h0 and final_state have the
    accumulator type.

    ```mlir
    %o, %S = ssm.delta_rule %q, %k, %v beta(%beta) gate(%g) use_qk_l2norm
        : (tensor<1x64x2x32xbf16>, tensor<1x64x2x32xbf16>, tensor<1x64x4x32xbf16>,
           tensor<1x64x4xbf16>, tensor<1x64x4xf32>)
        -> (tensor<1x64x4x32xbf16>, tensor<1x4x32x32xf32>)
    ```
  }];
  let arguments = (ins
    SSM_FloatTensor:$q, SSM_FloatTensor:$k, SSM_FloatTensor:$v,
    Optional<SSM_FloatTensor>:$beta, Optional<SSM_FloatTensor>:$gate,
    Optional<SSM_FloatTensor>:$a, Optional<SSM_FloatTensor>:$b,
    Optional<SSM_FloatTensor>:$h0,
    Optional<RankedTensorOf<[I32, I64]>>:$cu_seqlens,
    OptionalAttr<F64Attr>:$scale, UnitAttr:$use_qk_l2norm,
    OptionalAttr<I64Attr>:$chunk_size);
  let results = (outs SSM_FloatTensor:$out,
                      Optional<SSM_FloatTensor>:$final_state);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`beta` `(` $beta^ `)`)? (`gate` `(` $gate^ `)`)?
    (`a` `(` $a^ `)`)? (`b` `(` $b^ `)`)? (`h0` `(` $h0^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)? (`use_qk_l2norm` $use_qk_l2norm^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasCanonicalizer = 1;

  let extraClassDeclaration = [{
    /// True for the DPLR form (operands a and b instead of beta).
    bool isDPLR() { return getA() != nullptr; }
    /// True when the gate has one value per key dimension ([B, T, H, K]).
    bool hasKeyGate() {
      return getGate() && ::llvm::cast<::mlir::ShapedType>(
                              getGate().getType()).getRank() == 4;
    }
  }];
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

def SSM_AttentionOp : SSM_Op<"attention",
    [Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<SSM_SequenceOpInterface>]> {
  let summary = "Softmax attention: causal or not, local windows, softcap, ALiBi, sinks, packed sequences, grouped KV heads";
  let description = [{
    Scaled dot-product attention with FlashAttention's layout, masking and
    score conventions (flash_attn_func / flash_attn_varlen_func). For batch
    `b`, query head `h` (using key/value head `h / (H / Hkv)`), query `i`
    and key `j`, with `pos = i + Lk - Lq` the query's key position
    (FlashAttention's bottom-right alignment):

    ```
    s_ij = scale * q_i . k_j
    s_ij = softcap * tanh(s_ij / softcap)             with softcap > 0
    s_ij = s_ij - slope_h * |pos - j|                 with alibi_slopes
    o_i  = sum_j exp(s_ij) v_j / (sum_j exp(s_ij) + exp(sink_h))
                                    over the keys j that i may see
    ```

    (the `exp(sink_h)` term only with `sinks`). Key j is visible to query i
    iff `pos - left <= j <= pos + right`, where `left`/`right` are
    `window_left`/`window_right` (absent: unbounded) and `causal` sets
    right = 0. The legacy spelling `window = w` (with `causal`) is
    `window_left = w - 1`. A query that sees no key gets a zero output.
    `scale` defaults to `d^-1/2`.

    | operand | shape |
    | --- | --- |
    | q | [B, H, Lq, d] |
    | k | [B, Hkv, Lk, d] |
    | v | [B, Hkv, Lk, dv] |
    | alibi_slopes | [H] or [B, H], f32 (f64 in f64 programs) |
    | sinks | [H], f32 (f64 in f64 programs) |
    | cu_seqlens_q, cu_seqlens_k | [S + 1], i32 or i64 (B = 1) |
    | seqused_k | [B] (or [S] with cu_seqlens_k), i32 or i64 |
    | result o | [B, H, Lq, dv] |

    With `cu_seqlens_q` and `cu_seqlens_k` (both or neither) the batch
    (B = 1) packs S sequences along the length dimension: sequence s has
    queries `[cu_seqlens_q[s], cu_seqlens_q[s+1])` and keys
    `[cu_seqlens_k[s], cu_seqlens_k[s+1])`, attends only within itself,
    and `pos`, causal, windows and ALiBi use its own lengths. With
    `seqused_k` only the first `seqused_k[b]` keys of batch entry (or
    sequence) b exist (flash_attn_with_kvcache's `cache_seqlens`): Lk is
    that count for the alignment and the mask.

    Hkv must divide H (grouped-query attention; Hkv = H is multi-head,
    Hkv = 1 multi-query). q, k, v and o share T in {f16, bf16, f32, f64};
    scores and the softmax accumulate in f32 (f64 for f64 programs).

    ```mlir
    %o = ssm.attention %q, %k, %v causal {window = 256 : i64}
        : (tensor<1x8x512x64xbf16>, tensor<1x2x512x64xbf16>, tensor<1x2x512x64xbf16>)
        -> tensor<1x8x512x64xbf16>
    ```
  }];
  let arguments = (ins
    SSM_FloatTensor:$q,
    SSM_FloatTensor:$k,
    SSM_FloatTensor:$v,
    Optional<SSM_FloatTensor>:$alibi_slopes,
    Optional<SSM_FloatTensor>:$sinks,
    Optional<RankedTensorOf<[I32, I64]>>:$cu_seqlens_q,
    Optional<RankedTensorOf<[I32, I64]>>:$cu_seqlens_k,
    Optional<RankedTensorOf<[I32, I64]>>:$seqused_k,
    UnitAttr:$causal,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$window,
    OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$window_left,
    OptionalAttr<ConfinedAttr<I64Attr, [IntNonNegative]>>:$window_right,
    OptionalAttr<F64Attr>:$softcap,
    OptionalAttr<F64Attr>:$scale
  );
  let results = (outs SSM_FloatTensor:$out);
  let assemblyFormat = [{
    $q `,` $k `,` $v (`causal` $causal^)?
    (`alibi_slopes` `(` $alibi_slopes^ `)`)? (`sinks` `(` $sinks^ `)`)?
    (`cu_seqlens_q` `(` $cu_seqlens_q^ `)`)? (`cu_seqlens_k` `(` $cu_seqlens_k^ `)`)?
    (`seqused_k` `(` $seqused_k^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Keys visible left of the query's position (std::nullopt: all):
    /// `window_left`, or `window - 1`.
    std::optional<int64_t> getLeftWindow() {
      if (auto w = getWindow())
        return static_cast<int64_t>(*w) - 1;
      if (auto l = getWindowLeft())
        return static_cast<int64_t>(*l);
      return std::nullopt;
    }
    /// Keys visible right of the query's position (std::nullopt: all):
    /// 0 with `causal`, else `window_right`.
    std::optional<int64_t> getRightWindow() {
      if (getCausal())
        return 0;
      if (auto r = getWindowRight())
        return static_cast<int64_t>(*r);
      return std::nullopt;
    }
    /// Whether the sequences are packed (cu_seqlens_q/k).
    bool isPacked() { return static_cast<bool>(getCuSeqlensQ()); }
  }];
}

//===----------------------------------------------------------------------===//
// causal_conv1d
//===----------------------------------------------------------------------===//

def SSM_CausalConv1dOp : SSM_Op<"causal_conv1d",
    [Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<SSM_SequenceOpInterface>]> {
  let summary = "Mamba's depthwise causal 1-D convolution";
  let description = [{
    The short convolution in front of Mamba's scan, with the layout of
    `causal_conv1d_fn`: x and out [B, D, L], weight [D, W], bias [D],
    initial_state and final_state [B, D, W - 1].

    ```
    xx[t] = x[b,d,t] for t >= 0; initial_state[b,d,W-1+t] for t < 0 (zero without)
    out[b,d,t] = act(bias[d] + sum_{i<W} weight[d,i] * xx[t - W + 1 + i])
    final_state[b,d,j] = xx[L - W + 1 + j]          (the last W - 1 inputs)
    ```

    `act` is SiLU with `silu`, identity otherwise. The final state lets a
    decoder continue the convolution token by token (`ssm.causal_conv1d_step`).

    With `cu_seqlens` ([S + 1] offsets, i32 or i64) the batch (B = 1) packs S
    sequences along L, as `ssm.selective_scan` and `ssm.ssd` take them: no
    tap reaches across a sequence boundary (inputs before a sequence's first
    step come from its own initial_state[i], or are zero), and
    initial_state and final_state are [S, D, W - 1]; the offsets must start
    at 0, never decrease and end at L (checked at run time). The same
    offsets then drive the scan after the convolution.

    Element types: x and out share T in {f16, bf16, f32, f64}; weight and
    bias are each T or the accumulator type (f32 weights next to bf16
    inputs, as causal-conv1d allows); initial_state and final_state have
    type T. Sums accumulate in f32 (f64 for f64 programs).
  }];
  let arguments = (ins
    SSM_FloatTensor:$x, SSM_FloatTensor:$weight,
    Optional<SSM_FloatTensor>:$bias, Optional<SSM_FloatTensor>:$initial_state,
    Optional<RankedTensorOf<[I32, I64]>>:$cu_seqlens,
    UnitAttr:$silu);
  let results = (outs SSM_FloatTensor:$out, Optional<SSM_FloatTensor>:$final_state);
  let assemblyFormat = [{
    $x `,` $weight (`bias` `(` $bias^ `)`)? (`initial_state` `(` $initial_state^ `)`)?
    (`cu_seqlens` `(` $cu_seqlens^ `)`)?
    (`silu` $silu^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Decode steps
//===----------------------------------------------------------------------===//

def SSM_CausalConv1dStepOp : SSM_Op<"causal_conv1d_step",
    [Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<SSM_SequenceOpInterface, ["isDecodeStep"]>]> {
  let summary = "One decode step of the causal conv (causal_conv1d_update)";
  let description = [{
    `ssm.causal_conv1d` for a single token, with the layout and formula of
    causal-conv1d's `causal_conv1d_update`: x and out [B, D]; weight [D, W];
    bias [D]; `state` and `new_state` [P, D, S] hold the last inputs of
    each sequence, S >= W - 1 (P = B unless `conv_state_indices` is given).
    For batch entry b and channel d, with s = state[slot(b), d]:

    ```
    window[j] = s[S - (W - 1) + j]            j < W - 1   (no cache_seqlens)
    window[j] = s[(c - (W - 1) + j) mod S]    j < W - 1   (c = cache_seqlens[b])
    window[W - 1] = x[b, d]
    out[b, d] = act(bias[d] + sum_{i<W} weight[d, i] * window[i])
    new s     = s shifted left by one with x[b, d] appended  (no cache_seqlens)
    new s[c mod S] = x[b, d]                                 (cache_seqlens)
    ```

    Without `cache_seqlens` the state is a shift register: with S = W - 1 it
    is exactly `ssm.causal_conv1d`'s final_state, so decoding continues a
    prefill. With `cache_seqlens` ([B], i32 or i64, the tokens each
    sequence has seen, >= 0) it is a ring buffer of S entries; the step
    does not advance cache_seqlens. With `conv_state_indices` ([B], i32 or
    i64) `state` is a pool of P slots and batch entry b works on slot
    conv_state_indices[b] (< P, checked at run time); a negative index is
    padding: that entry's output is 0 and no slot changes. Slots not named
    keep their values. Batch entries are applied in order (a slot named
    twice sees the first entry's update). `act` is SiLU with `silu`.

    Element types: x and out share T; weight and bias are T or the
    accumulator type; state and new_state share T or the accumulator type.
  }];
  let arguments = (ins
    SSM_FloatTensor:$x, SSM_FloatTensor:$state, SSM_FloatTensor:$weight,
    Optional<SSM_FloatTensor>:$bias,
    Optional<RankedTensorOf<[I32, I64]>>:$cache_seqlens,
    Optional<RankedTensorOf<[I32, I64]>>:$conv_state_indices,
    UnitAttr:$silu);
  let results = (outs SSM_FloatTensor:$out, SSM_FloatTensor:$new_state);
  let assemblyFormat = [{
    $x `,` $state `,` $weight (`bias` `(` $bias^ `)`)?
    (`cache_seqlens` `(` $cache_seqlens^ `)`)?
    (`conv_state_indices` `(` $conv_state_indices^ `)`)?
    (`silu` $silu^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SSM_SelectiveScanStepOp : SSM_Op<"selective_scan_step",
    [Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<SSM_SequenceOpInterface, ["isDecodeStep"]>]> {
  let summary = "One decode step of the Mamba-1 selective scan";
  let description = [{
    `ssm.selective_scan` for a single token with the state passed in and out
    (constant memory per token): u, delta, z and out are [B, Dm]; B and C are
    [B, N] or [B, G, N] (a B or C fixed over time, [Dm, N] on
    `ssm.selective_scan`, is the grouped form with G = Dm broadcast over the
    batch: the step reads Dm * N values, as many as its state; mamba_ssm's
    `selective_state_update` has no fixed form); A [Dm, N]; D and
    delta_bias [Dm]; `state` and
    `new_state` [B, Dm, N] in the accumulator type. Same formula as
    `ssm.selective_scan` with L = 1 and h0 = state; `ssm-decompose-steps`
    rewrites it into exactly that.

    With `state_batch_indices` ([B], i32 or i64; mamba_ssm
    `selective_state_update`'s argument) `state` and `new_state` are a pool
    [P, Dm, N] and batch entry b reads and updates slot
    state_batch_indices[b] (< P, checked at run time); a negative index is
    padding (vLLM's pad slot): that entry's output is 0 and no slot changes.
    Slots not named keep their values; a slot named twice takes the last
    entry's update. delta is T or the accumulator type (f32 step sizes next
    to bf16 activations).

    ```mlir
    %y, %h1 = ssm.selective_scan_step %u, %dt, %A, %B, %C, %h D(%D) delta_softplus
        : (tensor<1x64xf32>, tensor<1x64xf32>, tensor<64x16xf32>, tensor<1x16xf32>,
           tensor<1x16xf32>, tensor<1x64x16xf32>, tensor<64xf32>)
        -> (tensor<1x64xf32>, tensor<1x64x16xf32>)
    ```
  }];
  let arguments = (ins
    SSM_FloatTensor:$u, SSM_FloatTensor:$delta, SSM_FloatTensor:$A,
    SSM_FloatTensor:$B, SSM_FloatTensor:$C, SSM_FloatTensor:$state,
    Optional<SSM_FloatTensor>:$D, Optional<SSM_FloatTensor>:$z,
    Optional<SSM_FloatTensor>:$delta_bias,
    Optional<RankedTensorOf<[I32, I64]>>:$state_batch_indices,
    UnitAttr:$delta_softplus);
  let results = (outs SSM_FloatTensor:$out, SSM_FloatTensor:$new_state);
  let assemblyFormat = [{
    $u `,` $delta `,` $A `,` $B `,` $C `,` $state
    (`D` `(` $D^ `)`)? (`z` `(` $z^ `)`)? (`delta_bias` `(` $delta_bias^ `)`)?
    (`state_batch_indices` `(` $state_batch_indices^ `)`)?
    (`delta_softplus` $delta_softplus^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SSM_SSDStepOp : SSM_Op<"ssd_step",
    [Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<SSM_SequenceOpInterface, ["isDecodeStep"]>]> {
  let summary = "One decode step of Mamba-2 SSD";
  let description = [{
    `ssm.ssd` for a single token: x, z and out [B, H, P]; dt [B, H]; A,
    dt_bias [H]; D [H] or [H, P]; B, C [B, G, N]; `state` and `new_state`
    [B, H, P, N] in the accumulator type; `dt_limit` and the element types
    as for `ssm.ssd`. Equal to `ssm.ssd` with L = 1 and h0 = state, which
    `ssm-decompose-steps` rewrites it into. `state_batch_indices` selects
    slots of a state pool [Ps, H, P, N] as for `ssm.selective_scan_step`.
  }];
  let arguments = (ins
    SSM_FloatTensor:$x, SSM_FloatTensor:$dt, SSM_FloatTensor:$A,
    SSM_FloatTensor:$B, SSM_FloatTensor:$C, SSM_FloatTensor:$state,
    Optional<SSM_FloatTensor>:$D, Optional<SSM_FloatTensor>:$z,
    Optional<SSM_FloatTensor>:$dt_bias,
    Optional<RankedTensorOf<[I32, I64]>>:$state_batch_indices,
    UnitAttr:$dt_softplus, OptionalAttr<DenseF64ArrayAttr>:$dt_limit);
  let results = (outs SSM_FloatTensor:$out, SSM_FloatTensor:$new_state);
  let assemblyFormat = [{
    $x `,` $dt `,` $A `,` $B `,` $C `,` $state
    (`D` `(` $D^ `)`)? (`z` `(` $z^ `)`)? (`dt_bias` `(` $dt_bias^ `)`)?
    (`state_batch_indices` `(` $state_batch_indices^ `)`)?
    (`dt_softplus` $dt_softplus^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SSM_LinearAttentionStepOp : SSM_Op<"linear_attention_step",
    [Pure, AttrSizedOperandSegments,
     DeclareOpInterfaceMethods<SSM_SequenceOpInterface, ["isDecodeStep"]>]> {
  let summary = "One decode step of linear attention";
  let description = [{
    `ssm.linear_attention` for a single token: q, k [B, H, K], v and out
    [B, H, V], gate (log decays) [B, H] or [B, H, K], `state` and
    `new_state` [B, H, K, V] in the accumulator type; `feature_map` and
    `scale` as for `ssm.linear_attention`. With `normalize` the normaliser's
    state travels with it: the operand `z` and the result `new_z` ([B, H, K],
    accumulator type) are present exactly when `normalize` is, and the
    output is divided by `q~ . new_z + eps` (`eps` default 1e-10). Equal to
    `ssm.linear_attention` with L = 1, h0 = state and z0 = z, which
    `ssm-decompose-steps` rewrites it into.
  }];
  let arguments = (ins
    SSM_FloatTensor:$q, SSM_FloatTensor:$k, SSM_FloatTensor:$v,
    SSM_FloatTensor:$state, Optional<SSM_FloatTensor>:$gate,
    Optional<SSM_FloatTensor>:$z,
    DefaultValuedAttr<SSM_FeatureMapAttr, "::mlir::ssm::FeatureMap::identity">:$feature_map,
    OptionalAttr<F64Attr>:$scale, UnitAttr:$normalize,
    DefaultValuedAttr<F64Attr, "1e-10">:$eps);
  let results = (outs SSM_FloatTensor:$out, SSM_FloatTensor:$new_state,
                      Optional<SSM_FloatTensor>:$new_z);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $state (`gate` `(` $gate^ `)`)? (`z` `(` $z^ `)`)?
    (`normalize` $normalize^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SSM_DeltaRuleStepOp : SSM_Op<"delta_rule_step",
    [Pure, AttrSizedOperandSegments,
     DeclareOpInterfaceMethods<SSM_SequenceOpInterface, ["isDecodeStep"]>]> {
  let summary = "One decode step of the delta-rule family";
  let description = [{
    `ssm.delta_rule` for a single token: q, k [B, Hk, K]; v and out [B, H,
    V]; beta [B, H]; gate [B, H] or [B, H, K]; a, b [B, H, K]; `state` and
    `new_state` [B, H, K, V] in the accumulator type (fla's layout, so an
    fla final state continues here). Forms, `scale` and `use_qk_l2norm` as
    for `ssm.delta_rule`; equal to `ssm.delta_rule` with T = 1 and h0 =
    state, which `ssm-decompose-steps` rewrites it into.
    `state_batch_indices` ([B], i32 or i64) selects slots of a state pool
    [P, H, K, V] as for `ssm.selective_scan_step` (negative: padding, zero
    output, no slot written).
  }];
  let arguments = (ins
    SSM_FloatTensor:$q, SSM_FloatTensor:$k, SSM_FloatTensor:$v,
    SSM_FloatTensor:$state,
    Optional<SSM_FloatTensor>:$beta, Optional<SSM_FloatTensor>:$gate,
    Optional<SSM_FloatTensor>:$a, Optional<SSM_FloatTensor>:$b,
    Optional<RankedTensorOf<[I32, I64]>>:$state_batch_indices,
    OptionalAttr<F64Attr>:$scale, UnitAttr:$use_qk_l2norm);
  let results = (outs SSM_FloatTensor:$out, SSM_FloatTensor:$new_state);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $state (`beta` `(` $beta^ `)`)?
    (`gate` `(` $gate^ `)`)? (`a` `(` $a^ `)`)? (`b` `(` $b^ `)`)?
    (`state_batch_indices` `(` $state_batch_indices^ `)`)?
    (`use_qk_l2norm` $use_qk_l2norm^)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def SSM_AttentionStepOp : SSM_Op<"attention_step",
    [Pure, AttrSizedOperandSegments, DeclareOpInterfaceMethods<SSM_SequenceOpInterface, ["isDecodeStep"]>]> {
  let summary = "One decode step of softmax attention with a KV cache";
  let description = [{
    Appends this token's key and value to a KV cache and attends to the
    cache. `position` is the number of tokens already cached: the new k/v
    are written at slot `position` of `k_cache` [B, Hkv, C, d] and `v_cache`
    [B, Hkv, C, dv] (returned updated), and the query q [B, H, d] attends
    to slots [0, position] -- or, with `window = w`, to the w most recent
    (slots (position - w, position]). Requires position < C (checked at
    run time). out is [B, H, dv]; `scale` defaults to d^-1/2. Equal to
    inserting the slices and running `ssm.attention` on the visible slots,
    which `ssm-decompose-steps` rewrites it into.

    With `ring` the cache is a ring of its C slots: the new k/v go to slot
    `position mod C` and the query attends to the min(position + 1, C)
    filled slots, i.e. sliding-window attention over the C most recent
    tokens whose memory does not grow with the sequence (softmax attention
    does not depend on the order of the slots). `window` must then be
    absent: the window is C.

    With `positions` ([B], i32 or i64; flash_attn_with_kvcache's
    `cache_seqlens`) instead of `position`, every batch entry has its own
    position (continuous batching): entry b writes slot `positions[b]` and
    attends to its own visible slots. `softcap`, `alibi_slopes` ([H] or
    [B, H]; bias -slope * (position - slot)) and `sinks` ([H]) are as for
    `ssm.attention`; ALiBi needs a cache that is not a `ring` (a ring
    forgets which slot is how far back).
  }];
  let arguments = (ins
    SSM_FloatTensor:$q, SSM_FloatTensor:$k, SSM_FloatTensor:$v,
    SSM_FloatTensor:$k_cache, SSM_FloatTensor:$v_cache, Optional<Index>:$position,
    Optional<RankedTensorOf<[I32, I64]>>:$positions,
    Optional<SSM_FloatTensor>:$alibi_slopes,
    Optional<SSM_FloatTensor>:$sinks,
    OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:$window,
    OptionalAttr<F64Attr>:$softcap,
    OptionalAttr<F64Attr>:$scale, UnitAttr:$ring);
  let results = (outs SSM_FloatTensor:$out, SSM_FloatTensor:$new_k_cache,
                      SSM_FloatTensor:$new_v_cache);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $k_cache `,` $v_cache (`,` $position^)?
    (`positions` `(` $positions^ `)`)?
    (`alibi_slopes` `(` $alibi_slopes^ `)`)? (`sinks` `(` $sinks^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// scan
//===----------------------------------------------------------------------===//

def SSM_ScanOp : SSM_Op<"scan",
    [RecursiveMemoryEffects, AttrSizedOperandSegments,
     SingleBlock]> {
  let summary = "Generic associative scan with a combiner region";
  let description = [{
    Scans one or more tensors of the same shape together along dimension
    `axis`. The combiner region takes the running accumulators (one scalar per
    input, in scan order the earlier part) followed by the next elements (one
    scalar per input) and yields the new accumulators. The combiner must be
    associative; lowerings may reassociate it (chunked or tree scans), but
    never reorder its operands.

    With `n` inputs, scan order `t = 0 .. L-1` along `axis` (`L-1 .. 0` when
    `reverse` is set), `x_t` the tuple of input elements at step `t` and `⊕`
    the combiner:

    ```
    inclusive:           out_t = init ⊕ x_0 ⊕ ... ⊕ x_t   (init omitted when absent)
    exclusive:           out_t = init ⊕ x_0 ⊕ ... ⊕ x_{t-1},  out_0 = init
    ```

    `exclusive` requires `init`. Every other dimension is an independent lane.
    Results have the types of the inputs.

    A first-order linear recurrence `h_t = a_t * h_{t-1} + b_t` is the scan
    of the pairs `(a_t, b_t)` with the combiner
    `(a1, b1) ⊕ (a2, b2) = (a1 * a2, a2 * b1 + b2)`:

    ```mlir
    %prod, %h = ssm.scan %a, %b axis = 1
        : (tensor<4x128xf32>, tensor<4x128xf32>) -> (tensor<4x128xf32>, tensor<4x128xf32>) {
    ^bb0(%a1: f32, %b1: f32, %a2: f32, %b2: f32):
      %p = arith.mulf %a1, %a2 : f32
      %m = arith.mulf %a2, %b1 : f32
      %s = arith.addf %m, %b2 : f32
      ssm.yield %p, %s : f32, f32
    }
    ```
  }];

  let arguments = (ins
    Variadic<SSM_ScanTensor>:$inputs,
    Variadic<SSM_ScanElement>:$init,
    ConfinedAttr<I64Attr, [IntNonNegative]>:$axis,
    UnitAttr:$reverse,
    UnitAttr:$exclusive
  );
  let results = (outs Variadic<SSM_ScanTensor>:$results);
  let regions = (region SizedRegion<1>:$combiner);

  let assemblyFormat = [{
    $inputs (`init` `(` $init^ `:` type($init) `)`)?
    `axis` `=` $axis
    (`reverse` $reverse^)?
    (`exclusive` $exclusive^)?
    attr-dict `:` functional-type($inputs, $results) $combiner
  }];

  let hasVerifier = 1;
  let hasRegionVerifier = 1;
  let hasCanonicalizer = 1;
}

//===----------------------------------------------------------------------===//
// dp
//===----------------------------------------------------------------------===//

def SSM_DPOp : SSM_Op<"dp",
    [RecursiveMemoryEffects, AttrSizedOperandSegments]> {
  let summary = "DP recurrence over a 1-D or 2-D index space";
  let description = [{
    Computes a table `dp` over the index space `[T]` or `[T1, T2]` (the
    `sizes` operands) in row-major order, one cell from cells computed
    before it. Dependencies are declared statically, in one of two forms.

    **Local form** (`deps`): a list of constant offsets, each
    lexicographically negative (it names a cell computed earlier in
    row-major order), e.g. `[[-1, 0], [0, -1], [-1, -1]]` for edit distance
    or `[[-1], [-2], ..., [-m]]` for an m-local 1-D DP. The `cell` region
    receives the cell's indices, the value of every dependency (in `deps`
    order) and the cell's inputs, and yields the cell:

    ```
    cell(i..., dp[i + d_1], ..., dp[i + d_k], in_1[idx_1], ...) -> dp[i]
    (idx_k: the index along input_dims[k])
    ```

    In a 2-D DP the cell region may also read any column of an earlier row
    with `ssm.dp_fetch %col row = -r` (e.g. 0/1 knapsack's
    `dp[i-1][c - w_i]`); the column is computed, the row offset is constant.

    **Prefix form** (the `aggregate` regions, 1-D only): cell `i` depends on
    every earlier cell `j < i` for which the `where` region (inputs at `j`
    then inputs at `i`, yielding i1) holds, folded left to right with the
    `aggregate` region `(acc, dp[j]) -> acc` starting from the boundary
    value of cell -1. The cell region receives `(i, acc, inputs at i)`. LIS
    is `dp_i = 1 + max{dp_j : j < i, a_j < a_i}`.

    Cells outside the index space (negative indices reached by a dependency
    or a fetch, or a fetched column past the end) take the value the
    `boundary` region yields for their indices, e.g. `2 * (j + 1)` for the
    row above an edit-distance table.

    Inputs are 1-D tensors; input `k` is indexed by index dimension
    `input_dims[k]` (default 0), so `x[i]` and `y[j]` for edit distance are
    `input_dims = array<i64: 0, 1>`. Cells are signless integers, index or
    floats; the regions' argument and yield types must match.

    `output` selects the result: `"table"` (the whole table, `[T]` or
    `[T1, T2]`), `"last_row"` (2-D: the last row, `[T2]`) or `"last"` (the
    last cell, rank 0; the boundary value of that cell when the index space
    is empty). With `"last"` or `"last_row"` the lowering keeps only the
    cells the dependencies can still reach (a rolling buffer of m cells or
    rows), so memory is O(m), not O(T). The `--ssm-report` analysis gives
    the dependency window m, the state a chain-of-thought model needs, the
    total work and the wavefront width.

    ```mlir
    // dp_i = (dp_{i-1} + dp_{i-2} + s_i) mod 7, dp_{-1} = dp_{-2} = 0
    %last = ssm.dp [%T] inputs(%s : tensor<?xi64>)
        {deps = [array<i64: -1>, array<i64: -2>], output = #ssm.dp_output<last>} : tensor<i64>
      cell {
      ^bb0(%i: index, %d1: i64, %d2: i64, %si: i64):
        %a = arith.addi %d1, %d2 : i64
        %b = arith.addi %a, %si : i64
        %r = arith.remui %b, %c7 : i64
        ssm.yield %r : i64
      } boundary {
      ^bb0(%i: index):
        ssm.yield %c0 : i64
      }
    ```
  }];

  let arguments = (ins
    Variadic<Index>:$sizes,
    Variadic<SSM_ScanTensor>:$inputs,
    OptionalAttr<DenseI64ArrayAttr>:$input_dims,
    OptionalAttr<TypedArrayAttrBase<DenseI64ArrayAttr, "dependency offsets">>:$deps,
    DefaultValuedAttr<SSM_DPOutputAttr, "::mlir::ssm::DPOutput::table">:$output
  );
  let results = (outs SSM_ScanTensor:$result);
  let regions = (region SizedRegion<1>:$cell, SizedRegion<1>:$boundary,
                        AnyRegion:$aggregate, AnyRegion:$where);

  let assemblyFormat = [{
    ` ` `[` $sizes `]` (`inputs` `(` $inputs^ `:` type($inputs) `)`)?
    attr-dict `:` type($result)
    `cell` $cell `boundary` $boundary
    (`aggregate` $aggregate^ `where` $where)?
  }];

  let extraClassDeclaration = [{
    /// Rank of the index space (1 or 2).
    int64_t getIndexRank() { return getSizes().size(); }
    /// Element type of the table.
    ::mlir::Type getCellType() {
      return ::mlir::getElementTypeOrSelf(getResult().getType());
    }
    /// True for the prefix-aggregation form.
    bool isPrefix() { return !getAggregate().empty(); }
    /// The constant dependency offsets, one array of getIndexRank() each.
    ::llvm::SmallVector<::llvm::SmallVector<int64_t, 2>> getDepOffsets();
    /// Row offsets (negative) of every ssm.dp_fetch in the cell region.
    ::llvm::SmallVector<int64_t> getFetchRows();
  }];

  let hasVerifier = 1;
  let hasRegionVerifier = 1;
}

def SSM_DPFetchOp : SSM_Op<"dp_fetch", [MemoryEffects<[MemRead]>]> {
  let summary = "Reads any column of an earlier row of the enclosing 2-D ssm.dp";
  let description = [{
    Inside the cell region of a 2-D `ssm.dp` computing cell `(i, j)`,
    returns `dp[i + row][col]`, where `row` is a negative constant and `col`
    is computed; cells outside the table take the boundary value. A fetch
    makes the dependency window `-row` whole rows.

    ```mlir
    %v = ssm.dp_fetch %col row = -1 : i64
    ```
  }];
  let arguments = (ins Index:$col, I64Attr:$row);
  let results = (outs SSM_ScanElement:$value);
  let assemblyFormat = [{ $col `row` `=` $row attr-dict `:` type($value) }];
  let hasVerifier = 1;
}

def SSM_YieldOp : SSM_Op<"yield",
    [Pure, Terminator, ParentOneOf<["ScanOp", "DPOp"]>]> {
  let summary = "Yields the values a region of ssm.scan or ssm.dp computes";
  let description = [{
    Terminates the region of `ssm.scan`, returning one value per scanned
    input (the combined accumulators), and each region of `ssm.dp` (the
    cell, the boundary value, the aggregate or the `where` predicate).
  }];
  let arguments = (ins Variadic<AnyType>:$values);
  let assemblyFormat = [{ ($values^ `:` type($values))? attr-dict }];
}

#endif // SSM_OPS_TD
