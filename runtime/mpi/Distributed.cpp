//===- Distributed.cpp - ranks, slices, gathers and the state combine -----===//
//
// With SSMC_HAVE_MPI, over MPI_COMM_WORLD with MPI_ERRORS_RETURN: every
// failed call is reported with MPI's message and stops all ranks
// (MPI_Abort), so no rank waits for a peer that gave up. Without it, one
// rank.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Distributed.h"
#include "runtime/mpi/MpiRuntime.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#ifdef SSMC_HAVE_MPI
#include <mpi.h>
#endif

namespace ssmc::dist {
namespace {
int theRank = 0, theSize = 1;
bool started = false;
Combine theCombine = Combine::AllGather;
std::atomic<uint64_t> sent{0};

#ifdef SSMC_HAVE_MPI
std::string mpiMessage(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS)
    return "MPI error " + std::to_string(code);
  return std::string(text, len);
}
/// Stops every rank when `code` is an MPI failure of `what`.
void check(int code, const char *what) {
  if (code != MPI_SUCCESS)
    abortAll(std::string(what) + " failed: " + mpiMessage(code));
}
#endif
} // namespace

bool builtWithMPI() {
#ifdef SSMC_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launchedByMPI() {
  for (const char *v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK",
                        "MPI_LOCALNRANKS"})
    if (std::getenv(v))
      return true;
  return false;
}

llvm::Error init(int *argc, char ***argv) {
  if (!launchedByMPI())
    return llvm::Error::success();
#ifdef SSMC_HAVE_MPI
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS)
    return llvm::createStringError("MPI_Init failed");
  started = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &theRank);
  MPI_Comm_size(MPI_COMM_WORLD, &theSize);
  if (const char *c = std::getenv("SSMC_MPI_COMBINE"))
    theCombine = std::strcmp(c, "chain") == 0 ? Combine::Chain
                                               : Combine::AllGather;
  return llvm::Error::success();
#else
  (void)argc;
  (void)argv;
  const char *n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (!n)
    n = std::getenv("PMI_SIZE");
  if (n && std::atoi(n) > 1)
    return llvm::createStringError(
        "this ssmc was built without MPI (find_package(MPI) found none): "
        "it cannot run on " +
        std::string(n) + " ranks");
  return llvm::Error::success();
#endif
}

void finalize() {
#ifdef SSMC_HAVE_MPI
  if (started)
    MPI_Finalize();
#endif
  started = false;
}

int rank() { return theRank; }
int size() { return theSize; }
void setCombine(Combine c) { theCombine = c; }
Combine combine() { return theCombine; }
uint64_t bytesSent() { return sent.load(); }

