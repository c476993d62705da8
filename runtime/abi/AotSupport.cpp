//===- AotSupport.cpp - what ahead-of-time objects call besides mgpu* -----===//
//
// An ssm program compiled to an object (ssmc-run --emit=object) calls
// memrefCopy for strided buffer copies (the JIT takes it from
// libmlir_c_runner_utils) and ssmcShapeError when a run-time shape check
// fails. This file provides both, with no LLVM or MLIR dependency.
//
//===----------------------------------------------------------------------===//

#include <cstdint>
#include <cstring>
#include <vector>

namespace {
struct Unranked {
  int64_t rank;
  void *descriptor;
};
thread_local bool shapeErrorSet = false;
thread_local int64_t shapeError[3];
} // namespace

extern "C" {

/// Copies the strided memref `src` into `dst` (same shape), elementSize
/// bytes per element.
void memrefCopy(int64_t elementSize, Unranked *src, Unranked *dst) {
  const int64_t rank = src->rank;
  auto fields = [&](Unranked *m, char *&base, const int64_t *&sizes,
                    const int64_t *&strides) {
    char **ptrs = static_cast<char **>(m->descriptor);
    const int64_t *ints = reinterpret_cast<const int64_t *>(ptrs + 2);
    base = ptrs[1] + ints[0] * elementSize; // aligned + offset
    sizes = ints + 1;
    strides = ints + 1 + rank;
  };
  char *s, *d;
  const int64_t *sizes, *ss, *ds, *dsizes;
  fields(src, s, sizes, ss);
  fields(dst, d, dsizes, ds);
  int64_t total = 1;
  for (int64_t i = 0; i < rank; ++i)
    total *= sizes[i];
  if (total == 0)
    return;
  std::vector<int64_t> index(rank, 0);
  for (int64_t n = 0; n < total; ++n) {
    int64_t so = 0, dof = 0;
    for (int64_t i = 0; i < rank; ++i)
      so += index[i] * ss[i], dof += index[i] * ds[i];
    std::memcpy(d + dof * elementSize, s + so * elementSize, elementSize);
    for (int64_t i = rank - 1; i >= 0; --i) {
      if (++index[i] < sizes[i])
        break;
      index[i] = 0;
    }
  }
}

/// Records the first failed run-time shape check of this thread.
void ssmcShapeError(int64_t id, int64_t got, int64_t want) {
  if (shapeErrorSet)
    return;
  shapeErrorSet = true;
  shapeError[0] = id, shapeError[1] = got, shapeError[2] = want;
}
void _mlir_ciface_ssmcShapeError(int64_t id, int64_t got, int64_t want) {
  ssmcShapeError(id, got, want);
}

/// The first failed check since the last call (id, got, want); 0 if none.
int ssmcTakeShapeError(int64_t out[3]) {
  if (!shapeErrorSet)
    return 0;
  std::memcpy(out, shapeError, sizeof shapeError);
  shapeErrorSet = false;
  return 1;
}

} // extern "C"
