//===- DistributedTest.cpp - the sequence-parallel runtime ----------------===//
//
// runtime/mpi without the compiler: how a sequence is split, the combine
// of the ranks' affine state maps (on one rank here; on 2 and 3 ranks
// under mpirun, see CMakeLists.txt), the step sums of the decay (whole
// slices and per packed sequence) against plain double-precision loops,
// packed-sequence offsets clipped to each rank's slice, and the ring
// attention against the reference attention.
//
//===----------------------------------------------------------------------===//

#include "ssmc/Distributed.h"
#include "runtime/mpi/MpiRuntime.h"
#include "test/lib/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <random>
#include <vector>

namespace {

using ssmc::abi::StridedMemRef;

template <int R> StridedMemRef<float, R> ref(std::vector<float> &v,
                                             std::vector<int64_t> shape) {
  StridedMemRef<float, R> m;
  m.allocated = m.aligned = v.data();
  m.offset = 0;
  int64_t stride = 1;
  for (int i = R - 1; i >= 0; --i) {
    m.sizes[i] = shape[i];
    m.strides[i] = stride;
    stride *= shape[i];
  }
  return m;
}

TEST(Distributed, SlicesCoverTheSequenceEvenly) {
  for (int ranks : {1, 2, 3, 5, 8})
    for (int64_t n : {0, 1, 2, 7, 13, 64, 65537}) {
      int64_t at = 0;
      for (int r = 0; r < ranks; ++r) {
        auto [b, e] = ssmc::dist::sliceOf(n, r, ranks);
        EXPECT_EQ(b, at) << n << " steps, rank " << r << " of " << ranks;
        EXPECT_LE(b, e);
        at = e;
      }
      EXPECT_EQ(at, n);
      for (int r = 0; r < ranks; ++r) {
        auto [b, e] = ssmc::dist::sliceOf(n, r, ranks);
        EXPECT_EQ(e - b, n / ranks + (r < n % ranks ? 1 : 0));
      }
    }
}

TEST(Distributed, SliceAndGatherRoundTrip) {
  if (ssmc::dist::size() != 1)
    GTEST_SKIP() << "one process";
  ssmc::OwnedTensor t(ssmc::DType::F32, {2, 3, 5});
  for (int64_t i = 0; i < t.numel(); ++i)
    t.as<float>()[i] = float(i);
  ssmc::OwnedTensor s = ssmc::dist::slice(t.view(), 2, 0, 1);
  auto g = ssmc::dist::gatherAlong(s, 2);
  ASSERT_TRUE(static_cast<bool>(g));
  ASSERT_EQ(g->shape(), t.shape());
  for (int64_t i = 0; i < t.numel(); ++i)
    EXPECT_EQ(g->as<float>()[i], t.as<float>()[i]);
}

/// The combine on every rank r: rank 0 gives its final state S0, rank j > 0
/// the map S -> P_j S + S_j with P_j and S_j known to all; the result must
/// be S0 carried through the maps of ranks 1..r-1. With `reverse`
/// (ssmcMpiCombineAffineReverse) the ranks count from the last: S_{R-1}
/// through the maps of ranks R-2..r+1.
void checkCombine(bool reverse = false) {
  const int r = ssmc::dist::rank(), R = ssmc::dist::size();
  // Rank r's place in the chain, and the rank at place j.
  const int place = reverse ? R - 1 - r : r;
  auto at = [&](int j) { return reverse ? R - 1 - j : j; };
  const int64_t n = 12, np = 3; // each decay scales 4 state elements
  auto decayOf = [&](int j, int64_t i) { return 0.5f + 0.1f * float(j) + 0.01f * float(i); };
  auto stateOf = [&](int j, int64_t i) { return float(j) - 0.25f * float(i); };
  std::vector<float> p(np), s(n), sin(n, -99.0f);
  for (int64_t i = 0; i < np; ++i)
    p[i] = decayOf(r, i);
  for (int64_t i = 0; i < n; ++i)
    s[i] = stateOf(r, i);
  auto pm = ref<1>(p, {np}), sm = ref<1>(s, {n}), om = ref<1>(sin, {n});
  if (reverse)
    _mlir_ciface_ssmcMpiCombineAffineReverse(&pm, &sm, &om);
  else
    _mlir_ciface_ssmcMpiCombineAffine(&pm, &sm, &om);
  std::vector<double> want(n);
  for (int64_t i = 0; i < n; ++i)
    want[i] = stateOf(at(0), i);
  for (int j = 1; j < place; ++j)
    for (int64_t i = 0; i < n; ++i)
      want[i] = decayOf(at(j), i / (n / np)) * want[i] + stateOf(at(j), i);
  for (int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(sin[i], want[i], 1e-5 * std::max(1.0, std::fabs(want[i])))
        << "rank " << r << " of " << R << ", element " << i;
}

TEST(Distributed, CombineAllGather) {
  ssmc::dist::setCombine(ssmc::dist::Combine::AllGather);
  checkCombine();
}

TEST(Distributed, CombineExScan) {
  ssmc::dist::setCombine(ssmc::dist::Combine::ExScan);
  checkCombine();
  ssmc::dist::setCombine(ssmc::dist::Combine::AllGather);
}

TEST(Distributed, CombineChain) {
  ssmc::dist::setCombine(ssmc::dist::Combine::Chain);
  checkCombine();
  ssmc::dist::setCombine(ssmc::dist::Combine::AllGather);
}

TEST(Distributed, CombineReverseEveryForm) {
  for (auto c : {ssmc::dist::Combine::AllGather, ssmc::dist::Combine::ExScan,
                 ssmc::dist::Combine::Chain}) {
    ssmc::dist::setCombine(c);
    checkCombine(/*reverse=*/true);
  }
  ssmc::dist::setCombine(ssmc::dist::Combine::AllGather);
}

/// The combine of dense maps (ssmcMpiCombineMatrix): rank j > 0 maps S
/// (G blocks of k x V) to P_j S + S_j with P_j G dense k x k blocks; the
/// result must be S0 carried through the maps of ranks 1..r-1, checked
/// against double loops, in every combine form.
void checkCombineMatrix() {
  const int r = ssmc::dist::rank(), R = ssmc::dist::size();
  const int64_t G = 2, k = 3, V = 5, n = G * k * V, np = G * k * k;
  auto decayOf = [&](int j, int64_t i) {
    return 0.3f * std::sin(float(1 + j) * 0.7f + float(i));
  };
  auto stateOf = [&](int j, int64_t i) { return float(j) - 0.25f * float(i % 7); };
  std::vector<float> p(np), s(n), sin(n, -99.0f);
  for (int64_t i = 0; i < np; ++i)
    p[i] = decayOf(r, i);
  for (int64_t i = 0; i < n; ++i)
    s[i] = stateOf(r, i);
  auto pm = ref<1>(p, {np}), sm = ref<1>(s, {n}), om = ref<1>(sin, {n});
  _mlir_ciface_ssmcMpiCombineMatrix(&pm, &sm, &om, k);
  std::vector<double> want(n);
  for (int64_t i = 0; i < n; ++i)
    want[i] = r == 0 ? stateOf(r, i) : stateOf(0, i);
  for (int j = 1; j < r; ++j) {
    std::vector<double> next(n);
    for (int64_t g = 0; g < G; ++g)
      for (int64_t a = 0; a < k; ++a)
        for (int64_t c = 0; c < V; ++c) {
          double acc = stateOf(j, (g * k + a) * V + c);
          for (int64_t b = 0; b < k; ++b)
            acc += double(decayOf(j, (g * k + a) * k + b)) * want[(g * k + b) * V + c];
          next[(g * k + a) * V + c] = acc;
        }
    want = next;
  }
  for (int64_t i = 0; i < n; ++i)
    EXPECT_NEAR(sin[i], want[i], 1e-5 * std::max(1.0, std::fabs(want[i])))
        << "rank " << r << " of " << R << ", element " << i;
}

TEST(Distributed, CombineMatrixEveryForm) {
  for (auto c : {ssmc::dist::Combine::AllGather, ssmc::dist::Combine::ExScan,
                 ssmc::dist::Combine::Chain}) {
    ssmc::dist::setCombine(c);
    checkCombineMatrix();
  }
  ssmc::dist::setCombine(ssmc::dist::Combine::AllGather);
}

double softplus(double x) { return x > 20 ? x : std::log1p(std::exp(x)); }

/// The inputs of the step-sum tests: the steps x in [a0, a1, L] (timeDim 2)
/// or [a0, L, a1] (timeDim 1) and a bias per a1 channel, both random; the
/// clamp bounds (infinite without clamp); step(i, j, t): the value the
/// runtime sums, in double.
struct StepSumInputs {
  int64_t a0, a1, L;
  int timeDim, sp;
  bool clamp;
  std::vector<int64_t> shape;
  std::vector<float> x, bias;
  float lo, hi;

  StepSumInputs(std::mt19937 &rng, int64_t a0, int64_t a1, int64_t L,
                int timeDim, int sp, bool clamp)
      : a0(a0), a1(a1), L(L), timeDim(timeDim), sp(sp), clamp(clamp),
        shape(timeDim == 2 ? std::vector<int64_t>{a0, a1, L}
                           : std::vector<int64_t>{a0, L, a1}),
        x(a0 * a1 * L), bias(a1), lo(clamp ? 0.1f : -INFINITY),
        hi(clamp ? 3.0f : INFINITY) {
    std::uniform_real_distribution<float> dist(-12.0f, 8.0f);
    for (float &v : x)
      v = dist(rng);
    for (float &v : bias)
      v = 0.5f * dist(rng);
  }
  int64_t index(int64_t i, int64_t j, int64_t t) const {
    return timeDim == 2 ? (i * a1 + j) * L + t : (i * L + t) * a1 + j;
  }
  double step(int64_t i, int64_t j, int64_t t) const {
    double v = double(x[index(i, j, t)]) + bias[j];
    v = sp ? softplus(v) : v;
    return std::min(std::max(v, double(lo)), double(hi));
  }
};

std::ostream &operator<<(std::ostream &os, const StepSumInputs &in) {
  return os << "timeDim " << in.timeDim << " softplus " << in.sp << " clamp "
            << in.clamp;
}

/// f(inputs) for both layouts, with and without softplus and clamps.
template <typename F>
void forEachStepSumForm(unsigned seed, int64_t a0, int64_t a1, int64_t L, F f) {
  std::mt19937 rng(seed);
  for (int timeDim : {1, 2})
    for (int sp : {0, 1})
      for (bool clamp : {false, true}) {
        StepSumInputs in(rng, a0, a1, L, timeDim, sp, clamp);
        f(in);
      }
}

/// ssmcMpiStepSums against plain double loops: rows long enough for the
/// vectorised blocks and a tail, both layouts, bias, softplus, clamps.
TEST(Distributed, StepSumsMatchDoubleLoops) {
  forEachStepSumForm(3, 2, 3, 1003, [](StepSumInputs &in) {
    std::vector<float> out(in.a0 * in.a1);
    auto xm = ref<3>(in.x, in.shape);
    auto bm = ref<1>(in.bias, {in.a1});
    auto om = ref<2>(out, {in.a0, in.a1});
    _mlir_ciface_ssmcMpiStepSums(&xm, &bm, &om, in.timeDim, in.sp, in.lo,
                                 in.hi);
    for (int64_t i = 0; i < in.a0; ++i)
      for (int64_t j = 0; j < in.a1; ++j) {
        double want = 0;
        for (int64_t t = 0; t < in.L; ++t)
          want += in.step(i, j, t);
        EXPECT_NEAR(out[i * in.a1 + j], want,
                    1e-5 * std::max(1.0, std::fabs(want)))
            << in;
      }
  });
}

/// ssmcMpiStepPrefixSums against plain double loops: the running sums of
/// the steps (from either end), both layouts, bias, softplus, clamps.
TEST(Distributed, StepPrefixSumsMatchDoubleLoops) {
  forEachStepSumForm(5, 2, 3, 203, [](StepSumInputs &in) {
    for (int reverse : {0, 1}) {
      std::vector<float> out(in.x.size());
      auto xm = ref<3>(in.x, in.shape);
      auto bm = ref<1>(in.bias, {in.a1});
      auto om = ref<3>(out, in.shape);
      _mlir_ciface_ssmcMpiStepPrefixSums(&xm, &bm, &om, in.timeDim, in.sp,
                                         in.lo, in.hi, reverse);
      for (int64_t i = 0; i < in.a0; ++i)
        for (int64_t j = 0; j < in.a1; ++j) {
          double want = 0;
          for (int64_t k = 0; k < in.L; ++k) {
            const int64_t t = reverse ? in.L - 1 - k : k;
            want += in.step(i, j, t);
            EXPECT_NEAR(out[in.index(i, j, t)], want,
                        1e-5 * std::max(1.0, std::fabs(want)))
                << in << " reverse " << reverse << " step " << t;
          }
        }
    }
  });
}

/// ssmcMpiRingAttention on every rank's slices (computing its rows on rank
/// 0 too) against ssmc::ref::attention over the whole sequence, with every
/// build of the fold this CPU runs (portable, AVX2, AVX-512). Causal:
/// grouped K/V heads; a window, softcap, scale, ALiBi per batch entry and
/// sinks; fewer steps than ranks under mpirun -np 3 (an empty slice);
/// groups of 4 rows that see the same keys with key and value tails (40
/// keys, dv = 17); key counts (seqused_k) with an entry that uses none.
/// Without causal (the full ring): grouped heads; a two-sided window with
/// ALiBi on both sides, sinks and softcap; more keys than queries (each
/// split along its own length); 300 keys (more than one tile of 256) with
/// dv = 40 (a 32-column and a 16-column micro-kernel tile). Packed
/// sequences: causal over offsets [0, 6, 6, 7, 11] (crossing the slices,
/// empty, inside one); a window on both sides over the same offsets;
/// different query and key offsets with key counts.
TEST(Distributed, RingAttentionMatchesTheReference) {
  struct Case {
    int64_t B, H, Hkv, Lq, Lk, d, dv;
    bool causal;
    int64_t window, left, right;
    double scale, softcap;
    bool alibi, alibiPerBatch, sinks;
    std::vector<int64_t> cuQ, cuK, used;
  };
  const std::vector<int64_t> none;
  const std::vector<int64_t> cu4{0, 6, 6, 7, 11};
  const Case cases[] = {
      {2, 4, 2, 7, 7, 5, 3, true, 0, -1, -1, -1, 0, false, false, false, none, none, none},
      {2, 4, 1, 11, 11, 4, 6, true, 4, -1, -1, 0.7, 3.0, true, true, true, none, none, none},
      {1, 2, 2, 2, 2, 3, 2, true, 0, -1, -1, -1, 0, false, false, false, none, none, none},
      {1, 2, 1, 40, 40, 3, 17, true, 0, -1, -1, -1, 2.5, true, true, false, none, none, none},
      {2, 2, 2, 6, 6, 4, 3, true, 0, -1, -1, -1, 0, false, false, false, none, none, {5, 0}},
      {2, 4, 2, 9, 9, 5, 3, false, 0, -1, -1, -1, 0, false, false, false, none, none, none},
      {1, 4, 2, 12, 12, 4, 5, false, 0, 2, 3, -1, 1.5, true, false, true, none, none, none},
      {1, 2, 2, 5, 9, 4, 3, false, 0, 1, 2, -1, 0, false, false, false, none, none, none},
      {1, 2, 1, 300, 300, 5, 40, false, 0, -1, -1, -1, 1.5, false, false, false, none, none, none},
      {1, 4, 2, 11, 11, 4, 3, true, 0, -1, -1, -1, 0, false, false, false, cu4, cu4, none},
      {1, 2, 1, 11, 11, 4, 3, false, 0, 2, 3, -1, 2.0, true, false, true, cu4, cu4, none},
      {1, 2, 2, 5, 8, 4, 3, false, 0, -1, -1, -1, 0, false, false, false, {0, 2, 2, 5}, {0, 3, 4, 8}, {2, 1, 3}}};
  const int r = ssmc::dist::rank(), R = ssmc::dist::size();
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> dist(-2.0f, 2.0f);
  auto ref64 = [](std::vector<int64_t> &v) {
    StridedMemRef<int64_t, 1> m;
    m.allocated = m.aligned = v.data();
    m.offset = 0;
    m.sizes[0] = v.size();
    m.strides[0] = 1;
    return m;
  };
  for (const Case &c : cases) {
    ssmc::ref::AttentionProblem p;
    p.batch = c.B, p.heads = c.H, p.kvHeads = c.Hkv;
    p.queryLen = c.Lq, p.keyLen = c.Lk, p.headDim = c.d, p.valueDim = c.dv;
    p.causal = c.causal, p.window = c.window, p.scale = c.scale;
    p.windowLeft = c.left, p.windowRight = c.right, p.softcap = c.softcap;
    p.cuSeqlensQ = c.cuQ, p.cuSeqlensK = c.cuK, p.sequsedK = c.used;
    auto fill = [&](std::vector<float> &v, int64_t n, float lo, float hi) {
      v.resize(n);
      for (float &x : v)
        x = lo + (hi - lo) * (dist(rng) + 2.0f) / 4.0f;
    };
    std::vector<float> q, k, v, alibi, sinks;
    fill(q, c.B * c.H * c.Lq * c.d, -2, 2);
    fill(k, c.B * c.Hkv * c.Lk * c.d, -2, 2);
    fill(v, c.B * c.Hkv * c.Lk * c.dv, -1, 1);
    if (c.alibi)
      fill(alibi, (c.alibiPerBatch ? c.B : 1) * c.H, 0.05f, 0.5f);
    if (c.sinks)
      fill(sinks, c.H, -1, 1);
    p.q.assign(q.begin(), q.end());
    p.k.assign(k.begin(), k.end());
    p.v.assign(v.begin(), v.end());
    p.alibiSlopes.assign(alibi.begin(), alibi.end());
    p.alibiPerBatch = c.alibiPerBatch;
    p.sinks.assign(sinks.begin(), sinks.end());
    std::vector<double> want = ssmc::ref::attention(p);
    // This rank's query rows [qb, qe) and keys [kb, ke) of every (batch,
    // head).
    const auto [qb, qe] = ssmc::dist::sliceOf(c.Lq, r, R);
    const auto [kb, ke] = ssmc::dist::sliceOf(c.Lk, r, R);
    const int64_t nq = qe - qb, nk = ke - kb;
    auto slice = [&](const std::vector<float> &t, int64_t heads, int64_t len,
                     int64_t b, int64_t e, int64_t w) {
      std::vector<float> out;
      for (int64_t i = 0; i < c.B * heads; ++i)
        out.insert(out.end(), t.begin() + (i * len + b) * w,
                   t.begin() + (i * len + e) * w);
      return out;
    };
    std::vector<float> qs = slice(q, c.H, c.Lq, qb, qe, c.d),
                       ks = slice(k, c.Hkv, c.Lk, kb, ke, c.d),
                       vs = slice(v, c.Hkv, c.Lk, kb, ke, c.dv);
    std::vector<int64_t> cuQ = c.cuQ, cuK = c.cuK, used = c.used;
    auto qm = ref<4>(qs, {c.B, c.H, nq, c.d}), km = ref<4>(ks, {c.B, c.Hkv, nk, c.d}),
         vm = ref<4>(vs, {c.B, c.Hkv, nk, c.dv});
    auto am = ref<1>(alibi, {int64_t(alibi.size())});
    auto sm = ref<1>(sinks, {int64_t(sinks.size())});
    auto cqm = ref64(cuQ), ckm = ref64(cuK), um = ref64(used);
    double peak = 1;
    for (double w : want)
      peak = std::max(peak, std::fabs(w));
    for (int64_t isa = 0; isa <= 2; ++isa) {
      if (ssmcMpiAttentionFoldIsa(isa) != isa)
        continue; // this CPU lacks it (every rank alike)
      std::vector<float> out(c.B * c.H * nq * c.dv, 99.0f);
      auto om = ref<4>(out, {c.B, c.H, nq, c.dv});
      const int64_t left = c.window ? c.window - 1 : c.left;
      _mlir_ciface_ssmcMpiRingAttention(
          &qm, &km, &vm, &am, &sm, &cqm, &ckm, &um, &om,
          c.scale < 0 ? NAN : float(c.scale), float(c.softcap), left,
          c.causal ? 0 : c.right, 1);
      for (int64_t i = 0; i < c.B * c.H; ++i)
        for (int64_t t = 0; t < nq; ++t)
          for (int64_t x = 0; x < c.dv; ++x)
            EXPECT_NEAR(out[(i * nq + t) * c.dv + x],
                        want[(i * c.Lq + qb + t) * c.dv + x], 1e-4 * peak)
                << "Lq " << c.Lq << " Lk " << c.Lk << (c.causal ? " causal" : "")
                << ", fold build " << isa << ", rank " << r << " of " << R
                << ", row " << qb + t << " of (batch, head) " << i;
    }
    ssmcMpiAttentionFoldIsa(2);
  }
}

StridedMemRef<int64_t, 1> ref64(std::vector<int64_t> &v) {
  StridedMemRef<int64_t, 1> m;
  m.allocated = m.aligned = v.data();
  m.offset = 0;
  m.sizes[0] = v.size();
  m.strides[0] = 1;
  return m;
}

/// Rank r holds 3 + r steps; every rank gets the offsets less the steps
/// before its slice, clamped to its slice.
TEST(Distributed, LocalSeqlensClipTheOffsetsToTheSlice) {
  const int r = ssmc::dist::rank(), R = ssmc::dist::size();
  int64_t before = 0, total = 0;
  for (int j = 0; j < R; ++j) {
    before += j < r ? 3 + j : 0;
    total += 3 + j;
  }
  const int64_t mine = 3 + r;
  std::vector<int64_t> cu{0, 1, 1, total / 2, total - 1, total}, out(6, -7);
  auto cm = ref64(cu), om = ref64(out);
  _mlir_ciface_ssmcMpiLocalSeqlens(&cm, mine, &om);
  for (size_t i = 0; i < cu.size(); ++i)
    EXPECT_EQ(out[i], std::min(std::max<int64_t>(cu[i] - before, 0), mine))
        << "offset " << i << " on rank " << r;
}

/// ssmcMpiSegmentSums: the sums of ssmcMpiStepSums over each packed
/// sequence's steps (an empty one sums to 0), both layouts.
TEST(Distributed, SegmentSumsMatchDoubleLoops) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> dist(-4.0f, 3.0f);
  const int64_t cols = 3, L = 41;
  std::vector<int64_t> cu{0, 17, 17, 18, 41};
  for (int timeDim : {1, 2})
    for (int sp : {0, 1}) {
      std::vector<int64_t> shape = timeDim == 2 ? std::vector<int64_t>{1, cols, L}
                                                : std::vector<int64_t>{1, L, cols};
      std::vector<float> x(cols * L), bias(cols), out(4 * cols, -1.0f);
      for (float &v : x)
        v = dist(rng);
      for (float &v : bias)
        v = 0.5f * dist(rng);
      auto xm = ref<3>(x, shape);
      auto bm = ref<1>(bias, {cols});
      auto om = ref<2>(out, {4, cols});
      auto cm = ref64(cu);
      _mlir_ciface_ssmcMpiSegmentSums(&xm, &bm, &om, &cm, timeDim, sp,
                                      -INFINITY, INFINITY);
      for (int64_t i = 0; i < 4; ++i)
        for (int64_t j = 0; j < cols; ++j) {
          double want = 0;
          for (int64_t t = cu[i]; t < cu[i + 1]; ++t) {
            double v = (timeDim == 2 ? x[j * L + t] : x[t * cols + j]) + bias[j];
            want += sp ? softplus(v) : v;
          }
          EXPECT_NEAR(out[i * cols + j], want, 1e-5 * std::max(1.0, std::fabs(want)))
              << "sequence " << i << " timeDim " << timeDim << " softplus " << sp;
        }
    }
}

/// ssmcMpiPackedHalo and ssmcMpiPackedFinals on any number of ranks (rank
/// r holds 3 + r steps; x[d, t] = 100 d + the step's global position): a
/// sequence running through a slice's first step gets the steps before it
/// that are its own and its initial state before them; every other one its
/// initial state; each final state comes from the rank holding the
/// sequence's last step.
TEST(Distributed, PackedHaloStopsAtSequenceStarts) {
  const int r = ssmc::dist::rank(), R = ssmc::dist::size();
  std::vector<int64_t> begin(R + 1, 0);
  for (int j = 0; j < R; ++j)
    begin[j + 1] = begin[j] + 3 + j;
  const int64_t a = begin[r], mine = 3 + r, total = begin[R];
  const int64_t D = 2, H = 2, S = 5;
  std::vector<int64_t> cu{0, 1, 1, total / 2, total - 1, total};
  std::vector<float> x(D * mine), init(S * D * H), halo(S * D * H, -1.0f);
  for (int64_t d = 0; d < D; ++d)
    for (int64_t t = 0; t < mine; ++t)
      x[d * mine + t] = 100.0f * d + float(a + t);
  for (size_t i = 0; i < init.size(); ++i)
    init[i] = -1000.0f - float(i);
  auto xm = ref<3>(x, {1, D, mine});
  auto im = ref<3>(init, {S, D, H});
  auto hm = ref<3>(halo, {S, D, H});
  auto cm = ref64(cu);
  _mlir_ciface_ssmcMpiPackedHalo(&xm, &im, &cm, &hm);
  for (int64_t i = 0; i < S; ++i)
    for (int64_t d = 0; d < D; ++d)
      for (int64_t j = 0; j < H; ++j) {
        const int64_t p = a - H + j;
        float want = init[(i * D + d) * H + j];
        if (cu[i] < a && a < cu[i + 1])
          want = p >= cu[i] ? 100.0f * d + float(p)
                            : init[(i * D + d) * H + H + (p - cu[i])];
        EXPECT_EQ(halo[(i * D + d) * H + j], want)
            << "sequence " << i << " d " << d << " j " << j << " rank " << r;
      }
  // Finals: rank r's row i holds 10 r + i.
  std::vector<float> fin(S * 3), out(S * 3, -1.0f);
  for (int64_t i = 0; i < S; ++i)
    for (int k = 0; k < 3; ++k)
      fin[i * 3 + k] = 10.0f * r + float(i);
  auto fm = ref<1>(fin, {S * 3});
  auto om = ref<1>(out, {S * 3});
  _mlir_ciface_ssmcMpiPackedFinals(&fm, &cm, mine, &om);
  for (int64_t i = 0; i < S; ++i) {
    const int64_t q = cu[i + 1] > cu[i] ? cu[i + 1] - 1 : cu[i];
    int owner = R - 1;
    for (int j = R - 1; j >= 0; --j)
      if (begin[j] <= q && q < begin[j + 1])
        owner = j;
    for (int k = 0; k < 3; ++k)
      EXPECT_EQ(out[i * 3 + k], 10.0f * owner + float(i)) << "sequence " << i;
  }
}

} // namespace

int main(int argc, char **argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (llvm::Error e = ssmc::dist::init(&argc, &argv)) {
    fprintf(stderr, "%s\n", llvm::toString(std::move(e)).c_str());
    return 1;
  }
  // Every rank's failures count.
  int status = RUN_ALL_TESTS();
  bool ok = ssmc::dist::allOk(status == 0);
  ssmc::dist::finalize();
  return ok ? 0 : 1;
}