void abortAll(const std::string &msg, int code) {
  std::fprintf(stderr, "ssmc: rank %d of %d: error: %s\n", theRank, theSize,
               msg.c_str());
  std::fflush(stderr);
#ifdef SSMC_HAVE_MPI
  if (started)
    MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

std::pair<int64_t, int64_t> sliceOf(int64_t n, int r, int ranks) {
  int64_t base = n / ranks, extra = n % ranks;
  int64_t begin = r * base + std::min<int64_t>(r, extra);
  return {begin, begin + base + (r < extra ? 1 : 0)};
}

namespace {
/// The view of steps [begin, end) of contiguous `t` along `dim`.
Tensor sliceView(const Tensor &t, int dim, int64_t begin, int64_t end) {
  Tensor v = t;
  v.strides = t.effectiveStrides();
  v.data = static_cast<char *>(t.data) +
           begin * v.strides[dim] * dtypeSize(t.dtype);
  v.shape[dim] = end - begin;
  return v;
}
} // namespace

OwnedTensor slice(const Tensor &t, int dim, int r, int ranks) {
  auto [begin, end] = sliceOf(t.shape[dim], r, ranks);
  std::vector<int64_t> shape = t.shape;
  shape[dim] = end - begin;
  OwnedTensor out(t.dtype, shape);
  copyToContiguous(sliceView(t, dim, begin, end), out.data());
  return out;
}

llvm::Expected<std::vector<std::vector<char>>>
gatherBytes(const std::vector<char> &local) {
  std::vector<std::vector<char>> all;
  if (theSize == 1) {
    all.push_back(local);
    return all;
  }
#ifdef SSMC_HAVE_MPI
  long long n = static_cast<long long>(local.size());
  std::vector<long long> counts(theSize);
  check(MPI_Gather(&n, 1, MPI_LONG_LONG, counts.data(), 1, MPI_LONG_LONG, 0,
                   MPI_COMM_WORLD),
        "MPI_Gather");
  if (theRank != 0) {
    sent += local.size() + sizeof n;
    // Large tensors in pieces under INT_MAX bytes.
    for (size_t off = 0; off < local.size(); off += 1 << 30) {
      int piece = static_cast<int>(std::min<size_t>(1 << 30, local.size() - off));
      check(MPI_Send(local.data() + off, piece, MPI_BYTE, 0, 7, MPI_COMM_WORLD),
            "MPI_Send");
    }
    return all;
  }
  all.resize(theSize);
  all[0] = local;
  for (int r = 1; r < theSize; ++r) {
    all[r].resize(counts[r]);
    for (size_t off = 0; off < all[r].size(); off += 1 << 30) {
      int piece = static_cast<int>(std::min<size_t>(1 << 30, all[r].size() - off));
      check(MPI_Recv(all[r].data() + off, piece, MPI_BYTE, r, 7,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv");
    }
  }
  return all;
#else
  return llvm::createStringError("more than one rank without MPI");
#endif
}

llvm::Error broadcast(std::vector<char> &bytes) {
  if (theSize == 1)
    return llvm::Error::success();
#ifdef SSMC_HAVE_MPI
  long long n = static_cast<long long>(bytes.size());
  check(MPI_Bcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD), "MPI_Bcast");
  bytes.resize(n);
  check(MPI_Bcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0,
                  MPI_COMM_WORLD),
        "MPI_Bcast");
  if (theRank == 0)
    sent += n * (theSize - 1);
#endif
  return llvm::Error::success();
}

bool allOk(bool ok) {
  if (theSize == 1)
    return ok;
#ifdef SSMC_HAVE_MPI
  int mine = ok ? 1 : 0, all = 0;
  if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) !=
      MPI_SUCCESS)
    return false;
  return all == 1;
#else
  return ok;
#endif
}

llvm::Expected<OwnedTensor> gatherAlong(const OwnedTensor &local, int dim) {
  std::vector<char> mine(static_cast<const char *>(local.data()),
                         static_cast<const char *>(local.data()) +
                             local.sizeInBytes());
  // Every rank's length along dim travels with its bytes.
  int64_t len = local.shape()[dim];
  mine.insert(mine.begin(), reinterpret_cast<const char *>(&len),
              reinterpret_cast<const char *>(&len) + sizeof len);
  auto all = gatherBytes(mine);
  if (!all)
    return all.takeError();
  if (theRank != 0)
    return OwnedTensor();
  std::vector<int64_t> lens;
  int64_t total = 0;
  for (const std::vector<char> &b : *all) {
    int64_t l;
    std::memcpy(&l, b.data(), sizeof l);
    lens.push_back(l);
    total += l;
  }
  std::vector<int64_t> shape = local.shape();
  shape[dim] = total;
  OwnedTensor out(local.dtype(), shape);
  Tensor whole = out.view();
  int64_t at = 0;
  for (size_t r = 0; r < all->size(); ++r) {
    std::vector<int64_t> partShape = local.shape();
    partShape[dim] = lens[r];
    if (static_cast<int64_t>((*all)[r].size() - sizeof(int64_t)) !=
        numElements(partShape) * static_cast<int64_t>(dtypeSize(local.dtype())))
      return llvm::createStringError("rank " + std::to_string(r) +
                                     " sent a result of another shape");
    copyFromContiguous((*all)[r].data() + sizeof(int64_t),
                       sliceView(whole, dim, at, at + lens[r]));
    at += lens[r];
  }
  return out;
}

