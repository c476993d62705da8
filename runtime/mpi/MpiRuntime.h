//===- MpiRuntime.h - what sharded programs call ----------------*- C++ -*-===//
//
// Programs rewritten by `ssm-shard-sequence` call these through their C
// interface (memref descriptors of rank 1, f32). Plain C++: no LLVM, no MLIR.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_RUNTIME_MPI_MPIRUNTIME_H
#define SSMC_RUNTIME_MPI_MPIRUNTIME_H

#include "runtime/abi/MemRef.h"

extern "C" {
/// This process's rank (0 without MPI).
int64_t ssmcMpiRank();
/// The number of ranks (1 without MPI).
int64_t ssmcMpiSize();
/// The state entering this rank's slice. Rank r > 0 ran its slice from a
/// zero state: its slice maps an initial state S to P * S + `state`, where
/// `decay` P is diagonal, element i scaling `n / size(decay)` consecutive
/// state elements (an empty P is the identity). Rank 0 ran its slice from
/// the program's initial state and gives its final state (its `decay` only
/// fixes the size all ranks send). `sin` = rank 0's final state carried
/// through the maps of ranks 1..r-1 (on rank 0: `state`). Every buffer is
/// contiguous f32, `state` and `sin` of the state's n elements. An MPI
/// failure stops every rank with a message (ssmc::dist::abortAll).
void _mlir_ciface_ssmcMpiCombineAffine(
    ssmc::abi::StridedMemRef<float, 1> *decay,
    ssmc::abi::StridedMemRef<float, 1> *state,
    ssmc::abi::StridedMemRef<float, 1> *sin);
/// ssmcMpiCombineAffine for a scan that runs right to left (reverse linear
/// attention): the ranks in reverse order, so the last rank gives its
/// final state and `sin` on rank r is it carried through the maps of ranks
/// R-2..r+1.
void _mlir_ciface_ssmcMpiCombineAffineReverse(
    ssmc::abi::StridedMemRef<float, 1> *decay,
    ssmc::abi::StridedMemRef<float, 1> *state,
    ssmc::abi::StridedMemRef<float, 1> *sin);
/// ssmcMpiCombineAffine for maps whose P is dense: `decay` holds G blocks
/// of k x k (row-major), block g multiplying the state's block g, k x V
/// row-major (n = G k V), from the left: S -> P S + `state`
/// (ssm.delta_rule's slice transition per batch and head). Rank 0's
/// `decay` only fixes the size all ranks send; the same combine forms
/// (SSMC_MPI_COMBINE) apply, each fold costing k^2 V per block.
void _mlir_ciface_ssmcMpiCombineMatrix(
    ssmc::abi::StridedMemRef<float, 1> *decay,
    ssmc::abi::StridedMemRef<float, 1> *state,
    ssmc::abi::StridedMemRef<float, 1> *sin, int64_t k);
/// The `halo` [B, D, H] of steps before this rank's slice `x` [B, D, L_r],
/// for a causal convolution of width H + 1: the last H steps of the
/// slices before it (several ranks' when they are short), then `init`
/// [B, D, H] (the program's initial state; empty: zero) where the sequence
/// starts within them. Rank 0's halo is `init`.
void _mlir_ciface_ssmcMpiHalo(ssmc::abi::StridedMemRef<float, 3> *x,
                              ssmc::abi::StridedMemRef<float, 3> *init,
                              ssmc::abi::StridedMemRef<float, 3> *halo);
/// Sums over the steps of a slice, for its decay product: x is [A0, A1, A2]
/// with the steps along `timeDim` (1 or 2), `out` x's shape without it,
/// out[i, j] = sum_t f(x[.., t, ..] + bias[j]) with f = softplus when
/// `softplus` is non-zero, the identity otherwise, then clamped to
/// [lo, hi]; an empty `bias` is zero. Contiguous f32 buffers.
void _mlir_ciface_ssmcMpiStepSums(ssmc::abi::StridedMemRef<float, 3> *x,
                                  ssmc::abi::StridedMemRef<float, 1> *bias,
                                  ssmc::abi::StridedMemRef<float, 2> *out,
                                  int64_t timeDim, int64_t softplus, float lo,
                                  float hi);
/// The running sums of ssmcMpiStepSums, for the output correction: `out`
/// has x's shape, out[.., t, ..] = the sum over the steps s <= t (s >= t
/// with `reverse` non-zero) of clamp(f(x[.., s, ..] + bias[j]), lo, hi),
/// accumulated in double. Contiguous f32 buffers.
void _mlir_ciface_ssmcMpiStepPrefixSums(
    ssmc::abi::StridedMemRef<float, 3> *x,
    ssmc::abi::StridedMemRef<float, 1> *bias,
    ssmc::abi::StridedMemRef<float, 3> *out, int64_t timeDim,
    int64_t softplus, float lo, float hi, int64_t reverse);
/// Softmax attention over the sequence split across the ranks (ring
/// attention): q [B, H, Lq_r, d], k [B, Hkv, Lk_r, d], v [B, Hkv, Lk_r, dv]
/// are this rank's slices (f32), `out` [B, H, Lq_r, dv] receives its rows.
/// The semantics are ssm.attention's over the whole sequence: key j is
/// visible to query i iff both lie in the same batch entry or packed
/// sequence and pos - windowLeft <= j <= pos + windowRight (-1:
/// unbounded; causal is windowRight = 0), pos = i's bottom-right aligned
/// key position. Scores: `scale` * q.k (NaN: d^-1/2), then
/// softcap * tanh(s / softcap) when `softcap` > 0, then - slope * |pos - j|
/// with `alibi` slopes ([H] or [B, H]; empty: none); `sinks` [H] (empty:
/// none) add exp(sink) to each row's denominator. Packed sequences:
/// `cuQ`, `cuK` [S + 1] (i64, the whole sequence's offsets, replicated;
/// empty: none, then B = 1); `used` holds seqused_k ([B], or [S] when
/// packed; empty: none).
/// The K/V slices travel along the ring r -> r + 1 (mod R), non-blocking,
/// while each rank folds the block it holds into its rows with the online
/// softmax; a block travels only as far as the last rank (counted along
/// the ring) whose rows see one of its keys, and a rank folds only the
/// blocks its rows see. Every rank derives these from the slice lengths
/// (one all-gather) and the replicated operands.
/// With `computeOut` zero the rank only relays (rank 0 of causal attention,
/// whose rows see its own keys only: it computes them in generated code;
/// then Lq must equal Lk).
void _mlir_ciface_ssmcMpiRingAttention(
    ssmc::abi::StridedMemRef<float, 4> *q, ssmc::abi::StridedMemRef<float, 4> *k,
    ssmc::abi::StridedMemRef<float, 4> *v, ssmc::abi::StridedMemRef<float, 1> *alibi,
    ssmc::abi::StridedMemRef<float, 1> *sinks,
    ssmc::abi::StridedMemRef<int64_t, 1> *cuQ,
    ssmc::abi::StridedMemRef<int64_t, 1> *cuK,
    ssmc::abi::StridedMemRef<int64_t, 1> *used,
    ssmc::abi::StridedMemRef<float, 4> *out, float scale, float softcap,
    int64_t windowLeft, int64_t windowRight, int64_t computeOut);
/// Which build of ssmcMpiRingAttention's fold runs: 0 portable (generic
/// x86-64), 1 AVX2 + FMA, 2 AVX-512. `want` >= 0 selects it (capped at
/// what this CPU runs); returns the one in use. The default is the best
/// the CPU runs, or SSMC_MPI_FOLD_ISA (portable, avx2, avx512).
int64_t ssmcMpiAttentionFoldIsa(int64_t want);
/// Packed sequences: the offsets `out` of this rank's slice (`localLen`
/// steps) from the whole sequence's `cu` [S + 1]: out[i] = cu[i] minus the
/// slice's first step, clamped to [0, localLen], so sequence i covers the
/// part of itself inside the slice (empty when it lies elsewhere). Checks
/// that cu starts at 0, never decreases and ends at the sequence's length
/// (the sum of the ranks' lengths), stopping every rank otherwise.
void _mlir_ciface_ssmcMpiLocalSeqlens(
    ssmc::abi::StridedMemRef<int64_t, 1> *cu, int64_t localLen,
    ssmc::abi::StridedMemRef<int64_t, 1> *out);
/// ssmcMpiStepSums per packed sequence: x [1, A1, A2] (batch 1), out
/// [S, cols], out[i, j] the sum over the steps [cu[i], cu[i+1]) of the
/// slice (cu: this slice's offsets, [S + 1]).
void _mlir_ciface_ssmcMpiSegmentSums(
    ssmc::abi::StridedMemRef<float, 3> *x,
    ssmc::abi::StridedMemRef<float, 1> *bias,
    ssmc::abi::StridedMemRef<float, 2> *out,
    ssmc::abi::StridedMemRef<int64_t, 1> *cu, int64_t timeDim,
    int64_t softplus, float lo, float hi);
/// The initial states [S, D, H] of a packed convolution of width H + 1 on
/// this rank's slice x [1, D, L_r], from the whole sequence's offsets `cu`
/// [S + 1] and the program's `init` [S, D, H] (empty: zero): for a sequence
/// that runs through the slice's first step, the H steps before it (from
/// the ranks before, `init` before the sequence's first step); for every
/// other sequence, its init row. A collective.
void _mlir_ciface_ssmcMpiPackedHalo(
    ssmc::abi::StridedMemRef<float, 3> *x,
    ssmc::abi::StridedMemRef<float, 3> *init,
    ssmc::abi::StridedMemRef<int64_t, 1> *cu,
    ssmc::abi::StridedMemRef<float, 3> *halo);
/// Per-sequence final states `out` [S * row] of a packed op: each
/// sequence's row from the rank holding its last step (an empty
/// sequence's: the rank holding its position), every rank's `finals` (same
/// layout) all-gathered; `localLen` is this rank's slice length. A
/// collective.
void _mlir_ciface_ssmcMpiPackedFinals(
    ssmc::abi::StridedMemRef<float, 1> *finals,
    ssmc::abi::StridedMemRef<int64_t, 1> *cu, int64_t localLen,
    ssmc::abi::StridedMemRef<float, 1> *out);
}

#endif // SSMC_RUNTIME_MPI_MPIRUNTIME_H
