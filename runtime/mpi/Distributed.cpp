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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

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

/// Seconds a rank waits for its peers in one call (0: without limit);
/// SSMC_MPI_TIMEOUT.
double waitLimit = 300;

/// Completes `req`, started by `code` (a non-blocking call of `what`):
/// MPI_Test polling until it is done, and every rank stopped with a
/// message when that takes longer than the time-out (a peer that hangs or
/// died without MPI noticing), rather than a wait without end.
void await(int code, MPI_Request &req, const char *what) {
  check(code, what);
  if (waitLimit <= 0) {
    check(MPI_Wait(&req, MPI_STATUS_IGNORE), what);
    return;
  }
  using Clock = std::chrono::steady_clock;
  const auto deadline =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(waitLimit));
  auto nap = std::chrono::microseconds(20);
  for (;;) {
    int done = 0;
    check(MPI_Test(&req, &done, MPI_STATUS_IGNORE), what);
    if (done)
      return;
    if (Clock::now() > deadline) {
      char limit[32];
      std::snprintf(limit, sizeof limit, "%g", waitLimit);
      abortAll(std::string(what) + " timed out: no answer from the other "
               "ranks within " + limit + " s (SSMC_MPI_TIMEOUT); a rank is "
               "hung, died, or is slower than that");
    }
    // Short naps first (a combine usually completes in microseconds), then
    // at most a millisecond, so a waiting rank leaves its core to others.
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(1000));
  }
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
  if (const char *t = std::getenv("SSMC_MPI_TIMEOUT")) {
    char *end = nullptr;
    double v = std::strtod(t, &end);
    if (end == t || *end || !(v >= 0))
      return llvm::createStringError(
          "SSMC_MPI_TIMEOUT must be a number of seconds >= 0 (0: no limit), "
          "got '" + std::string(t) + "'");
    waitLimit = v;
  }
  if (const char *c = std::getenv("SSMC_MPI_COMBINE")) {
    if (std::strcmp(c, "chain") == 0)
      theCombine = Combine::Chain;
    else if (std::strcmp(c, "exscan") == 0)
      theCombine = Combine::ExScan;
    else if (std::strcmp(c, "allgather") != 0)
      return llvm::createStringError(
          "SSMC_MPI_COMBINE must be allgather, chain or exscan, got '" +
          std::string(c) + "'");
  }
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
  // Equal slices: every rank but 0 scans its slice twice, and rank 0's
  // final state must be known before they rescan, so the critical path is
  // max(slice of rank 0, slice of the others) + slice of the others, least
  // when all are equal (a larger slice for rank 0 lengthens it).
  const int64_t base = n / ranks, extra = n % ranks;
  const int64_t begin = r * base + std::min<int64_t>(r, extra);
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
  MPI_Request req;
  await(MPI_Igather(&n, 1, MPI_LONG_LONG, counts.data(), 1, MPI_LONG_LONG, 0,
                    MPI_COMM_WORLD, &req),
        req, "MPI_Gather");
  if (theRank != 0) {
    sent += local.size() + sizeof n;
    // Large tensors in pieces under INT_MAX bytes.
    for (size_t off = 0; off < local.size(); off += 1 << 30) {
      int piece = static_cast<int>(std::min<size_t>(1 << 30, local.size() - off));
      await(MPI_Isend(local.data() + off, piece, MPI_BYTE, 0, 7,
                      MPI_COMM_WORLD, &req),
            req, "MPI_Send");
    }
    return all;
  }
  all.resize(theSize);
  all[0] = local;
  for (int r = 1; r < theSize; ++r) {
    all[r].resize(counts[r]);
    for (size_t off = 0; off < all[r].size(); off += 1 << 30) {
      int piece = static_cast<int>(std::min<size_t>(1 << 30, all[r].size() - off));
      await(MPI_Irecv(all[r].data() + off, piece, MPI_BYTE, r, 7,
                      MPI_COMM_WORLD, &req),
            req, "MPI_Recv");
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
  MPI_Request req;
  await(MPI_Ibcast(&n, 1, MPI_LONG_LONG, 0, MPI_COMM_WORLD, &req), req,
        "MPI_Bcast");
  bytes.resize(n);
  await(MPI_Ibcast(bytes.data(), static_cast<int>(n), MPI_BYTE, 0,
                   MPI_COMM_WORLD, &req),
        req, "MPI_Bcast");
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
  MPI_Request req;
  if (MPI_Iallreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &req) !=
      MPI_SUCCESS)
    return false;
  await(MPI_SUCCESS, req, "MPI_Allreduce");
  return all == 1;
#else
  return ok;
#endif
}

