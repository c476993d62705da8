// The shipped examples stay valid programs, and the demo's report numbers
// match the hand count for the 130M mixer shape (B=2, Dm=1536, N=16, L=2048):
//   state 2*1536*16 = 49152 f32 = 196608 bytes
//   flops/token 2*1536*(1 + bias 1 + softplus 1 + D 2 + z 3 + 6*16) = 319488
// RUN: ssmc-opt %ssmc_src_root/examples/mamba_scan.mlir --ssm-report --mlir-print-op-on-diagnostic=false 2>&1 | FileCheck %s
// CHECK: remark: ssm.selective_scan: state 49152 elements (196608 bytes, f32); per token 319488 flops
// CHECK: remark: ssm.scan: state 3072 elements (12288 bytes, f32); per token 4608 flops
// CHECK: func.func @mamba_mixer
// CHECK: ssm.selective_scan
// CHECK: func.func @linear_recurrence
// CHECK: ssm.scan
