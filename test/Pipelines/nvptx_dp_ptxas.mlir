// ssm.dp as GPU kernels: every examples/dp program compiles for the CUDA
// target into PTX that ptxas accepts for sm_90; wavefront schedules
// (edit distance, LCS, knapsack rows) synchronise with a barrier per
// wavefront, sequential ones (LIS, the local sum) have none.
// REQUIRES: ptxas
// RUN: rm -rf %t && mkdir -p %t
// RUN: ssmc-run %S/../../examples/dp/edit_distance.mlir --target cuda --emit=ptx > %t/ed.ptx
// RUN: FileCheck %s --check-prefix=WAVE < %t/ed.ptx
// RUN: split-file %t/ed.ptx %t/ed && %cuda_root/bin/ptxas -arch=sm_90 %t/ed/edit_distance_kernel.ptx -o %t/ed1.cubin
// RUN: %cuda_root/bin/ptxas -arch=sm_90 %t/ed/edit_distance_table_kernel.ptx -o %t/ed2.cubin
// RUN: ssmc-run %S/../../examples/dp/knapsack.mlir --target cuda --emit=ptx > %t/ks.ptx
// RUN: FileCheck %s --check-prefix=WAVE < %t/ks.ptx
// RUN: split-file %t/ks.ptx %t/ks && %cuda_root/bin/ptxas -arch=sm_90 %t/ks/knapsack_kernel.ptx -o %t/ks.cubin
// RUN: ssmc-run %S/../../examples/dp/lis.mlir --target cuda --emit=ptx > %t/lis.ptx
// RUN: FileCheck %s --check-prefix=SEQ < %t/lis.ptx
// RUN: split-file %t/lis.ptx %t/lis && %cuda_root/bin/ptxas -arch=sm_90 %t/lis/lis_kernel.ptx -o %t/lis.cubin
// RUN: ssmc-run %S/../../examples/dp/lcs.mlir --target cuda --emit=ptx > %t/lcs.ptx
// RUN: split-file %t/lcs.ptx %t/lcs && %cuda_root/bin/ptxas -arch=sm_90 %t/lcs/lcs_kernel.ptx -o %t/lcs.cubin
// RUN: ssmc-run %S/../../examples/dp/local_sum.mlir --target cuda --emit=ptx > %t/ls.ptx
// RUN: split-file %t/ls.ptx %t/ls && %cuda_root/bin/ptxas -arch=sm_90 %t/ls/local_sum_kernel.ptx -o %t/ls.cubin
// WAVE: .entry {{.*}}_kernel(
// WAVE: bar.sync
// SEQ: .entry {{.*}}_kernel(
// SEQ-NOT: bar.sync