namespace {
#ifdef SSMC_HAVE_MPI
constexpr int kNoteTag = 9;
/// Posted notes and their requests (the values must live until sent).
std::vector<std::unique_ptr<long long>> noteValues;
std::vector<MPI_Request> noteRequests;
#endif
size_t notesSeen = 0;
} // namespace

void postNote(int64_t value) {
#ifdef SSMC_HAVE_MPI
  if (theSize == 1 || theRank == 0)
    return;
  noteValues.push_back(std::make_unique<long long>(value));
  noteRequests.emplace_back();
  check(MPI_Isend(noteValues.back().get(), 1, MPI_LONG_LONG, 0, kNoteTag,
                  MPI_COMM_WORLD, &noteRequests.back()),
        "MPI_Isend (progress)");
  sent += sizeof(long long);
#else
  (void)value;
#endif
}

void flushNotes() {
#ifdef SSMC_HAVE_MPI
  for (MPI_Request &req : noteRequests)
    await(MPI_SUCCESS, req, "MPI_Send (progress)");
  noteRequests.clear();
  noteValues.clear();
#endif
}

size_t takeNotes(size_t until, const std::function<void(int, int64_t)> &seen) {
#ifdef SSMC_HAVE_MPI
  if (theSize == 1 || theRank != 0)
    return notesSeen;
  using Clock = std::chrono::steady_clock;
  auto last = Clock::now();
  auto nap = std::chrono::microseconds(20);
  for (;;) {
    int flag = 0;
    MPI_Status status;
    check(MPI_Iprobe(MPI_ANY_SOURCE, kNoteTag, MPI_COMM_WORLD, &flag, &status),
          "MPI_Iprobe (progress)");
    if (flag) {
      long long v = 0;
      MPI_Request req;
      await(MPI_Irecv(&v, 1, MPI_LONG_LONG, status.MPI_SOURCE, kNoteTag,
                      MPI_COMM_WORLD, &req),
            req, "MPI_Recv (progress)");
      ++notesSeen;
      seen(status.MPI_SOURCE, v);
      last = Clock::now();
      nap = std::chrono::microseconds(20);
      continue;
    }
    if (notesSeen >= until)
      return notesSeen;
    if (waitLimit > 0 &&
        Clock::now() - last > std::chrono::duration<double>(waitLimit)) {
      char limit[32];
      std::snprintf(limit, sizeof limit, "%g", waitLimit);
      abortAll(std::string("waiting for the other ranks' progress timed "
                           "out: no answer within ") +
               limit + " s (SSMC_MPI_TIMEOUT); a rank is hung, died, or "
                       "computes one unit of work for longer than that");
    }
    std::this_thread::sleep_for(nap);
    nap = std::min(nap * 2, std::chrono::microseconds(1000));
  }
#else
  (void)until;
  (void)seen;
  return notesSeen;
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
    MPI_Request req;
    await(MPI_Isend(local.data(), static_cast<int>(local.sizeInBytes()),
                    MPI_BYTE, 0, 8, MPI_COMM_WORLD, &req),
          req, "MPI_Send");
  } else if (theRank == 0) {
    out = OwnedTensor(local.dtype(), local.shape());
    MPI_Request req;
    await(MPI_Irecv(out.data(), static_cast<int>(out.sizeInBytes()), MPI_BYTE,
                    from, 8, MPI_COMM_WORLD, &req),
          req, "MPI_Recv");
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
[[maybe_unused]] void applyAffine(float *s, const float *p, int64_t np,
                                  const float *l, int64_t n) {
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

namespace {
/// softplus(x) = max(x, 0) + log1p(e), e = exp(-|x|) in (0, 1]: e as
/// 2^k * 2^f with f in [-1/2, 1/2] (degree-7 Taylor, relative error < 1e-8)
/// and log1p(e) = e g(e), g interpolating log1p(e)/e at Chebyshev nodes of
/// [0, 1] (relative error 3.4e-8). Branch-free, so loops of it vectorize.
inline float softplusFast(float x) {
  float t = std::max(-std::fabs(x) * 1.4426950408889634f, -126.0f);
  float k = std::floor(t + 0.5f), f = (t - k) * 0.6931471805599453f;
  float p = 1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 +
            f * (1.0f / 120 + f * (1.0f / 720 + f * (1.0f / 5040)))))));
  int bits = (static_cast<int>(k) + 127) << 23;
  float e = p * __builtin_bit_cast(float, bits);
  static constexpr float g[] = {0.9999999659255097f,  -0.49999444976340807f,
                                0.333181217075448f,   -0.24835398988585736f,
                                0.19076880735962676f, -0.13602247622848157f,
                                0.07751608674395996f, -0.029074064679343068f,
                                0.00512610214135673f};
  float q = g[8];
  for (int i = 7; i >= 0; --i)
    q = q * e + g[i];
  return std::max(x, 0.0f) + q * e;
}