llvm::Expected<OwnedTensor> fetchFrom(const OwnedTensor &local, int from) {
  OwnedTensor out;
  if (theSize == 1 || from == 0) {
    if (theRank != 0)
      return out;
    out = OwnedTensor(local.dtype(), local.shape());
    std::memcpy(out.data(), local.data(), local.sizeInBytes());
    return out;
  }
#ifdef SSMC_HAVE_MPI
  if (theRank == from) {
    sent += local.sizeInBytes();
    check(MPI_Send(local.data(), static_cast<int>(local.sizeInBytes()),
                   MPI_BYTE, 0, 8, MPI_COMM_WORLD),
          "MPI_Send");
  } else if (theRank == 0) {
    out = OwnedTensor(local.dtype(), local.shape());
    check(MPI_Recv(out.data(), static_cast<int>(out.sizeInBytes()), MPI_BYTE,
                   from, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE),
          "MPI_Recv");
  }
#endif
  return out;
}

} // namespace ssmc::dist

//===----------------------------------------------------------------------===//
// The state combine sharded programs call
//===----------------------------------------------------------------------===//

namespace {
using Buf = ssmc::abi::StridedMemRef<float, 1>;

/// s = P * s + l, P diagonal with each element scaling `inner` elements.
void applyAffine(float *s, const float *p, int64_t np, const float *l,
                 int64_t n) {
  if (np == 0) {
    for (int64_t i = 0; i < n; ++i)
      s[i] += l[i];
    return;
  }
  int64_t inner = n / np;
  for (int64_t j = 0; j < np; ++j)
    for (int64_t i = j * inner, e = i + inner; i < e; ++i)
      s[i] = p[j] * s[i] + l[i];
}
} // namespace

extern "C" void _mlir_ciface_ssmcMpiCombineAffine(Buf *decay, Buf *sloc,
                                                  Buf *h0, Buf *sin) {
  using namespace ssmc::dist;
  const int64_t n = sin->sizes[0], np = decay->sizes[0];
  const float *p = decay->aligned + decay->offset;
  const float *l = sloc->aligned + sloc->offset;
  float *s = sin->aligned + sin->offset;
  if (sloc->sizes[0] != n || (np && n % np) ||
      (h0->sizes[0] && h0->sizes[0] != n))
    abortAll("ssmcMpiCombineAffine: inconsistent state sizes");
  if (h0->sizes[0])
    std::memcpy(s, h0->aligned + h0->offset, n * sizeof(float));
  else
    std::memset(s, 0, n * sizeof(float));
  const int r = rank(), R = size();
  if (R == 1)
    return;
#ifdef SSMC_HAVE_MPI
  if (combine() == Combine::Chain) {
    // Rank r waits for the state entering it, extends it by its own map
    // and passes it on.
    if (r > 0)
      check(MPI_Recv(s, static_cast<int>(n), MPI_FLOAT, r - 1, 9,
                     MPI_COMM_WORLD, MPI_STATUS_IGNORE),
            "MPI_Recv (state chain)");
    if (r + 1 < R) {
      std::vector<float> out(s, s + n);
      applyAffine(out.data(), p, np, l, n);
      sent += n * sizeof(float);
      check(MPI_Send(out.data(), static_cast<int>(n), MPI_FLOAT, r + 1, 9,
                     MPI_COMM_WORLD),
            "MPI_Send (state chain)");
    }
    return;
  }
  // All-gather every rank's (P, Sloc) and fold ranks 0..r-1 over h0.
  const int64_t w = np + n;
  std::vector<float> mine(w), all(w * R);
  std::memcpy(mine.data(), p, np * sizeof(float));
  std::memcpy(mine.data() + np, l, n * sizeof(float));
  sent += w * sizeof(float) * (R - 1);
  check(MPI_Allgather(mine.data(), static_cast<int>(w), MPI_FLOAT, all.data(),
                      static_cast<int>(w), MPI_FLOAT, MPI_COMM_WORLD),
        "MPI_Allgather (states)");
  for (int j = 0; j < r; ++j)
    applyAffine(s, all.data() + j * w, np, all.data() + j * w + np, n);
#else
  (void)r;
  abortAll("more than one rank without MPI");
#endif
}
