// A kernel's result read by the next kernel stays on the device
// (ssm-gpu-stage-buffers), over the test-only fake driver, which poisons
// device memory a kernel did not write and counts the copies: a
// causal_conv1d whose result u feeds a selective_scan, with a host op
// reading u between them. u comes back once, before the host op, and its
// device copy stays valid for the scan: x, dt, A, B and C copied in
// (13392 bytes), u and y back (2 x 3848 bytes); one wait before the host
// op and one at the end. The host op computes in f64, which keeps it on
// the host (the linalg kernels leave f64 to the CPU). (Two kernels in a
// row without the host op: pinned_staging.mlir.)
// REQUIRES: fake-cuda
//
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 2 --channels 37 --len 13 --state 16 --seed 3
// RUN: ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy \
// RUN:   --output %t/cpu_y.npy --output %t/cpu_v.npy
// RUN: env SSMC_FAKE_CUDA_STATS=1 %fake_cuda_env ssmc-run %s --target cuda --input %t/u.npy --input %t/dt.npy --input %t/A.npy \
// RUN:   --input %t/B.npy --input %t/C.npy --output %t/gpu_y.npy --output %t/gpu_v.npy 2> %t/gpu.err
// RUN: ssmc-testdata compare %t/gpu_y.npy %t/cpu_y.npy --rtol 1e-4 | FileCheck %s
// RUN: ssmc-testdata compare %t/gpu_v.npy %t/cpu_v.npy --rtol 1e-4 | FileCheck %s
// RUN: FileCheck %s --check-prefix=STATS < %t/gpu.err
// CHECK: OK
// STATS: fake CUDA: stats: cuMemAllocHost_v2 5, cuMemcpyHtoDAsync_v2 5, cuMemcpyDtoHAsync_v2 2, cuStreamSynchronize 2, pageable copies 0, races 0, misuses 0, bytes to device 13392, bytes to host 7696

func.func @main(%x: tensor<2x37x13xf32>, %dt: tensor<2x37x13xf32>, %A: tensor<37x16xf32>,
                %B: tensor<2x16x13xf32>, %C: tensor<2x16x13xf32>) -> (tensor<2x37x13xf32>, tensor<2x37x13xf32>) {
  %weight = arith.constant dense<0.4> : tensor<37x4xf32>
  %u = ssm.causal_conv1d %x, %weight : (tensor<2x37x13xf32>, tensor<37x4xf32>) -> tensor<2x37x13xf32>
  %e = tensor.empty() : tensor<2x37x13xf32>
  %v = linalg.generic {indexing_maps = [affine_map<(b, d, l) -> (b, d, l)>, affine_map<(b, d, l) -> (b, d, l)>],
                       iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%u : tensor<2x37x13xf32>) outs(%e : tensor<2x37x13xf32>) {
  ^bb0(%a: f32, %o: f32):
    %d = arith.extf %a : f32 to f64
    %s = arith.addf %d, %d : f64
    %t = arith.truncf %s : f64 to f32
    linalg.yield %t : f32
  } -> tensor<2x37x13xf32>
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<2x37x13xf32>, tensor<2x37x13xf32>, tensor<37x16xf32>, tensor<2x16x13xf32>, tensor<2x16x13xf32>)
      -> tensor<2x37x13xf32>
  return %y, %v : tensor<2x37x13xf32>, tensor<2x37x13xf32>
}