/// sum_t f(x[t * stride] + b) over `n` steps, in 16 double accumulators.
__attribute__((target_clones("avx512f", "avx2", "default"))) double
stepSum(const float *x, int64_t n, int64_t stride, float b, bool softplus) {
  double acc[16] = {};
  int64_t t = 0;
  if (stride == 1)
    for (; t + 16 <= n; t += 16)
      for (int i = 0; i < 16; ++i) {
        float v = x[t + i] + b;
        acc[i] += softplus ? softplusFast(v) : v;
      }
  double s = 0;
  for (; t < n; ++t) {
    float v = x[t * stride] + b;
    s += softplus ? softplusFast(v) : v;
  }
  for (double a : acc)
    s += a;
  return s;
}
} // namespace

extern "C" void _mlir_ciface_ssmcMpiStepSums(
    ssmc::abi::StridedMemRef<float, 3> *x, Buf *bias,
    ssmc::abi::StridedMemRef<float, 2> *out, int64_t timeDim, int64_t softplus,
    float lo, float hi) {
  const float *xs = x->aligned + x->offset;
  const float *bs = bias->aligned + bias->offset;
  float *o = out->aligned + out->offset;
  const int64_t a0 = x->sizes[0], a1 = x->sizes[1], a2 = x->sizes[2];
  const int64_t steps = timeDim == 1 ? a1 : a2, cols = timeDim == 1 ? a2 : a1;
  for (int64_t i = 0; i < a0; ++i)
    for (int64_t j = 0; j < cols; ++j) {
      float b = bias->sizes[0] ? bs[j] : 0.0f;
      const float *row = timeDim == 1 ? xs + i * a1 * a2 + j : xs + (i * a1 + j) * a2;
      double s = 0;
      if (lo <= -1e30f && hi >= 1e30f) {
        s = stepSum(row, steps, timeDim == 1 ? a2 : 1, b, softplus != 0);
      } else {
        for (int64_t t = 0; t < steps; ++t) {
          float v = row[t * (timeDim == 1 ? a2 : 1)] + b;
          v = softplus ? softplusFast(v) : v;
          s += std::min(std::max(v, lo), hi);
        }
      }
      o[i * cols + j] = static_cast<float>(s);
    }
}

