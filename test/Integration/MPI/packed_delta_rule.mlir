// Packed sequences (cu_seqlens) through ssm.delta_rule across ranks
// (ssmc-run --shard-seq), every form in one program, each with its final
// state per sequence: DeltaNet with grouped heads and h0, Gated DeltaNet
// with grouped heads, l2norm, h0 and the chunked form, KDA with l2norm and
// scale 0.5, RWKV-7 (DPLR) with h0, and Gated DeltaNet with f16 q, k, v
// and out (the rescan instead of the output correction). K = 5, V = 3.
// Four use the offsets [0, 6, 6, 7, 11] (i64): on 3 ranks (steps 0-3,
// 4-7, 8-10) sequence 0 crosses from rank 0 to 1, 1 is empty, 2 starts
// and ends inside rank 1 (from its own h0, which reaches rank 1 through
// the combine) and 3 crosses from 1 to 2; on 2 ranks (0-5, 6-10) sequence
// 0 ends at the boundary and the empty one sits on it. KDA uses [0, 1, 11]
// (i32): fewer sequences than ranks, sequence 1 spanning all three and
// sequence 0 ending on rank 0, whose final state the last rank returns.
// Outputs and final states equal the double-precision reference and the
// one-process run (2 ranks: all-gather combine; 3 ranks: exscan).
// REQUIRES: mpi
// UNSUPPORTED: sanitizers
// RUN: rm -rf %t && mkdir -p %t && %python %S/Inputs/packed_inputs.py %t
// RUN: ssmc-testdata delta-rule --out %t/d --len 11 --key-heads 1 --heads 2 --head-dim 5 --value-dim 3 --form deltanet --h0 --cu-seqlens 0,6,6,7,11 --seed 11
// RUN: ssmc-testdata delta-rule --out %t/g --len 11 --key-heads 1 --heads 2 --head-dim 5 --value-dim 3 --form gated --l2norm --h0 --cu-seqlens 0,6,6,7,11 --seed 12
// RUN: ssmc-testdata delta-rule --out %t/k --len 11 --heads 2 --head-dim 5 --value-dim 3 --form kda --l2norm --scale 0.5 --cu-seqlens 0,1,11 --seed 13
// RUN: ssmc-testdata delta-rule --out %t/r --len 11 --heads 2 --head-dim 5 --value-dim 3 --form rwkv7 --scale 1.0 --h0 --cu-seqlens 0,6,6,7,11 --seed 14
// RUN: ssmc-testdata delta-rule --out %t/h --len 11 --key-heads 1 --heads 2 --head-dim 5 --value-dim 3 --form gated --l2norm --h0 --dtype f16 --cu-seqlens 0,6,6,7,11 --seed 15
// DEFINE: %{in} = --input %t/d/q.npy --input %t/d/k.npy --input %t/d/v.npy --input %t/d/beta.npy --input %t/d/h0.npy \
// DEFINE:   --input %t/g/q.npy --input %t/g/k.npy --input %t/g/v.npy --input %t/g/beta.npy --input %t/g/gate.npy --input %t/g/h0.npy \
// DEFINE:   --input %t/k/q.npy --input %t/k/k.npy --input %t/k/v.npy --input %t/k/beta.npy --input %t/k/gate.npy \
// DEFINE:   --input %t/r/q.npy --input %t/r/k.npy --input %t/r/v.npy --input %t/r/gate.npy --input %t/r/a.npy --input %t/r/b.npy --input %t/r/h0.npy \
// DEFINE:   --input %t/h/q.npy --input %t/h/k.npy --input %t/h/v.npy --input %t/h/beta.npy --input %t/h/gate.npy --input %t/h/h0.npy \
// DEFINE:   --input %t/d/cu_seqlens.npy --input %t/cu2.npy
// DEFINE: %{out} = --output d_o.npy --output d_h.npy --output g_o.npy --output g_h.npy \
// DEFINE:   --output k_o.npy --output k_h.npy --output r_o.npy --output r_h.npy \
// DEFINE:   --output h_o.npy --output h_h.npy
// RUN: mkdir %t/1 %t/2 %t/3
// RUN: cd %t/1 && ssmc-run %s --entry packed --threads 1 %{in} %{out}
// RUN: cd %t/2 && %mpirun 2 ssmc-run %s --entry packed --shard-seq --threads 1 %{in} %{out}
// RUN: cd %t/3 && env SSMC_MPI_COMBINE=exscan %mpirun 3 ssmc-run %s --entry packed --shard-seq --threads 1 %{in} %{out}
// RUN: cd %t && for f in d g k r; do for n in 1 2 3; do \
// RUN:   ssmc-testdata compare $n/${f}_o.npy $f/ref_out.npy --rtol 1e-4 && \
// RUN:   ssmc-testdata compare $n/${f}_h.npy $f/ref_state.npy --rtol 1e-4 || exit 1; done; \
// RUN:   for n in 2 3; do ssmc-testdata compare $n/${f}_o.npy 1/${f}_o.npy --rtol 1e-4 && \
// RUN:   ssmc-testdata compare $n/${f}_h.npy 1/${f}_h.npy --rtol 1e-4 || exit 1; done; done | FileCheck %s
// RUN: cd %t && for n in 1 2 3; do ssmc-testdata compare $n/h_o.npy h/ref_out.npy --rtol 2e-3 && \
// RUN:   ssmc-testdata compare $n/h_h.npy h/ref_state.npy --rtol 1e-4 || exit 1; done | FileCheck %s --check-prefix=F16
// RUN: cd %t && for n in 2 3; do ssmc-testdata compare $n/h_o.npy 1/h_o.npy --rtol 2e-3 && \
// RUN:   ssmc-testdata compare $n/h_h.npy 1/h_h.npy --rtol 1e-4 || exit 1; done | FileCheck %s --check-prefix=F16R
// F16-COUNT-6: OK
// F16R-COUNT-4: OK
// CHECK-COUNT-40: OK
// CHECK-NOT: FAIL

