// The CUDA host path's pinned staging over the test-only fake driver: a
// causal_conv1d whose result feeds a selective_scan (Mamba's pair) gives the
// CPU target's numbers with every host<->device copy asynchronous through
// pinned memory (no pageable copy, no race, no misuse of pinned memory), and
// still gives them when no pinned memory can be had (the driver refuses it,
// or SSMC_CUDA_PINNED_LIMIT=0), then through pageable copies, said once.
// REQUIRES: fake-cuda
//
// RUN: rm -rf %t && ssmc-testdata selective-scan --out %t --batch 2 --channels 37 --len 13 --state 16 --seed 3
// RUN: ssmc-run %s --input %t/u.npy --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/cpu.npy
// RUN: env SSMC_FAKE_CUDA_STATS=1 %fake_cuda_env ssmc-run %s --target cuda --input %t/u.npy --input %t/dt.npy --input %t/A.npy \
// RUN:   --input %t/B.npy --input %t/C.npy --output %t/pinned.npy 2> %t/pinned.err
// RUN: ssmc-testdata compare %t/pinned.npy %t/cpu.npy --rtol 1e-4 | FileCheck %s
// RUN: FileCheck %s --check-prefix=PINNED < %t/pinned.err
// The conv's launch copies x in; its result u stays on the device for the
// scan (ssm-gpu-stage-buffers: no host op reads it), which copies dt, A, B,
// C in and y out (the weight is a constant the kernel holds): 6 staged
// copies in 6 pinned blocks and one wait for the whole run. Six runs
// (--bench 5) reuse the same 6 blocks and wait once each.
// PINNED-NOT: warning
// PINNED: fake CUDA: stats: cuMemAllocHost_v2 6, cuMemcpyHtoDAsync_v2 5, cuMemcpyDtoHAsync_v2 1, cuStreamSynchronize 1, pageable copies 0, races 0, misuses 0, bytes to device 13392, bytes to host 3848
// RUN: env SSMC_FAKE_CUDA_STATS=1 %fake_cuda_env ssmc-run %s --target cuda --input %t/u.npy --input %t/dt.npy --input %t/A.npy \
// RUN:   --input %t/B.npy --input %t/C.npy --bench 5 2>&1 | FileCheck %s --check-prefix=REPEAT
// REPEAT: fake CUDA: stats: cuMemAllocHost_v2 6, cuMemcpyHtoDAsync_v2 30, cuMemcpyDtoHAsync_v2 6, cuStreamSynchronize 6, pageable copies 0, races 0, misuses 0
//
// RUN: env SSMC_FAKE_CUDA_FAIL=cuMemAllocHost_v2:* SSMC_FAKE_CUDA_STATS=1 %fake_cuda_env ssmc-run %s --target cuda --input %t/u.npy \
// RUN:   --input %t/dt.npy --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/refused.npy 2> %t/refused.err
// RUN: ssmc-testdata compare %t/refused.npy %t/cpu.npy --rtol 1e-4 | FileCheck %s
// RUN: FileCheck %s --check-prefix=REFUSED < %t/refused.err
// REFUSED: ssmc: warning: no pinned staging memory (cuMemAllocHost failed with CUDA error 2 (out of memory)); host<->device copies use pageable memory, which the driver copies synchronously
// REFUSED-NOT: ssmc: warning
// REFUSED: fake CUDA: stats: cuMemAllocHost_v2 {{[1-9][0-9]*}}, cuMemcpyHtoDAsync_v2 5, cuMemcpyDtoHAsync_v2 1, cuStreamSynchronize 1, pageable copies 6, races 0, misuses 0
//
// RUN: env SSMC_CUDA_PINNED_LIMIT=0 SSMC_FAKE_CUDA_STATS=1 %fake_cuda_env ssmc-run %s --target cuda --input %t/u.npy --input %t/dt.npy \
// RUN:   --input %t/A.npy --input %t/B.npy --input %t/C.npy --output %t/off.npy 2> %t/off.err
// RUN: ssmc-testdata compare %t/off.npy %t/cpu.npy --rtol 1e-4 | FileCheck %s
// RUN: FileCheck %s --check-prefix=OFF < %t/off.err
// OFF: ssmc: warning: no pinned staging memory (SSMC_CUDA_PINNED_LIMIT=0)
// OFF: fake CUDA: stats: cuMemAllocHost_v2 0, cuMemcpyHtoDAsync_v2 5, cuMemcpyDtoHAsync_v2 1, cuStreamSynchronize 1, pageable copies 6, races 0, misuses 0
// CHECK: OK

func.func @main(%x: tensor<2x37x13xf32>, %dt: tensor<2x37x13xf32>, %A: tensor<37x16xf32>,
                %B: tensor<2x16x13xf32>, %C: tensor<2x16x13xf32>) -> tensor<2x37x13xf32> {
  %weight = arith.constant dense<0.4> : tensor<37x4xf32>
  %u = ssm.causal_conv1d %x, %weight : (tensor<2x37x13xf32>, tensor<37x4xf32>) -> tensor<2x37x13xf32>
  %y = ssm.selective_scan %u, %dt, %A, %B, %C
      : (tensor<2x37x13xf32>, tensor<2x37x13xf32>, tensor<37x16xf32>, tensor<2x16x13xf32>, tensor<2x16x13xf32>)
      -> tensor<2x37x13xf32>
  return %y : tensor<2x37x13xf32>
}