extern "C" void _mlir_ciface_ssmcMpiSegmentSums(
    ssmc::abi::StridedMemRef<float, 3> *x, Buf *bias,
    ssmc::abi::StridedMemRef<float, 2> *out,
    ssmc::abi::StridedMemRef<int64_t, 1> *cu, int64_t timeDim,
    int64_t softplus, float lo, float hi) {
  using namespace ssmc::dist;
  const float *xs = x->aligned + x->offset;
  const float *bs = bias->aligned + bias->offset;
  const int64_t *c = cu->aligned + cu->offset;
  float *o = out->aligned + out->offset;
  const int64_t a1 = x->sizes[1], a2 = x->sizes[2];
  const int64_t steps = timeDim == 1 ? a1 : a2, cols = timeDim == 1 ? a2 : a1;
  const int64_t stride = timeDim == 1 ? a2 : 1;
  const int64_t S = out->sizes[0];
  if (x->sizes[0] != 1 || cu->sizes[0] != S + 1 || out->sizes[1] != cols)
    abortAll("ssmcMpiSegmentSums: inconsistent sizes");
  for (int64_t i = 0; i < S; ++i) {
    const int64_t t0 = c[i], t1 = c[i + 1];
    if (t0 < 0 || t1 < t0 || t1 > steps)
      abortAll("ssmcMpiSegmentSums: offsets outside the slice");
    for (int64_t j = 0; j < cols; ++j) {
      float b = bias->sizes[0] ? bs[j] : 0.0f;
      const float *row = (timeDim == 1 ? xs + j : xs + j * a2) + t0 * stride;
      double sum = 0;
      if (lo <= -1e30f && hi >= 1e30f) {
        sum = stepSum(row, t1 - t0, stride, b, softplus != 0);
      } else {
        for (int64_t t = 0; t < t1 - t0; ++t) {
          float v = row[t * stride] + b;
          v = softplus ? softplusFast(v) : v;
          sum += std::min(std::max(v, lo), hi);
        }
      }
      o[i * cols + j] = static_cast<float>(sum);
    }
  }
}

extern "C" void
_mlir_ciface_ssmcMpiLocalSeqlens(ssmc::abi::StridedMemRef<int64_t, 1> *cu,
                                 int64_t localLen,
                                 ssmc::abi::StridedMemRef<int64_t, 1> *out) {
  using namespace ssmc::dist;
  const int64_t n = cu->sizes[0];
  const int64_t *c = cu->aligned + cu->offset;
  int64_t *o = out->aligned + out->offset;
  if (out->sizes[0] != n || n < 1)
    abortAll("ssmcMpiLocalSeqlens: inconsistent sizes");
  // This slice's first step and the sequence's length: the lengths of
  // the slices before it, and of all.
  long long mine = localLen, before = 0, total = localLen;
#ifdef SSMC_HAVE_MPI
  if (size() > 1) {
    MPI_Request req;
    await(MPI_Iexscan(&mine, &before, 1, MPI_LONG_LONG, MPI_SUM,
                      MPI_COMM_WORLD, &req),
          req, "MPI_Exscan (slice offsets)");
    if (rank() == 0)
      before = 0;
    await(MPI_Iallreduce(&mine, &total, 1, MPI_LONG_LONG, MPI_SUM,
                         MPI_COMM_WORLD, &req),
          req, "MPI_Allreduce (sequence length)");
  }
#endif
  if (c[0] != 0 || c[n - 1] != total)
    abortAll("cu_seqlens must start at 0 and end at the sequence length " +
             std::to_string(total) + " (got " + std::to_string(c[0]) +
             " .. " + std::to_string(c[n - 1]) + ")");
  for (int64_t i = 0; i < n; ++i) {
    if (i && c[i] < c[i - 1])
      abortAll("cu_seqlens must not decrease (offset " + std::to_string(i) +
               ")");
    o[i] = std::min<int64_t>(std::max<int64_t>(c[i] - before, 0), localLen);
  }
}

#ifdef SSMC_HAVE_MPI
namespace {
int64_t composeN = 0, composeNP = 0;
/// MPI_Exscan's operator: inout = (the map in, then the map inout), for
/// `len` (P, S) pairs of composeNP + composeN floats.
void composeAffine(void *in, void *inout, int *len, MPI_Datatype *) {
  const int64_t n = composeN, np = composeNP, w = n + np;
  for (int k = 0; k < *len; ++k) {
    const float *a = static_cast<const float *>(in) + k * w;
    float *b = static_cast<float *>(inout) + k * w;
    std::vector<float> sa(a + np, a + w);
    // S: P_b S_a + S_b; then P: P_b P_a.
    std::vector<float> out(b + np, b + w);
    std::vector<float> t(sa);
    applyAffine(t.data(), b, np, out.data(), n);
    std::memcpy(b + np, t.data(), n * sizeof(float));
    for (int64_t i = 0; i < np; ++i)
      b[i] *= a[i];
  }
}
} // namespace
#endif

