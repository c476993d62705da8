// A loop-carried buffer that only the loop's kernels use stays on the
// device across the iterations (ssm-gpu-stage-buffers), over the test-only
// fake driver, which poisons device memory a kernel did not write and
// counts the copies: h = x * x, then three iterations of h = h * dt + h,
// each a fresh buffer (bufferization's allocation per iteration). x comes
// in once (5 KB: 962 f32); the host's copy of h into the loop's init is
// made on the device; each iteration copies only dt in (the caller's
// buffer: 3 x 3848 bytes); h comes back once, after the loop. Results
// against the CPU target's.
// REQUIRES: fake-cuda
//
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 2 --channels 37 --len 13 --state 16 --seed 3
// RUN: ssmc-run %s --input %t/u.npy --input %t/dt.npy --output %t/cpu.npy
// RUN: env SSMC_FAKE_CUDA_STATS=1 %fake_cuda_env ssmc-run %s --target cuda --input %t/u.npy --input %t/dt.npy \
// RUN:   --output %t/gpu.npy 2> %t/gpu.err
// RUN: ssmc-testdata compare %t/gpu.npy %t/cpu.npy --rtol 1e-4 | FileCheck %s
// RUN: FileCheck %s --check-prefix=STATS < %t/gpu.err
// CHECK: OK
// STATS: fake CUDA: stats: cuMemAllocHost_v2 {{[0-9]+}}, cuMemcpyHtoDAsync_v2 4, cuMemcpyDtoHAsync_v2 1, cuStreamSynchronize {{[0-9]+}}, pageable copies 0, races 0, misuses 0, bytes to device 15392, bytes to host 3848

#id = affine_map<(b, d, l) -> (b, d, l)>
func.func @main(%x: tensor<2x37x13xf32>, %dt: tensor<2x37x13xf32>) -> tensor<2x37x13xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %e0 = tensor.empty() : tensor<2x37x13xf32>
  %h0 = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%x : tensor<2x37x13xf32>) outs(%e0 : tensor<2x37x13xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<2x37x13xf32>
  %r = scf.for %i = %c0 to %c3 step %c1 iter_args(%h = %h0) -> tensor<2x37x13xf32> {
    %e = tensor.empty() : tensor<2x37x13xf32>
    %m = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%h, %dt : tensor<2x37x13xf32>, tensor<2x37x13xf32>) outs(%e : tensor<2x37x13xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %s = arith.mulf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<2x37x13xf32>
    %e2 = tensor.empty() : tensor<2x37x13xf32>
    %n = linalg.generic {indexing_maps = [#id, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
        ins(%m, %h : tensor<2x37x13xf32>, tensor<2x37x13xf32>) outs(%e2 : tensor<2x37x13xf32>) {
    ^bb0(%a: f32, %b: f32, %o: f32):
      %s = arith.addf %a, %b : f32
      linalg.yield %s : f32
    } -> tensor<2x37x13xf32>
    scf.yield %n : tensor<2x37x13xf32>
  }
  return %r : tensor<2x37x13xf32>
}
