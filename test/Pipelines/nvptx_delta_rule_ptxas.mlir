// ssm-nvptx-pipeline: the delta-rule kernel at K = V = 128 in RWKV-7's
// DPLR form (per-key gate, a, b, l2norm, h0, final_state; chunk_size = 0,
// the recurrent kernel) and in Gated DeltaNet's form (gate per step, beta;
// T = 32, the recurrent kernel), the chunked kernel for KDA (per-key gate,
// l2norm, h0, final_state; T = 64), and the chunked kernel for RWKV-7 at
// the largest K, 256 (V = 128, T = 64): PTX for sm_90 that ptxas accepts,
// the tile's state in shared memory (16 columns x 128 rows) with the
// step's vectors and the per-thread shares, well within the 48 KB static
// budget, no local-memory stack frame and no spills (the state is not in
// registers, so the registers do not grow with K).
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-run %s --target cuda --emit=ptx > %t/k.ptx
// RUN: split-file %t/k.ptx %t/k
// RUN: ls %t/k/*.ptx | count 4
// RUN: for f in %t/k/*.ptx; do echo "$f"; %cuda_root/bin/ptxas -arch=sm_90 -v $f -o $f.cubin 2>&1 || echo "ptxas failed"; done > %t/ptxas.log
// RUN: FileCheck %s --implicit-check-not=error --implicit-check-not=failed < %t/ptxas.log

// Shared memory: the state tile 128 x 16, q and k, 2 x 128 shares and the
// two inverse norms, plus exp(gate), a and b per key in the DPLR form:
// (2048 + 5 x 128 + 256 + 2) x 4 = 11784 bytes; (2048 + 2 x 128 + 258) x 4
// = 10248 bytes for the gated form. The chunked kernel (chunks of 16,
// tiles of 16 columns): the state tile 128 x 16, q~ and k~ 2 x 16 x 128,
// the log decays 17 x 128, beta 16, A, Aq and T 3 x 16 x 16, P, O and V'
// 3 x 16 x 16, the inverse norms 32: 9904 x 4 = 39616 bytes. The chunked
// DPLR kernel at K = 256 (tiles of 16 columns, chunks of 4): the state tile
// 256 x 16, q~, k~, a and b 4 x 4 x 256, the log decays 5 x 256, the four
// C x C matrices 4 x 4 x 4, P, O and V' 3 x 4 x 16, the inverse norms 8:
// 9736 x 4 = 38944 bytes.
// CHECK: dplr_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[1-9][0-9]?}} registers, used 1 barriers, 11784 bytes smem
// CHECK: gated_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[1-9][0-9]?}} registers, used 1 barriers, 10248 bytes smem
// CHECK: kda_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[1-9][0-9]?}} registers, used 1 barriers, 39616 bytes smem
// CHECK: rwkv7_chunked_kernel.ptx
// CHECK: 0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
// CHECK: Used {{[1-9][0-9]?}} registers, used 1 barriers, 38944 bytes smem

func.func @dplr(%q: tensor<1x64x2x128xf32>, %v: tensor<1x64x4x128xf32>, %w: tensor<1x64x4x128xf32>,
                %a: tensor<1x64x4x128xf32>, %b: tensor<1x64x4x128xf32>, %h0: tensor<1x4x128x128xf32>)
    -> (tensor<1x64x4x128xf32>, tensor<1x4x128x128xf32>) {
  %o, %s = ssm.delta_rule %q, %q, %v gate(%w) a(%a) b(%b) h0(%h0) use_qk_l2norm {chunk_size = 0 : i64, scale = 1.0 : f64}
      : (tensor<1x64x2x128xf32>, tensor<1x64x2x128xf32>, tensor<1x64x4x128xf32>, tensor<1x64x4x128xf32>,
         tensor<1x64x4x128xf32>, tensor<1x64x4x128xf32>, tensor<1x4x128x128xf32>)
      -> (tensor<1x64x4x128xf32>, tensor<1x4x128x128xf32>)
  return %o, %s : tensor<1x64x4x128xf32>, tensor<1x4x128x128xf32>
}

func.func @gated(%q: tensor<1x32x2x128xbf16>, %v: tensor<1x32x4x128xbf16>, %beta: tensor<1x32x4xbf16>,
                 %g: tensor<1x32x4xf32>) -> tensor<1x32x4x128xbf16> {
  %o = ssm.delta_rule %q, %q, %v beta(%beta) gate(%g) use_qk_l2norm
      : (tensor<1x32x2x128xbf16>, tensor<1x32x2x128xbf16>, tensor<1x32x4x128xbf16>, tensor<1x32x4xbf16>,
         tensor<1x32x4xf32>) -> tensor<1x32x4x128xbf16>
  return %o : tensor<1x32x4x128xbf16>
}

func.func @kda(%q: tensor<1x64x2x128xbf16>, %v: tensor<1x64x4x128xbf16>, %beta: tensor<1x64x4xbf16>,
               %g: tensor<1x64x4x128xf32>, %h0: tensor<1x4x128x128xf32>)
    -> (tensor<1x64x4x128xbf16>, tensor<1x4x128x128xf32>) {
  %o, %s = ssm.delta_rule %q, %q, %v beta(%beta) gate(%g) h0(%h0) use_qk_l2norm
      : (tensor<1x64x2x128xbf16>, tensor<1x64x2x128xbf16>, tensor<1x64x4x128xbf16>, tensor<1x64x4xbf16>,
         tensor<1x64x4x128xf32>, tensor<1x4x128x128xf32>) -> (tensor<1x64x4x128xbf16>, tensor<1x4x128x128xf32>)
  return %o, %s : tensor<1x64x4x128xbf16>, tensor<1x4x128x128xf32>
}

func.func @rwkv7_chunked(%q: tensor<1x64x2x256xbf16>, %v: tensor<1x64x4x128xbf16>, %w: tensor<1x64x4x256xf32>,
                         %a: tensor<1x64x4x256xbf16>, %b: tensor<1x64x4x256xbf16>, %h0: tensor<1x4x256x128xf32>)
    -> (tensor<1x64x4x128xbf16>, tensor<1x4x256x128xf32>) {
  %o, %s = ssm.delta_rule %q, %q, %v gate(%w) a(%a) b(%b) h0(%h0) use_qk_l2norm {scale = 1.0 : f64}
      : (tensor<1x64x2x256xbf16>, tensor<1x64x2x256xbf16>, tensor<1x64x4x128xbf16>, tensor<1x64x4x256xf32>,
         tensor<1x64x4x256xbf16>, tensor<1x64x4x256xbf16>, tensor<1x4x256x128xf32>)
      -> (tensor<1x64x4x128xbf16>, tensor<1x4x256x128xf32>)
  return %o, %s : tensor<1x64x4x128xbf16>, tensor<1x4x256x128xf32>
}