extern "C" void _mlir_ciface_ssmcMpiHalo(ssmc::abi::StridedMemRef<float, 3> *x,
                                         ssmc::abi::StridedMemRef<float, 3> *init,
                                         ssmc::abi::StridedMemRef<float, 3> *halo) {
  using namespace ssmc::dist;
  const int64_t rows = halo->sizes[0] * halo->sizes[1], H = halo->sizes[2];
  const int64_t L = x->sizes[2];
  const float *xs = x->aligned + x->offset;
  float *hs = halo->aligned + halo->offset;
  const bool hasInit = init->sizes[0] * init->sizes[1] * init->sizes[2] != 0;
  if (hasInit && init->sizes[2] != H)
    abortAll("ssmcMpiHalo: initial state of another width");
  // The start of the sequence: the program's initial state, or zero.
  if (hasInit)
    std::memcpy(hs, init->aligned + init->offset, rows * H * sizeof(float));
  else
    std::memset(hs, 0, rows * H * sizeof(float));
  const int r = rank(), R = size();
  if (R == 1 || H == 0)
    return;
#ifdef SSMC_HAVE_MPI
  // Every rank's last min(L, H) steps, right-aligned in [rows, H], and L.
  std::vector<float> tail(rows * H, 0.0f), tails(rows * H * R);
  const int64_t k = std::min(L, H);
  for (int64_t i = 0; i < rows; ++i)
    std::memcpy(&tail[i * H + H - k], xs + i * L + L - k, k * sizeof(float));
  long long mine = L;
  std::vector<long long> lens(R);
  sent += (rows * H * sizeof(float) + sizeof mine) * (R - 1);
  MPI_Request req;
  await(MPI_Iallgather(&mine, 1, MPI_LONG_LONG, lens.data(), 1, MPI_LONG_LONG,
                       MPI_COMM_WORLD, &req),
        req, "MPI_Allgather (halo lengths)");
  await(MPI_Iallgather(tail.data(), static_cast<int>(rows * H), MPI_FLOAT,
                       tails.data(), static_cast<int>(rows * H), MPI_FLOAT,
                       MPI_COMM_WORLD, &req),
        req, "MPI_Allgather (halos)");
  // Fill the halo from its end: rank r-1's last steps, then r-2's, ...
  int64_t filled = 0;
  for (int j = r - 1; j >= 0 && filled < H; --j) {
    const int64_t take = std::min<int64_t>(std::min<long long>(lens[j], H), H - filled);
    for (int64_t i = 0; i < rows; ++i)
      std::memcpy(hs + i * H + H - filled - take,
                  &tails[(j * rows + i) * H + H - take], take * sizeof(float));
    filled += take;
  }
  // What is left before the first step keeps init (or zero): it is the
  // state before the sequence, right-aligned as the steps were.
  if (filled < H && hasInit) {
    const float *is = init->aligned + init->offset;
    for (int64_t i = 0; i < rows; ++i)
      std::memcpy(hs + i * H, is + i * H + filled, (H - filled) * sizeof(float));
  }
#else
  (void)xs;
  (void)L;
  (void)r;
  abortAll("more than one rank without MPI");
#endif
}

namespace {
/// Every rank's slice length (an all-gather; one entry without MPI).
std::vector<long long> sliceLengths(long long mine) {
  using namespace ssmc::dist;
  std::vector<long long> lens(size(), mine);
#ifdef SSMC_HAVE_MPI
  if (size() > 1) {
    MPI_Request req;
    await(MPI_Iallgather(&mine, 1, MPI_LONG_LONG, lens.data(), 1,
                         MPI_LONG_LONG, MPI_COMM_WORLD, &req),
          req, "MPI_Allgather (slice lengths)");
  }
#endif
  return lens;
}
} // namespace

