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
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

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
gatherBytes(const std::vector<char> &local, int root) {
  std::vector<std::vector<char>> all;
  if (theSize == 1) {
    all.push_back(local);
    return all;
  }
#ifdef SSMC_HAVE_MPI
  long long n = static_cast<long long>(local.size());
  std::vector<long long> counts(theSize);
  MPI_Request req;
  await(MPI_Igather(&n, 1, MPI_LONG_LONG, counts.data(), 1, MPI_LONG_LONG,
                    root, MPI_COMM_WORLD, &req),
        req, "MPI_Gather");
  if (theRank != root) {
    sent += local.size() + sizeof n;
    // Large tensors in pieces under INT_MAX bytes.
    for (size_t off = 0; off < local.size(); off += 1 << 30) {
      int piece = static_cast<int>(std::min<size_t>(1 << 30, local.size() - off));
      await(MPI_Isend(local.data() + off, piece, MPI_BYTE, root, 7,
                      MPI_COMM_WORLD, &req),
            req, "MPI_Send");
    }
    return all;
  }
  all.resize(theSize);
  all[root] = local;
  for (int r = 0; r < theSize; ++r) {
    if (r == root)
      continue;
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
  (void)root;
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

/// The maps the combine composes, s -> P s + l on a state of n floats:
/// with k == 0, P diagonal (`applyAffine`); with k > 0, P is np / (k k)
/// dense k x k blocks, block g multiplying the k x (n / blocks) block g of
/// the state from the left (ssm.delta_rule's transition per head).
struct MapShape {
  int64_t n = 0, np = 0, k = 0;
  int64_t blocks() const { return np / (k * k); }
  int64_t cols() const { return n / (blocks() * k); }
};

/// out = P x (+ l when given) per block, x of `cols` columns; out may not
/// alias x.
void blockMatMul(float *out, const float *p, const float *x, const float *l,
                 int64_t blocks, int64_t k, int64_t cols) {
  for (int64_t g = 0; g < blocks; ++g) {
    const float *P = p + g * k * k, *X = x + g * k * cols;
    float *O = out + g * k * cols;
    for (int64_t i = 0; i < k; ++i) {
      float *row = O + i * cols;
      if (l)
        std::memcpy(row, l + (g * k + i) * cols, cols * sizeof(float));
      else
        std::memset(row, 0, cols * sizeof(float));
      for (int64_t j = 0; j < k; ++j) {
        const float a = P[i * k + j];
        const float *xr = X + j * cols;
        for (int64_t c = 0; c < cols; ++c)
          row[c] += a * xr[c];
      }
    }
  }
}

/// s = P s + l for a map of shape `m`.
[[maybe_unused]] void applyMap(float *s, const float *p, const float *l,
                               const MapShape &m) {
  if (m.k == 0)
    return applyAffine(s, p, m.np, l, m.n);
  std::vector<float> t(m.n);
  blockMatMul(t.data(), p, s, l, m.blocks(), m.k, m.cols());
  std::memcpy(s, t.data(), m.n * sizeof(float));
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

namespace {
/// out[t * cols + j] = the sum over the steps s up to t (from the end with
/// `reverse`) of clamp(f(x[s * cols + j] + bias[j]), lo, hi), f softplus
/// or the identity, for `steps` rows of `cols` columns (one accumulator
/// per column in `acc`, double: the sums feed exp). Columns in the inner
/// loop, so it vectorizes over them.
__attribute__((target_clones("avx512f", "avx2", "default"))) void
prefixColumns(const float *x, const float *bias, float *out, int64_t steps,
              int64_t cols, bool softplus, float lo, float hi, bool reverse,
              double *acc) {
  for (int64_t j = 0; j < cols; ++j)
    acc[j] = 0;
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t t = reverse ? steps - 1 - k : k;
    const float *row = x + t * cols;
    float *o = out + t * cols;
    for (int64_t j = 0; j < cols; ++j) {
      float v = row[j] + (bias ? bias[j] : 0.0f);
      v = softplus ? softplusFast(v) : v;
      acc[j] += std::min(std::max(v, lo), hi);
      o[j] = static_cast<float>(acc[j]);
    }
  }
}
} // namespace

extern "C" void _mlir_ciface_ssmcMpiStepPrefixSums(
    ssmc::abi::StridedMemRef<float, 3> *x, Buf *bias,
    ssmc::abi::StridedMemRef<float, 3> *out, int64_t timeDim,
    int64_t softplus, float lo, float hi, int64_t reverse) {
  const float *xs = x->aligned + x->offset;
  const float *bs = bias->aligned + bias->offset;
  float *o = out->aligned + out->offset;
  const int64_t a0 = x->sizes[0], a1 = x->sizes[1], a2 = x->sizes[2];
  const int64_t cols = timeDim == 1 ? a2 : a1;
  if ((timeDim != 1 && timeDim != 2) || out->sizes[0] != a0 ||
      out->sizes[1] != a1 || out->sizes[2] != a2 ||
      (bias->sizes[0] && bias->sizes[0] != cols))
    ssmc::dist::abortAll("ssmcMpiStepPrefixSums: inconsistent sizes");
  const float *b = bias->sizes[0] ? bs : nullptr;
  if (timeDim == 1) {
    // [A0, L, cols]: every step a row of columns.
    std::vector<double> acc(a2);
    for (int64_t i = 0; i < a0; ++i)
      prefixColumns(xs + i * a1 * a2, b, o + i * a1 * a2, a1, a2,
                    softplus != 0, lo, hi, reverse != 0, acc.data());
    return;
  }
  // [A0, cols, L]: every column a contiguous row of steps.
  double acc = 0;
  for (int64_t i = 0; i < a0; ++i)
    for (int64_t j = 0; j < a1; ++j)
      prefixColumns(xs + (i * a1 + j) * a2, b ? b + j : nullptr,
                    o + (i * a1 + j) * a2, a2, 1, softplus != 0, lo, hi,
                    reverse != 0, &acc);
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
MapShape composeShape;
/// MPI_Exscan's operator: inout = (the map in, then the map inout), for
/// `len` (P, S) pairs of np + n floats.
void composeAffine(void *in, void *inout, int *len, MPI_Datatype *) {
  const MapShape m = composeShape;
  const int64_t n = m.n, np = m.np, w = n + np;
  for (int i = 0; i < *len; ++i) {
    const float *a = static_cast<const float *>(in) + i * w;
    float *b = static_cast<float *>(inout) + i * w;
    // S: P_b S_a + S_b; then P: P_b P_a.
    std::vector<float> t(a + np, a + w);
    applyMap(t.data(), b, b + np, m);
    std::memcpy(b + np, t.data(), n * sizeof(float));
    if (m.k == 0) {
      for (int64_t j = 0; j < np; ++j)
        b[j] *= a[j];
    } else {
      std::vector<float> pb(b, b + np);
      blockMatMul(b, pb.data(), a, nullptr, m.blocks(), m.k, m.k);
    }
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
extern "C" int64_t ssmcMpiSize() { return ssmc::dist::size(); }

namespace {
#ifdef SSMC_HAVE_MPI
/// The world's ranks in reverse order (created on first use; every rank
/// reaches it in the same combine, so the split is collective).
MPI_Comm reversedWorld() {
  static MPI_Comm comm = [] {
    MPI_Comm c;
    ssmc::dist::check(MPI_Comm_split(MPI_COMM_WORLD, 0,
                                     ssmc::dist::size() - 1 -
                                         ssmc::dist::rank(),
                                     &c),
                      "MPI_Comm_split (reversed ranks)");
    return c;
  }();
  return comm;
}
#endif

/// The combine of the entry points: `sin` = rank 0's final state carried
/// through the maps (P, S) of ranks 1..r-1, in the form SSMC_MPI_COMBINE
/// picks. With `reverse` the ranks count from the last (a scan that runs
/// right to left): the last rank's final state through the maps of ranks
/// R-2..r+1.
void combineStates(const float *p, const float *l, float *s, MapShape m,
                   bool reverse = false) {
  using namespace ssmc::dist;
  const int64_t n = m.n, np = m.np;
  std::memcpy(s, l, n * sizeof(float));
  const int R = size(), r = reverse ? R - 1 - rank() : rank();
  if (R == 1)
    return;
#ifdef SSMC_HAVE_MPI
  MPI_Comm comm = reverse ? reversedWorld() : MPI_COMM_WORLD;
  MPI_Request req;
  if (combine() == Combine::Chain) {
    // Rank r waits for the state entering it, extends it by its own map
    // and passes it on; rank 0 starts the chain with its final state.
    std::vector<float> out(l, l + n);
    if (r > 0) {
      await(MPI_Irecv(s, static_cast<int>(n), MPI_FLOAT, r - 1, 9,
                      comm, &req),
            req, "MPI_Recv (state chain)");
      std::memcpy(out.data(), s, n * sizeof(float));
      applyMap(out.data(), p, l, m);
    }
    if (r + 1 < R) {
      sent += n * sizeof(float);
      await(MPI_Isend(out.data(), static_cast<int>(n), MPI_FLOAT, r + 1, 9,
                      comm, &req),
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
    composeShape = m;
    check(MPI_Op_create(&composeAffine, /*commute=*/0, &op), "MPI_Op_create");
    int rounds = 0;
    while ((1 << rounds) < R)
      ++rounds;
    sent += rounds * w * sizeof(float);
    await(MPI_Iexscan(mine.data(), prefix.data(), 1, pair, op, comm,
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
                       comm, &req),
        req, "MPI_Allgather (states)");
  if (r == 0)
    return;
  std::memcpy(s, all.data() + np, n * sizeof(float));
  for (int j = 1; j < r; ++j)
    applyMap(s, all.data() + j * w, all.data() + j * w + np, m);
#else
  (void)r;
  (void)p;
  abortAll("more than one rank without MPI");
#endif
}
} // namespace

extern "C" void _mlir_ciface_ssmcMpiCombineAffine(Buf *decay, Buf *state,
                                                  Buf *sin) {
  const int64_t n = sin->sizes[0], np = decay->sizes[0];
  if (state->sizes[0] != n || (np && n % np))
    ssmc::dist::abortAll("ssmcMpiCombineAffine: inconsistent state sizes");
  combineStates(decay->aligned + decay->offset, state->aligned + state->offset,
                sin->aligned + sin->offset, MapShape{n, np, 0});
}

extern "C" void _mlir_ciface_ssmcMpiCombineAffineReverse(Buf *decay,
                                                         Buf *state, Buf *sin) {
  const int64_t n = sin->sizes[0], np = decay->sizes[0];
  if (state->sizes[0] != n || (np && n % np))
    ssmc::dist::abortAll(
        "ssmcMpiCombineAffineReverse: inconsistent state sizes");
  combineStates(decay->aligned + decay->offset, state->aligned + state->offset,
                sin->aligned + sin->offset, MapShape{n, np, 0},
                /*reverse=*/true);
}

extern "C" void _mlir_ciface_ssmcMpiCombineMatrix(Buf *decay, Buf *state,
                                                  Buf *sin, int64_t k) {
  const int64_t n = sin->sizes[0], np = decay->sizes[0];
  if (k <= 0 || state->sizes[0] != n || np % (k * k) || np == 0 ||
      n % (np / (k * k)) || (n / (np / (k * k))) % k)
    ssmc::dist::abortAll("ssmcMpiCombineMatrix: inconsistent state sizes");
  combineStates(decay->aligned + decay->offset, state->aligned + state->offset,
                sin->aligned + sin->offset, MapShape{n, np, k});
}

//===----------------------------------------------------------------------===//
// Ring attention: softmax attention over the ranks' slices
//===----------------------------------------------------------------------===//

namespace {
using Buf4 = ssmc::abi::StridedMemRef<float, 4>;
using Buf64 = ssmc::abi::StridedMemRef<int64_t, 1>;

/// Writes the strided 4-D view `m` row-major to `out` from element `at`
/// on (resized to fit).
void copyContiguous(const Buf4 *m, std::vector<float> &out, size_t at = 0) {
  const int64_t *n = m->sizes, *s = m->strides;
  const float *base = m->aligned + m->offset;
  out.resize(at + n[0] * n[1] * n[2] * n[3]);
  float *o = out.data() + at;
  for (int64_t a = 0; a < n[0]; ++a)
    for (int64_t b = 0; b < n[1]; ++b)
      for (int64_t c = 0; c < n[2]; ++c, o += n[3]) {
        const float *row = base + a * s[0] + b * s[1] + c * s[2];
        if (s[3] == 1) {
          std::copy(row, row + n[3], o);
          continue;
        }
        for (int64_t e = 0; e < n[3]; ++e)
          o[e] = row[e * s[3]];
      }
}

/// Element i of a rank-1 i64 buffer.
int64_t at(const Buf64 *m, int64_t i) {
  return m->aligned[m->offset + i * m->strides[0]];
}

/// A batch entry, or a packed sequence: its queries [q0, q0 + sq) and keys
/// [k0, k0 + sk) in positions of the whole sequence (sk after seqused_k).
struct KeySegment {
  int64_t b, q0, sq, k0, sk;
  /// Query gq's key position is gq + shift(): the op's bottom-right
  /// alignment pos = (gq - q0) + sk - sq, counted from k0.
  int64_t shift() const { return k0 + sk - sq - q0; }
};

/// The keys [lo, hi] a query row sees (none when lo > hi) and its key
/// position `pos` (ALiBi's distance is |pos - j|), in positions of the
/// whole sequence.
struct RowKeys {
  int64_t lo, hi, pos;
};

/// Which keys each query sees, from what every rank holds alike: the op's
/// window (left, right; -1 unbounded), the packed offsets and key counts
/// (replicated operands) and every rank's query and key slice lengths.
/// Every rank computes the same answers, so they agree on which blocks
/// travel without exchanging anything more.
class AttentionLayout {
public:
  AttentionLayout(int64_t B, int64_t left, int64_t right,
                  std::vector<int64_t> qOff, std::vector<int64_t> kOff,
                  const Buf64 *cuQ, const Buf64 *cuK, const Buf64 *used)
      : left(left), right(right), qOff(std::move(qOff)),
        kOff(std::move(kOff)) {
    using ssmc::dist::abortAll;
    const int64_t Lq = this->qOff.back(), Lk = this->kOff.back();
    const int64_t nUsed = used->sizes[0];
    packed = cuQ->sizes[0] > 0;
    if (!packed) {
      if (cuK->sizes[0] > 0)
        abortAll("ssmcMpiRingAttention: cu_seqlens_k without cu_seqlens_q");
      if (nUsed != 0 && nUsed != B)
        abortAll("ssmcMpiRingAttention: seqused_k must hold one count per "
                 "batch entry");
      for (int64_t b = 0; b < B; ++b)
        segs.push_back({b, 0, Lq, 0,
                        nUsed ? std::clamp<int64_t>(at(used, b), 0, Lk) : Lk});
      return;
    }
    const int64_t S = cuQ->sizes[0] - 1;
    if (B != 1)
      abortAll("ssmcMpiRingAttention: packed sequences need batch size 1");
    if (cuK->sizes[0] != S + 1)
      abortAll("ssmcMpiRingAttention: cu_seqlens_k must hold as many offsets "
               "as cu_seqlens_q");
    if (nUsed != 0 && nUsed != S)
      abortAll("ssmcMpiRingAttention: seqused_k must hold one count per "
               "packed sequence");
    auto checkOffsets = [&](const Buf64 *cu, int64_t len, const char *name) {
      bool ok = at(cu, 0) == 0 && at(cu, S) == len;
      for (int64_t s = 0; s < S; ++s)
        ok = ok && at(cu, s) <= at(cu, s + 1);
      if (!ok)
        abortAll(std::string("ssmcMpiRingAttention: '") + name +
                 "' must start at 0, never decrease and end at the "
                 "sequence's length " + std::to_string(len) + " (got " +
                 std::to_string(at(cu, S)) + ")");
    };
    checkOffsets(cuQ, Lq, "cu_seqlens_q");
    checkOffsets(cuK, Lk, "cu_seqlens_k");
    for (int64_t s = 0; s < S; ++s) {
      int64_t sk = at(cuK, s + 1) - at(cuK, s);
      if (nUsed)
        sk = std::clamp<int64_t>(at(used, s), 0, sk);
      segs.push_back({0, at(cuQ, s), at(cuQ, s + 1) - at(cuQ, s), at(cuK, s),
                      sk});
    }
  }

  /// The keys query `gq` (a position of the whole sequence) of batch entry
  /// `b` sees.
  RowKeys rowKeys(int64_t b, int64_t gq) const {
    const KeySegment *g = packed ? segmentAt(gq) : &segs[b];
    if (!g || gq < g->q0 || gq >= g->q0 + g->sq)
      return {1, 0, 0};
    const int64_t pos = gq + g->shift();
    int64_t lo = g->k0, hi = g->k0 + g->sk - 1;
    if (left >= 0)
      lo = std::max(lo, pos - left);
    if (right >= 0)
      hi = std::min(hi, pos + right);
    return {lo, hi, pos};
  }

  /// Whether a query of rank t sees a key of rank j. The keys a run of
  /// queries of one segment sees are contiguous ([pos - left, pos + right]
  /// slides by one per query), so each segment is one interval test.
  bool sees(int t, int j) const {
    const int64_t qa = qOff[t], qb = qOff[t + 1], ka = kOff[j],
                  kb = kOff[j + 1];
    if (qa >= qb || ka >= kb)
      return false;
    size_t first = 0;
    if (packed)
      if (const KeySegment *g = segmentAt(qa))
        first = g - segs.data();
    for (size_t s = first; s < segs.size(); ++s) {
      const KeySegment &g = segs[s];
      if (packed && g.q0 >= qb)
        break;
      const int64_t r0 = std::max(qa, g.q0),
                    r1 = std::min(qb, g.q0 + g.sq) - 1;
      int64_t c0 = std::max(ka, g.k0), c1 = std::min(kb, g.k0 + g.sk) - 1;
      if (r0 > r1)
        continue;
      if (left >= 0)
        c0 = std::max(c0, r0 + g.shift() - left);
      if (right >= 0)
        c1 = std::min(c1, r1 + g.shift() + right);
      if (c0 <= c1)
        return true;
    }
    return false;
  }

  const std::vector<int64_t> &queryOffsets() const { return qOff; }
  const std::vector<int64_t> &keyOffsets() const { return kOff; }

private:
  /// The last packed sequence starting at or before gq (empty ones before
  /// a non-empty one at the same start come first); null before all.
  const KeySegment *segmentAt(int64_t gq) const {
    auto it = std::upper_bound(
        segs.begin(), segs.end(), gq,
        [](int64_t x, const KeySegment &g) { return x < g.q0; });
    return it == segs.begin() ? nullptr : &*std::prev(it);
  }

  int64_t left, right;
  bool packed = false;
  std::vector<KeySegment> segs;
  std::vector<int64_t> qOff, kOff;
};

//===----------------------------------------------------------------------===//
// The fold's kernels: 16 floats per vector (GCC vector extensions, so each
// instruction set's build maps them to its registers: one zmm, two ymm or
// four xmm), always inlined into the per-ISA entry points below so that
// each is compiled with that entry's target features.
//===----------------------------------------------------------------------===//

#define SSMC_FOLD_INLINE inline __attribute__((always_inline))
constexpr int kLanes = 16;
typedef float Vec __attribute__((vector_size(64)));
typedef int32_t IVec __attribute__((vector_size(64)));

SSMC_FOLD_INLINE void loadVec(Vec &v, const float *p) {
  __builtin_memcpy(&v, p, sizeof v);
}
SSMC_FOLD_INLINE void storeVec(float *p, const Vec &v) {
  __builtin_memcpy(p, &v, sizeof v);
}
/// mask ? a : b per lane (mask lanes all ones or zero).
SSMC_FOLD_INLINE void selectVec(Vec &out, const IVec &mask, const Vec &a,
                                const Vec &b) {
  out = (Vec)(((IVec)a & mask) | ((IVec)b & ~mask));
}
SSMC_FOLD_INLINE float horizontalMax(const Vec &v) {
  float m = v[0];
  for (int t = 1; t < kLanes; ++t)
    m = std::max(m, v[t]);
  return m;
}

/// exp(x) for x <= 0 lane-wise: 2^k * 2^f with k = rint(x log2 e), f in
/// [-1/2, 1/2] (a degree-7 Taylor polynomial of e^(f ln 2), relative error
/// < 1e-7), 0 below -87 (and for -inf).
SSMC_FOLD_INLINE void expNonPositive(Vec &out, const Vec &x) {
  const Vec floor126 = Vec{} - 126.0f;
  Vec t = x * 1.4426950408889634f;
  selectVec(t, t < floor126, floor126, t);
  // rint for |t| < 2^22: the sum rounds away the fraction.
  const Vec k = (t + 12582912.0f) - 12582912.0f;
  const Vec f = (t - k) * 0.6931471805599453f;
  const Vec p =
      1.0f + f * (1.0f + f * (0.5f + f * (1.0f / 6 + f * (1.0f / 24 +
      f * (1.0f / 120 + f * (1.0f / 720 + f * (1.0f / 5040)))))));
  const IVec bits = (__builtin_convertvector(k, IVec) + 127) << 23;
  const Vec r = p * (Vec)bits;
  selectVec(out, x < -87.0f, Vec{}, r);
}

/// tanh(x) lane-wise: sign(x) (1 - e) / (1 + e), e = exp(-2|x|) (absolute
/// error a few 1e-8, so softcap * tanh(s / softcap) is within softcap *
/// 1e-7 of the score).
SSMC_FOLD_INLINE void tanhVec(Vec &out, const Vec &x) {
  const IVec sign = (IVec)x & (int32_t)0x80000000;
  const Vec ax = (Vec)((IVec)x & 0x7fffffff);
  Vec e;
  expNonPositive(e, -2.0f * ax);
  const Vec r = (1.0f - e) / (1.0f + e);
  out = (Vec)((IVec)r | sign);
}

/// C[R, 16 W] (+)= A[R, k] B[k, 16 W]: A's row r at a + r * lda (its k
/// entries consecutive), B's row x at b + x * ldb, C's row r at c + r * ldc.
/// The R x W accumulator vectors stay in registers; each B vector is loaded
/// once for the R rows. The one micro-kernel of the fold: the scores
/// (A = queries, B = K^T) and the weighted values (A = weights, B = V).
template <int R, int W, bool Accumulate>
SSMC_FOLD_INLINE void gemmTile(const float *a, int64_t lda, const float *b,
                               int64_t ldb, int64_t k, float *c, int64_t ldc) {
  Vec acc[R][W];
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < W; ++w) {
      if (Accumulate)
        loadVec(acc[r][w], c + r * ldc + w * kLanes);
      else
        acc[r][w] = Vec{};
    }
  for (int64_t x = 0; x < k; ++x) {
    Vec bv[W];
    for (int w = 0; w < W; ++w)
      loadVec(bv[w], b + x * ldb + w * kLanes);
    for (int r = 0; r < R; ++r) {
      const float av = a[r * lda + x];
      for (int w = 0; w < W; ++w)
        acc[r][w] += av * bv[w];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int w = 0; w < W; ++w)
      storeVec(c + r * ldc + w * kLanes, acc[r][w]);
}

/// gemmTile over `cols` columns (a multiple of 16): tiles of 16 W, then of
/// 16.
template <int R, int W, bool Accumulate>
SSMC_FOLD_INLINE void gemmRows(const float *a, int64_t lda, const float *b,
                               int64_t ldb, int64_t k, float *c, int64_t ldc,
                               int64_t cols) {
  int64_t e = 0;
  for (; e + W * kLanes <= cols; e += W * kLanes)
    gemmTile<R, W, Accumulate>(a, lda, b + e, ldb, k, c + e, ldc);
  for (; e < cols; e += kLanes)
    gemmTile<R, 1, Accumulate>(a, lda, b + e, ldb, k, c + e, ldc);
}

/// Softcap and ALiBi on one row's raw scores s[0, cols) (key `first` + j
/// at s[j]; those in [begin, end] are seen, the others become -inf);
/// returns their maximum.
SSMC_FOLD_INLINE float finishScores(float *s, int64_t begin, int64_t end,
                                    int64_t cols, float softcap, float slope,
                                    int64_t pos, int64_t first) {
  Vec lane;
  for (int t = 0; t < kLanes; ++t)
    lane[t] = static_cast<float>(t);
  const Vec minusInf = Vec{} - INFINITY;
  Vec best = minusInf;
  for (int64_t j = 0; j < cols; j += kLanes) {
    Vec x;
    loadVec(x, s + j);
    if (softcap > 0) {
      Vec th;
      tanhVec(th, x * (1.0f / softcap));
      x = softcap * th;
    }
    if (slope != 0) {
      // |pos - key|, exact in f32 below 2^24.
      const Vec dist = static_cast<float>(pos - first - j) - lane;
      x -= slope * (Vec)((IVec)dist & 0x7fffffff);
    }
    selectVec(x,
              (lane >= static_cast<float>(begin - j)) &
                  (lane <= static_cast<float>(end - j)),
              x, minusInf);
    storeVec(s + j, x);
    selectVec(best, x > best, x, best);
  }
  return horizontalMax(best);
}

/// p = exp(s - m) over s[0, cols) in place; returns their sum (lanes of 16
/// keys in f32, added in f64).
SSMC_FOLD_INLINE double weights(float *s, int64_t cols, float m) {
  Vec sum = Vec{};
  for (int64_t j = 0; j < cols; j += kLanes) {
    Vec x, p;
    loadVec(x, s + j);
    expNonPositive(p, x - m);
    storeVec(s + j, p);
    sum += p;
  }
  double total = 0;
  for (int t = 0; t < kLanes; ++t)
    total += sum[t];
  return total;
}

/// Which build of the fold runs: the portable one (the runtime's generic
/// x86-64), AVX2 + FMA, or AVX-512 (ssmcMpiAttentionFoldIsa).
enum FoldIsa : int64_t { kFoldPortable = 0, kFoldAvx2 = 1, kFoldAvx512 = 2 };

int64_t bestFoldIsa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl"))
    return kFoldAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return kFoldAvx2;
#endif
  return kFoldPortable;
}

/// The build in use: the best this CPU runs, or SSMC_MPI_FOLD_ISA
/// (portable, avx2, avx512) when set and supported.
std::atomic<int64_t> foldIsa{-1};

int64_t currentFoldIsa() {
  int64_t isa = foldIsa.load();
  if (isa >= 0)
    return isa;
  isa = bestFoldIsa();
  if (const char *e = std::getenv("SSMC_MPI_FOLD_ISA")) {
    const std::string want(e);
    const int64_t asked = want == "portable" ? kFoldPortable
                          : want == "avx2"   ? kFoldAvx2
                          : want == "avx512" ? kFoldAvx512
                                             : -1;
    if (asked < 0)
      ssmc::dist::abortAll("SSMC_MPI_FOLD_ISA must be portable, avx2 or "
                           "avx512, got '" + want + "'");
    isa = std::min(isa, asked);
  }
  foldIsa.store(isa);
  return isa;
}

/// The buffers of ring attention, kept from call to call (a model calls it
/// once per layer): fresh pages cost about 12 us per 4 KiB here, more than
/// the copies that fill them.
struct RingBuffers {
  std::vector<float> held, next, rows, acc, kt, vp, s;
  std::vector<double> m, l;
  std::vector<RowKeys> keys;
};
RingBuffers &ringBuffers() {
  static thread_local RingBuffers buffers;
  return buffers;
}

/// The query rows of one rank and their online-softmax state: per row the
/// running maximum m of the scores seen so far, the sum l of exp(s - m)
/// (f64) and the sum acc of exp(s - m) v (f32, as the kernels keep it). A
/// block of keys is folded in by rescaling l and acc by exp(m_old - m_new)
/// once per row and tile of keys.
class SoftmaxRows {
public:
  SoftmaxRows(const Buf4 *q, int64_t Hkv, int64_t dv,
              const AttentionLayout &layout, int r, float scale,
              float softcap, const float *alibi, int64_t nAlibi)
      : B(q->sizes[0]), H(q->sizes[1]), L(q->sizes[2]), d(q->sizes[3]),
        Hkv(Hkv), dv(dv), dvp((dv + kLanes - 1) / kLanes * kLanes),
        softcap(softcap), alibi(alibi), nAlibi(nAlibi),
        rows(ringBuffers().rows), m(ringBuffers().m), l(ringBuffers().l),
        acc(ringBuffers().acc), keys(ringBuffers().keys),
        kt(ringBuffers().kt), vp(ringBuffers().vp), s(ringBuffers().s) {
    // The queries pre-scaled: a score is then one dot product.
    copyContiguous(q, rows);
    for (float &x : rows)
      x *= scale;
    m.assign(B * H * L, -INFINITY);
    l.assign(B * H * L, 0.0);
    acc.assign(B * H * L * dvp, 0.0f);
    keys.resize(B * L);
    const int64_t first = layout.queryOffsets()[r];
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < L; ++i)
        keys[b * L + i] = layout.rowKeys(b, first + i);
  }

  /// Folds in the keys at positions [k0, k0 + n): `kv` holds their K
  /// [B, Hkv, n, d], then their V [B, Hkv, n, dv].
  void fold(const float *kv, int64_t n, int64_t k0) {
    const float *K = kv, *V = kv + B * Hkv * n * d;
    // K^T [d, nk] and V [n, dvp], zero-padded: the kernels read whole
    // vectors past a row's last key or value column.
    nk = n + kLanes;
    kt.resize(d * nk);
    vp.resize(n * dvp);
    s.resize(8 * nk);
    for (int64_t c = 0; c < d; ++c)
      std::fill(&kt[c * nk + n], &kt[(c + 1) * nk], 0.0f);
    const int64_t isa = currentFoldIsa();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t hk = 0; hk < Hkv; ++hk) {
        const float *kh = K + (b * Hkv + hk) * n * d;
        for (int64_t j = 0; j < n; ++j)
          for (int64_t c = 0; c < d; ++c)
            kt[c * nk + j] = kh[j * d + c];
        const float *vh = V + (b * Hkv + hk) * n * dv;
        for (int64_t j = 0; j < n; ++j) {
          std::copy(vh + j * dv, vh + (j + 1) * dv, &vp[j * dvp]);
          std::fill(&vp[j * dvp + dv], &vp[(j + 1) * dvp], 0.0f);
        }
#if defined(__x86_64__)
        if (isa == kFoldAvx512) {
          foldAvx512(n, k0, b, hk);
          continue;
        }
        if (isa == kFoldAvx2) {
          foldAvx2(n, k0, b, hk);
          continue;
        }
#endif
        foldPortable(n, k0, b, hk);
      }
  }

  /// o = acc / (l + exp(sink - m)); a row that saw no key is zero.
  void finish(Buf4 *out, const float *sinks) const {
    const int64_t *st = out->strides;
    float *o = out->aligned + out->offset;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t i = 0; i < L; ++i) {
          const int64_t row = (b * H + h) * L + i;
          double denom = l[row];
          if (sinks && denom > 0)
            denom += std::exp(static_cast<double>(sinks[h]) - m[row]);
          for (int64_t e = 0; e < dv; ++e)
            o[b * st[0] + h * st[1] + i * st[2] + e * st[3]] =
                denom > 0 ? static_cast<float>(acc[row * dvp + e] / denom)
                          : 0.0f;
        }
  }

private:
#if defined(__x86_64__)
  __attribute__((target("avx512f,avx512vl,fma"))) void
  foldAvx512(int64_t n, int64_t k0, int64_t b, int64_t hk) {
    foldHeads<8, 2>(n, k0, b, hk);
  }
  __attribute__((target("avx2,fma"))) void foldAvx2(int64_t n, int64_t k0,
                                                    int64_t b, int64_t hk) {
    foldHeads<4, 1>(n, k0, b, hk);
  }
#endif
  void foldPortable(int64_t n, int64_t k0, int64_t b, int64_t hk) {
    foldHeads<4, 1>(n, k0, b, hk);
  }

  /// The held block's K^T (kt) and V (vp) of K/V head hk of batch entry b
  /// into the rows of every query head sharing it, in tiles of 256 keys
  /// (their K^T and V stay in cache against all those rows). G rows and W
  /// vectors of 16 columns per micro-kernel (8 and 2 where there are 32
  /// vector registers: 16 accumulators).
  template <int G, int W>
  SSMC_FOLD_INLINE void foldHeads(int64_t n, int64_t k0, int64_t b,
                                  int64_t hk) {
    constexpr int64_t kTile = 256;
    for (int64_t t0 = 0; t0 < n; t0 += kTile) {
      const int64_t t1 = std::min(n, t0 + kTile) - 1;
      for (int64_t h = hk * (H / Hkv); h < (hk + 1) * (H / Hkv); ++h) {
        const float slope =
            nAlibi == 0 ? 0.0f : alibi[nAlibi == H ? h : b * H + h];
        for (int64_t i = 0; i < L; ++i) {
          // The row's keys in this tile, as indices into the block.
          const RowKeys &rk = keys[b * L + i];
          const int64_t lo = std::max(rk.lo - k0, t0),
                        hi = std::min(rk.hi - k0, t1);
          if (lo > hi)
            continue;
          // G rows that all see keys of the tile, nearly the same ones
          // (a causal or windowed diagonal moves by one key per row): one
          // pair of products over the union of their keys, each row's
          // others masked.
          if (i + G <= L) {
            int64_t ulo = lo, uhi = hi, widest = hi - lo;
            bool all = true;
            for (int r = 1; r < G && all; ++r) {
              const RowKeys &o = keys[b * L + i + r];
              const int64_t a = std::max(o.lo - k0, t0),
                            z = std::min(o.hi - k0, t1);
              all = a <= z;
              ulo = std::min(ulo, a), uhi = std::max(uhi, z);
              widest = std::max(widest, z - a);
            }
            if (all && uhi - ulo <= widest + kLanes) {
              foldRows<G, W>(b, h, i, ulo, uhi, k0, t0, t1, slope);
              i += G - 1;
              continue;
            }
          }
          foldRows<1, W>(b, h, i, lo, hi, k0, t0, t1, slope);
        }
      }
    }
  }

  /// Rows i .. i + G - 1 of head h see keys within [lo, hi] of the block's
  /// tile [t0, t1] (each at least one): their scores (one gemm), softcap,
  /// ALiBi, each row's own keys and running maximum, the rescale, the
  /// weights and their sum, then the weighted values (one gemm).
  template <int G, int W>
  SSMC_FOLD_INLINE void foldRows(int64_t b, int64_t h, int64_t i, int64_t lo,
                                 int64_t hi, int64_t k0, int64_t t0,
                                 int64_t t1, float slope) {
    const int64_t row = (b * H + h) * L + i, count = hi - lo + 1,
                  cols = (count + kLanes - 1) / kLanes * kLanes;
    float *sc = s.data();
    gemmRows<G, W, false>(&rows[row * d], d, &kt[lo], nk, d, sc, nk, cols);
    for (int r = 0; r < G; ++r) {
      float *sr = sc + r * nk;
      const RowKeys &rk = keys[b * L + i + r];
      const float best = finishScores(
          sr, std::max(rk.lo - k0, t0) - lo, std::min(rk.hi - k0, t1) - lo,
          cols, softcap, slope, rk.pos, k0 + lo);
      const double mNew = std::max(m[row + r], static_cast<double>(best));
      const float c = static_cast<float>(std::exp(m[row + r] - mNew));
      l[row + r] = c * l[row + r] + weights(sr, cols, static_cast<float>(mNew));
      m[row + r] = mNew;
      float *ar = &acc[(row + r) * dvp];
      for (int64_t e = 0; e < dvp; ++e)
        ar[e] *= c;
    }
    gemmRows<G, W, true>(sc, nk, &vp[lo * dvp], dvp, count, &acc[row * dvp],
                         dvp, dvp);
  }

  int64_t B, H, L, d, Hkv, dv, dvp;
  float softcap;
  const float *alibi;
  int64_t nAlibi;
  std::vector<float> &rows;
  std::vector<double> &m, &l;
  std::vector<float> &acc;
  std::vector<RowKeys> &keys;
  /// The held block's K^T [d, nk] and V [n, dvp], and the scores of up to 8
  /// rows [8, nk].
  int64_t nk = 0;
  std::vector<float> &kt, &vp, &s;
};
} // namespace

extern "C" int64_t ssmcMpiAttentionFoldIsa(int64_t want) {
  if (want >= 0)
    foldIsa.store(std::min(want, bestFoldIsa()));
  return currentFoldIsa();
}

extern "C" void _mlir_ciface_ssmcMpiRingAttention(
    Buf4 *q, Buf4 *k, Buf4 *v, Buf *alibi, Buf *sinks, Buf64 *cuQ, Buf64 *cuK,
    Buf64 *used, Buf4 *out, float scale, float softcap, int64_t windowLeft,
    int64_t windowRight, int64_t computeOut) {
  using namespace ssmc::dist;
  const int64_t B = q->sizes[0], H = q->sizes[1], Lq = q->sizes[2],
                d = q->sizes[3], Hkv = k->sizes[1], Lk = k->sizes[2],
                dv = v->sizes[3];
  if (k->sizes[0] != B || k->sizes[3] != d || v->sizes[0] != B ||
      v->sizes[1] != Hkv || v->sizes[2] != Lk || Hkv == 0 || H % Hkv)
    abortAll("ssmcMpiRingAttention: q, k and v slices of inconsistent shapes");
  if (computeOut && (out->sizes[0] != B || out->sizes[1] != H ||
                     out->sizes[2] != Lq || out->sizes[3] != dv))
    abortAll("ssmcMpiRingAttention: output of another shape");
  const int64_t nAlibi = alibi->sizes[0];
  if (nAlibi != 0 && nAlibi != H && nAlibi != B * H)
    abortAll("ssmcMpiRingAttention: ALiBi slopes are neither [H] nor [B, H]");
  if (sinks->sizes[0] != 0 && sinks->sizes[0] != H)
    abortAll("ssmcMpiRingAttention: sinks are not [H]");
  if (std::isnan(scale))
    scale = 1.0f / std::sqrt(static_cast<float>(d));
  const int r = rank(), R = size();

  // Every rank's query and key slice lengths, hence the positions of its
  // rows and of the keys of its block.
  std::vector<long long> lens(2 * R);
  lens[2 * r] = Lq, lens[2 * r + 1] = Lk;
#ifdef SSMC_HAVE_MPI
  if (R > 1) {
    long long mine[2] = {Lq, Lk};
    MPI_Request req;
    sent += sizeof mine * (R - 1);
    await(MPI_Iallgather(mine, 2, MPI_LONG_LONG, lens.data(), 2,
                         MPI_LONG_LONG, MPI_COMM_WORLD, &req),
          req, "MPI_Allgather (attention slice lengths)");
  }
#endif
  std::vector<int64_t> qOff(R + 1, 0), kOff(R + 1, 0);
  for (int j = 0; j < R; ++j) {
    qOff[j + 1] = qOff[j] + lens[2 * j];
    kOff[j + 1] = kOff[j] + lens[2 * j + 1];
  }
  // A rank that only relays (rank 0 of causal attention) computes its rows
  // in generated code, on its own slice: right only when its queries and
  // keys are the same positions.
  if (!computeOut && qOff != kOff)
    abortAll("ssmcMpiRingAttention: causal attention over ranks needs as "
             "many queries as keys (Lq = Lk), got " +
             std::to_string(qOff[R]) + " and " + std::to_string(kOff[R]));
  const AttentionLayout layout(B, windowLeft, windowRight, qOff, kOff, cuQ,
                               cuK, used);

  // How far block j travels along the ring r -> r + 1 (mod R): to the last
  // rank, counted in steps from j, whose rows see it (0: it stays home).
  // Causal attention never wraps (ranks before j do not see it); without
  // causal every block goes all the way round.
  std::vector<int> reach(R, 0);
  for (int j = 0; j < R; ++j)
    for (int t = 0; t < R; ++t)
      if (t != j && layout.sees(t, j))
        reach[j] = std::max(reach[j], (t - j + R) % R);
  auto blockFloats = [&](int j) {
    return B * Hkv * lens[2 * j + 1] * (d + dv);
  };

  std::optional<SoftmaxRows> rows;
  if (computeOut)
    rows.emplace(q, Hkv, dv, layout, r, scale, softcap,
                 alibi->aligned + alibi->offset, nAlibi);
  // Step s: this rank holds the block of rank (r - s) mod R if it reached
  // this far (its own at s = 0), passes it on to r + 1 if it goes further,
  // and receives the block of rank (r - 1 - s) mod R from r - 1 if that
  // one reaches r, computing on the held block while both travel. A rank
  // that does not see a block still relays it to the ranks after it.
  std::vector<float> &held = ringBuffers().held, &next = ringBuffers().next;
  copyContiguous(k, held);
  copyContiguous(v, held, held.size());
  bool holding = true;
  for (int s = 0; s < R; ++s) {
    const int mine = ((r - s) % R + R) % R, incoming = ((r - 1 - s) % R + R) % R;
    const bool send = holding && s < reach[mine];
    const bool recv = s + 1 < R && s + 1 <= reach[incoming];
#ifdef SSMC_HAVE_MPI
    MPI_Request recvReq = MPI_REQUEST_NULL, sendReq = MPI_REQUEST_NULL;
    if (recv) {
      if (blockFloats(incoming) > INT32_MAX)
        abortAll("ssmcMpiRingAttention: a K/V block of more than 2^31 floats");
      next.resize(blockFloats(incoming));
      check(MPI_Irecv(next.data(), static_cast<int>(next.size()), MPI_FLOAT,
                      (r - 1 + R) % R, 11, MPI_COMM_WORLD, &recvReq),
            "MPI_Recv (K/V block)");
    }
    if (send) {
      if (held.size() > static_cast<size_t>(INT32_MAX))
        abortAll("ssmcMpiRingAttention: a K/V block of more than 2^31 floats");
      sent += held.size() * sizeof(float);
      check(MPI_Isend(held.data(), static_cast<int>(held.size()), MPI_FLOAT,
                      (r + 1) % R, 11, MPI_COMM_WORLD, &sendReq),
            "MPI_Send (K/V block)");
    }
#else
    if (recv || send)
      abortAll("more than one rank without MPI");
#endif
    if (rows && holding && layout.sees(r, mine))
      rows->fold(held.data(), lens[2 * mine + 1], kOff[mine]);
#ifdef SSMC_HAVE_MPI
    if (send)
      await(MPI_SUCCESS, sendReq, "MPI_Send (K/V block)");
    if (recv)
      await(MPI_SUCCESS, recvReq, "MPI_Recv (K/V block)");
#endif
    holding = recv;
    if (recv)
      std::swap(held, next);
  }
  if (rows)
    rows->finish(out, sinks->sizes[0] ? sinks->aligned + sinks->offset
                                      : nullptr);
}