func.func @packed(
    %dq: tensor<1x11x1x5xf32>, %dk: tensor<1x11x1x5xf32>, %dv: tensor<1x11x2x3xf32>, %dbeta: tensor<1x11x2xf32>,
    %dh0: tensor<4x2x5x3xf32>,
    %gq: tensor<1x11x1x5xf32>, %gk: tensor<1x11x1x5xf32>, %gv: tensor<1x11x2x3xf32>, %gbeta: tensor<1x11x2xf32>,
    %gg: tensor<1x11x2xf32>, %gh0: tensor<4x2x5x3xf32>,
    %kq: tensor<1x11x2x5xf32>, %kk: tensor<1x11x2x5xf32>, %kv: tensor<1x11x2x3xf32>, %kbeta: tensor<1x11x2xf32>,
    %kg: tensor<1x11x2x5xf32>,
    %rq: tensor<1x11x2x5xf32>, %rk: tensor<1x11x2x5xf32>, %rv: tensor<1x11x2x3xf32>, %rg: tensor<1x11x2x5xf32>,
    %ra: tensor<1x11x2x5xf32>, %rb: tensor<1x11x2x5xf32>, %rh0: tensor<4x2x5x3xf32>,
    %hq: tensor<1x11x1x5xf16>, %hk: tensor<1x11x1x5xf16>, %hv: tensor<1x11x2x3xf16>, %hbeta: tensor<1x11x2xf32>,
    %hg: tensor<1x11x2xf32>, %hh0: tensor<4x2x5x3xf32>,
    %cu: tensor<5xi64>, %cu2: tensor<3xi32>)
    -> (tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>, tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>,
        tensor<1x11x2x3xf32>, tensor<2x2x5x3xf32>, tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>,
        tensor<1x11x2x3xf16>, tensor<4x2x5x3xf32>) {
  %do, %dh = ssm.delta_rule %dq, %dk, %dv beta(%dbeta) h0(%dh0) cu_seqlens(%cu) {chunk_size = 0 : i64}
      : (tensor<1x11x1x5xf32>, tensor<1x11x1x5xf32>, tensor<1x11x2x3xf32>, tensor<1x11x2xf32>,
         tensor<4x2x5x3xf32>, tensor<5xi64>)
      -> (tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>)
  %go, %gh = ssm.delta_rule %gq, %gk, %gv beta(%gbeta) gate(%gg) h0(%gh0) cu_seqlens(%cu) use_qk_l2norm {chunk_size = 16 : i64}
      : (tensor<1x11x1x5xf32>, tensor<1x11x1x5xf32>, tensor<1x11x2x3xf32>, tensor<1x11x2xf32>,
         tensor<1x11x2xf32>, tensor<4x2x5x3xf32>, tensor<5xi64>)
      -> (tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>)
  %ko, %kh = ssm.delta_rule %kq, %kk, %kv beta(%kbeta) gate(%kg) cu_seqlens(%cu2) use_qk_l2norm {scale = 0.5 : f64, chunk_size = 0 : i64}
      : (tensor<1x11x2x5xf32>, tensor<1x11x2x5xf32>, tensor<1x11x2x3xf32>, tensor<1x11x2xf32>, tensor<1x11x2x5xf32>,
         tensor<3xi32>)
      -> (tensor<1x11x2x3xf32>, tensor<2x2x5x3xf32>)
  %ro, %rh = ssm.delta_rule %rq, %rk, %rv gate(%rg) a(%ra) b(%rb) h0(%rh0) cu_seqlens(%cu) {scale = 1.0 : f64, chunk_size = 0 : i64}
      : (tensor<1x11x2x5xf32>, tensor<1x11x2x5xf32>, tensor<1x11x2x3xf32>, tensor<1x11x2x5xf32>,
         tensor<1x11x2x5xf32>, tensor<1x11x2x5xf32>, tensor<4x2x5x3xf32>, tensor<5xi64>)
      -> (tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>)
  %ho, %hh = ssm.delta_rule %hq, %hk, %hv beta(%hbeta) gate(%hg) h0(%hh0) cu_seqlens(%cu) use_qk_l2norm {chunk_size = 0 : i64}
      : (tensor<1x11x1x5xf16>, tensor<1x11x1x5xf16>, tensor<1x11x2x3xf16>, tensor<1x11x2xf32>,
         tensor<1x11x2xf32>, tensor<4x2x5x3xf32>, tensor<5xi64>)
      -> (tensor<1x11x2x3xf16>, tensor<4x2x5x3xf32>)
  return %do, %dh, %go, %gh, %ko, %kh, %ro, %rh, %ho, %hh
      : tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>, tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>,
        tensor<1x11x2x3xf32>, tensor<2x2x5x3xf32>, tensor<1x11x2x3xf32>, tensor<4x2x5x3xf32>,
        tensor<1x11x2x3xf16>, tensor<4x2x5x3xf32>
}