extern "C" void _mlir_ciface_ssmcMpiPackedHalo(
    ssmc::abi::StridedMemRef<float, 3> *x,
    ssmc::abi::StridedMemRef<float, 3> *init,
    ssmc::abi::StridedMemRef<int64_t, 1> *cu,
    ssmc::abi::StridedMemRef<float, 3> *halo) {
  using namespace ssmc::dist;
  const int64_t S = halo->sizes[0], D = halo->sizes[1], H = halo->sizes[2];
  const bool hasInit = init->sizes[0] * init->sizes[1] * init->sizes[2] != 0;
  if (x->sizes[0] != 1 || x->sizes[1] != D || cu->sizes[0] != S + 1 ||
      (hasInit && (init->sizes[0] != S || init->sizes[2] != H)))
    abortAll("ssmcMpiPackedHalo: inconsistent sizes");
  // The H steps before this slice, whatever sequence they belong to.
  std::vector<float> raw(D * H);
  ssmc::abi::StridedMemRef<float, 3> rawRef{raw.data(), raw.data(), 0,
                                            {1, D, H}, {D * H, H, 1}};
  std::vector<float> none;
  ssmc::abi::StridedMemRef<float, 3> noInit{none.data(), none.data(), 0,
                                            {0, 0, 0}, {0, 0, 1}};
  _mlir_ciface_ssmcMpiHalo(x, &noInit, &rawRef);
  std::vector<long long> lens = sliceLengths(x->sizes[2]);
  int64_t a = 0;
  for (int j = 0; j < rank(); ++j)
    a += lens[j];
  const int64_t *c = cu->aligned + cu->offset;
  const float *is = init->aligned + init->offset;
  float *hs = halo->aligned + halo->offset;
  for (int64_t i = 0; i < S; ++i)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < H; ++j) {
        // Step p = a - H + j: sequence i's own input when the sequence
        // runs through the slice start, its initial state before its first
        // step (or zero); a sequence that starts in or after the slice, or
        // ended before it, starts from its initial state.
        const int64_t p = a - H + j;
        const bool through = c[i] < a && a < c[i + 1];
        float v = 0.0f;
        if (through && p >= c[i])
          v = raw[d * H + j];
        else if (hasInit)
          v = is[(i * D + d) * H + (through ? H + (p - c[i]) : j)];
        hs[(i * D + d) * H + j] = v;
      }
}

extern "C" void _mlir_ciface_ssmcMpiPackedFinals(Buf *finals,
                                                 ssmc::abi::StridedMemRef<int64_t, 1> *cu,
                                                 int64_t localLen, Buf *out) {
  using namespace ssmc::dist;
  const int64_t n = finals->sizes[0], S = cu->sizes[0] - 1;
  if (out->sizes[0] != n || S < 0 || (S && n % S))
    abortAll("ssmcMpiPackedFinals: inconsistent sizes");
  const int64_t row = S ? n / S : 0;
  const float *f = finals->aligned + finals->offset;
  float *o = out->aligned + out->offset;
  std::vector<long long> lens = sliceLengths(localLen);
  const int R = size();
  std::vector<float> all(f, f + n);
#ifdef SSMC_HAVE_MPI
  if (R > 1) {
    all.resize(n * R);
    MPI_Request req;
    sent += n * sizeof(float) * (R - 1);
    await(MPI_Iallgather(f, static_cast<int>(n), MPI_FLOAT, all.data(),
                         static_cast<int>(n), MPI_FLOAT, MPI_COMM_WORLD, &req),
          req, "MPI_Allgather (final states)");
  }
#endif
  const int64_t *c = cu->aligned + cu->offset;
  for (int64_t i = 0; i < S; ++i) {
    // The rank holding the sequence's last step (for an empty sequence,
    // its position), whose final state for it is the sequence's.
    const int64_t q = c[i + 1] > c[i] ? c[i + 1] - 1 : c[i];
    int owner = R - 1;
    int64_t begin = 0;
    for (int r = 0; r < R; ++r) {
      if (begin <= q && q < begin + lens[r]) {
        owner = r;
        break;
      }
      begin += lens[r];
    }
    std::memcpy(o + i * row, all.data() + owner * n + i * row,
                row * sizeof(float));
  }
}

