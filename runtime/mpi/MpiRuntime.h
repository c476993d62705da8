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
/// The incoming state of this rank's slice. Each rank's slice maps an
/// initial state S to P * S + Sloc, where `decay` P is diagonal: element i
/// of P scales `n / size(decay)` consecutive state elements (an empty P is
/// the identity). `sin` = the composition of the maps of ranks 0..r-1
/// applied to `h0` (the state before rank 0; empty means zero). Every
/// buffer is contiguous f32 of the state's n elements, P excepted. An MPI
/// failure stops every rank with a message (ssmc::dist::abortAll).
void _mlir_ciface_ssmcMpiCombineAffine(
    ssmc::abi::StridedMemRef<float, 1> *decay,
    ssmc::abi::StridedMemRef<float, 1> *sloc,
    ssmc::abi::StridedMemRef<float, 1> *h0,
    ssmc::abi::StridedMemRef<float, 1> *sin);
}

#endif // SSMC_RUNTIME_MPI_MPIRUNTIME_H