extern "C" int64_t ssmcMpiRank() { return ssmc::dist::rank(); }

extern "C" void _mlir_ciface_ssmcMpiCombineAffine(Buf *decay, Buf *state,
                                                  Buf *sin) {
  using namespace ssmc::dist;
  const int64_t n = sin->sizes[0], np = decay->sizes[0];
  const float *p = decay->aligned + decay->offset;
  const float *l = state->aligned + state->offset;
  float *s = sin->aligned + sin->offset;
  if (state->sizes[0] != n || (np && n % np))
    abortAll("ssmcMpiCombineAffine: inconsistent state sizes");
  std::memcpy(s, l, n * sizeof(float));
  const int r = rank(), R = size();
  if (R == 1)
    return;
#ifdef SSMC_HAVE_MPI
  MPI_Request req;
  if (combine() == Combine::Chain) {
    // Rank r waits for the state entering it, extends it by its own map
    // and passes it on; rank 0 starts the chain with its final state.
    std::vector<float> out(l, l + n);
    if (r > 0) {
      await(MPI_Irecv(s, static_cast<int>(n), MPI_FLOAT, r - 1, 9,
                      MPI_COMM_WORLD, &req),
            req, "MPI_Recv (state chain)");
      std::memcpy(out.data(), s, n * sizeof(float));
      applyAffine(out.data(), p, np, l, n);
    }
    if (r + 1 < R) {
      sent += n * sizeof(float);
      await(MPI_Isend(out.data(), static_cast<int>(n), MPI_FLOAT, r + 1, 9,
                      MPI_COMM_WORLD, &req),
            req, "MPI_Send (state chain)");
    }
    return;
  }
  const int64_t w = np + n;
  if (combine() == Combine::ExScan) {
    // A parallel prefix (MPI_Exscan) of the maps, composed by an operator
    // of ours: rank r receives the composition of ranks 0..r-1, whose
    // state part is its incoming state (rank 0's map is constant).
    std::vector<float> mine(w), prefix(w);
    std::memcpy(mine.data(), p, np * sizeof(float));
    std::memcpy(mine.data() + np, l, n * sizeof(float));
    MPI_Datatype pair;
    check(MPI_Type_contiguous(static_cast<int>(w), MPI_FLOAT, &pair),
          "MPI_Type_contiguous");
    check(MPI_Type_commit(&pair), "MPI_Type_commit");
    MPI_Op op;
    composeN = n;
    composeNP = np;
    check(MPI_Op_create(&composeAffine, /*commute=*/0, &op), "MPI_Op_create");
    int rounds = 0;
    while ((1 << rounds) < R)
      ++rounds;
    sent += rounds * w * sizeof(float);
    await(MPI_Iexscan(mine.data(), prefix.data(), 1, pair, op, MPI_COMM_WORLD,
                      &req),
          req, "MPI_Exscan (states)");
    MPI_Op_free(&op);
    MPI_Type_free(&pair);
    if (r > 0)
      std::memcpy(s, prefix.data() + np, n * sizeof(float));
    return;
  }
  // All-gather every rank's (P, S) and carry rank 0's final state through
  // the maps of ranks 1..r-1.
  std::vector<float> mine(w), all(w * R);
  std::memcpy(mine.data(), p, np * sizeof(float));
  std::memcpy(mine.data() + np, l, n * sizeof(float));
  sent += w * sizeof(float) * (R - 1);
  await(MPI_Iallgather(mine.data(), static_cast<int>(w), MPI_FLOAT,
                       all.data(), static_cast<int>(w), MPI_FLOAT,
                       MPI_COMM_WORLD, &req),
        req, "MPI_Allgather (states)");
  if (r == 0)
    return;
  std::memcpy(s, all.data() + np, n * sizeof(float));
  for (int j = 1; j < r; ++j)
    applyAffine(s, all.data() + j * w, np, all.data() + j * w + np, n);
#else
  (void)r;
  (void)p;
  abortAll("more than one rank without MPI");
#endif
}
