//===- ReferenceTest.cpp - the reference numerics against closed forms ----===//
//
// The reference loops are the ground truth of every other test, so they are
// themselves checked against closed-form values and against the theory's
// equivalences (a selective scan is a first-order linear recurrence, i.e. an
// associative scan).
//
//===----------------------------------------------------------------------===//

#include "test/lib/Reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <utility>

using namespace ssmc::ref;

namespace {

std::vector<double> randomVector(std::mt19937 &rng, size_t n, double lo,
                                 double hi) {
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (double &x : v)
    x = dist(rng);
  return v;
}

TEST(ReferenceSelectiveScan, ScalarGeometricSeries) {
  // One channel, one state, constant inputs: h_t = r h_{t-1} + dt*b*u with
  // r = exp(dt*a), so h_t = dt*b*u * (1 - r^(t+1)) / (1 - r).
  SelectiveScanProblem p;
  p.seqLen = 6;
  const double dt = 0.3, a = -0.7, b = 1.5, c = -2.0, u = 0.8;
  p.u.assign(6, u);
  p.delta.assign(6, dt);
  p.A = {a};
  p.B.assign(6, b);
  p.C.assign(6, c);
  SelectiveScanResult r = selectiveScan(p);
  const double ratio = std::exp(dt * a);
  for (int t = 0; t < 6; ++t) {
    double h = dt * b * u * (1 - std::pow(ratio, t + 1)) / (1 - ratio);
    EXPECT_NEAR(r.out[t], c * h, 1e-12) << "t=" << t;
  }
  EXPECT_NEAR(r.finalState[0],
              dt * b * u * (1 - std::pow(ratio, 6)) / (1 - ratio), 1e-12);
}

TEST(ReferenceSelectiveScan, SkipGateBiasSoftplusAndInitialState) {
  // L = 1, N = 1: every term can be written out by hand.
  SelectiveScanProblem p;
  p.u = {2.0};
  p.delta = {0.1};
  p.deltaBias = {0.4};
  p.deltaSoftplus = true;
  p.A = {-1.0};
  p.B = {3.0};
  p.C = {0.5};
  p.D = {1.25};
  p.z = {-0.3};
  p.h0 = {4.0};
  SelectiveScanResult r = selectiveScan(p);
  const double dt = std::log(1 + std::exp(0.5));
  const double h = std::exp(-dt) * 4.0 + dt * 3.0 * 2.0;
  const double y = 0.5 * h + 1.25 * 2.0;
  const double gate = -0.3 / (1 + std::exp(0.3));
  EXPECT_NEAR(r.out[0], y * gate, 1e-12);
  EXPECT_NEAR(r.finalState[0], h, 1e-12);
}

TEST(ReferenceSelectiveScan, SoftplusIsStableForLargeInputs) {
  EXPECT_NEAR(softplus(800.0), 800.0, 1e-9);
  EXPECT_NEAR(softplus(-800.0), 0.0, 1e-300);
  EXPECT_NEAR(softplus(0.0), std::log(2.0), 1e-15);
}

TEST(ReferenceSelectiveScan, GroupedEqualsSharedWhenGroupsRepeat) {
  // B/C grouped with G groups whose slices are all equal must give the same
  // result as the shared [B, N, L] layout.
  std::mt19937 rng(7);
  SelectiveScanProblem shared;
  shared.batch = 2;
  shared.channels = 4;
  shared.seqLen = 5;
  shared.stateSize = 3;
  const size_t act = 2 * 4 * 5, bc = 2 * 3 * 5;
  shared.u = randomVector(rng, act, -1, 1);
  shared.delta = randomVector(rng, act, 0.01, 0.5);
  shared.A = randomVector(rng, 4 * 3, -2, -0.1);
  shared.B = randomVector(rng, bc, -1, 1);
  shared.C = randomVector(rng, bc, -1, 1);
  SelectiveScanProblem grouped = shared;
  grouped.groupsB = grouped.groupsC = 2;
  grouped.B.clear();
  grouped.C.clear();
  for (int b = 0; b < 2; ++b)
    for (int g = 0; g < 2; ++g)
      for (int i = 0; i < 3 * 5; ++i) {
        grouped.B.push_back(shared.B[b * 15 + i]);
        grouped.C.push_back(shared.C[b * 15 + i]);
      }
  SelectiveScanResult a = selectiveScan(shared), b = selectiveScan(grouped);
  for (size_t i = 0; i < act; ++i)
    EXPECT_DOUBLE_EQ(a.out[i], b.out[i]);
}

TEST(ReferenceSelectiveScan, EqualsLinearRecurrenceScan) {
  // h_t = exp(dt*A) h_{t-1} + dt*B*u is the scan of (a_t, b_t) pairs with
  // (a1, b1) . (a2, b2) = (a1 a2, a2 b1 + b2); y_t = sum_n C h_t.
  std::mt19937 rng(11);
  SelectiveScanProblem p;
  p.batch = 1;
  p.channels = 3;
  p.seqLen = 9;
  p.stateSize = 4;
  p.u = randomVector(rng, 27, -1, 1);
  p.delta = randomVector(rng, 27, 0.01, 1.0);
  p.A = randomVector(rng, 12, -3, -0.1);
  p.B = randomVector(rng, 36, -1, 1);
  p.C = randomVector(rng, 36, -1, 1);
  SelectiveScanResult r = selectiveScan(p);

  Combiner linear = [](const std::vector<double> &acc,
                       const std::vector<double> &x) {
    return std::vector<double>{acc[0] * x[0], x[0] * acc[1] + x[1]};
  };
  for (int d = 0; d < 3; ++d) {
    std::vector<double> y(9, 0.0);
    for (int n = 0; n < 4; ++n) {
      std::vector<double> as(9), bs(9);
      for (int t = 0; t < 9; ++t) {
        const double dt = p.delta[d * 9 + t];
        as[t] = std::exp(dt * p.A[d * 4 + n]);
        bs[t] = dt * p.B[n * 9 + t] * p.u[d * 9 + t];
      }
      auto h = scan({as, bs}, {9}, 0, linear);
      for (int t = 0; t < 9; ++t)
        y[t] += p.C[n * 9 + t] * h[1][t];
    }
    for (int t = 0; t < 9; ++t)
      EXPECT_NEAR(r.out[d * 9 + t], y[t], 1e-12) << "d=" << d << " t=" << t;
  }
}

Combiner sum = [](const std::vector<double> &a, const std::vector<double> &b) {
  return std::vector<double>{a[0] + b[0]};
};

TEST(ReferenceSSD, PerChannelSkipAndDtLimitClosedForm) {
  // One head, P = 2 channels, N = 1, B = C = 1, two steps. dt_limit clamps
  // softplus(dt + bias) to [lo, hi] (mamba_chunk_scan_combined), and D [H, P]
  // weighs each channel's skip by its own D[h, p]:
  //   h_1 = dt_1 x_1,  h_2 = exp(dt_2 A) h_1 + dt_2 x_2,  y_t = h_t + D[p] x_t.
  SSDProblem p;
  p.seqLen = 2, p.headDim = 2;
  p.dtSoftplus = true;
  p.dtLimit = std::make_pair(0.2, 0.9);
  // softplus(-3 + 0.5) = 0.079 is raised to 0.2; softplus(2 + 0.5) = 2.58
  // is lowered to 0.9.
  p.dt = {-3.0, 2.0};
  p.dtBias = {0.5};
  p.A = {-1.3};
  p.x = {0.4, -0.7, 1.1, 0.25};
  p.B = {1.0, 1.0};
  p.C = {1.0, 1.0};
  p.D = {0.6, -1.7};
  SSDResult r = ssd(p);
  const double dt1 = 0.2, dt2 = 0.9;
  for (int c = 0; c < 2; ++c) {
    const double h1 = dt1 * p.x[c];
    const double h2 = std::exp(dt2 * -1.3) * h1 + dt2 * p.x[2 + c];
    EXPECT_NEAR(r.out[c], h1 + p.D[c] * p.x[c], 1e-12);
    EXPECT_NEAR(r.out[2 + c], h2 + p.D[c] * p.x[2 + c], 1e-12);
    EXPECT_NEAR(r.finalState[c], h2, 1e-12);
  }
  // Without dt_limit the raw step sizes apply; a D [H] of one value per head
  // equals a D [H, P] with that value in every channel.
  SSDProblem q = p;
  q.dtLimit.reset();
  q.D = {0.6};
  SSDResult free = ssd(q);
  const double sp1 = std::log1p(std::exp(-2.5));
  EXPECT_NEAR(free.finalState[0],
              std::exp(std::log1p(std::exp(2.5)) * -1.3) * sp1 * 0.4 +
                  std::log1p(std::exp(2.5)) * 1.1,
              1e-12);
  q.D = {0.6, 0.6};
  SSDResult perChannel = ssd(q);
  for (size_t i = 0; i < free.out.size(); ++i)
    EXPECT_EQ(free.out[i], perChannel.out[i]);
}

TEST(ReferenceScan, InclusiveExclusiveReverse) {
  const std::vector<double> x = {1, 2, 3, 4};
  EXPECT_EQ(scan({x}, {4}, 0, sum)[0], (std::vector<double>{1, 3, 6, 10}));
  EXPECT_EQ(scan({x}, {4}, 0, sum, /*reverse=*/true)[0],
            (std::vector<double>{10, 9, 7, 4}));
  EXPECT_EQ(scan({x}, {4}, 0, sum, false, /*exclusive=*/true,
                 std::vector<double>{100})[0],
            (std::vector<double>{100, 101, 103, 106}));
  EXPECT_EQ(scan({x}, {4}, 0, sum, true, true, std::vector<double>{0})[0],
            (std::vector<double>{9, 7, 4, 0}));
  EXPECT_EQ(scan({x}, {4}, 0, sum, false, false, std::vector<double>{5})[0],
            (std::vector<double>{6, 8, 11, 15}));
}

TEST(ReferenceScan, AxisSelectsTheLanes) {
  // 2x3 row-major: axis 0 scans columns, axis 1 scans rows.
  const std::vector<double> x = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(scan({x}, {2, 3}, 0, sum)[0],
            (std::vector<double>{1, 2, 3, 5, 7, 9}));
  EXPECT_EQ(scan({x}, {2, 3}, 1, sum)[0],
            (std::vector<double>{1, 3, 6, 4, 9, 15}));
}

TEST(ReferenceScan, NonCommutativeCombinerKeepsOrder) {
  // Composition of affine maps x -> a x + b is associative, not commutative.
  Combiner compose = [](const std::vector<double> &f,
                        const std::vector<double> &g) {
    return std::vector<double>{f[0] * g[0], g[0] * f[1] + g[1]};
  };
  auto r = scan({{2, 3}, {1, 1}}, {2}, 0, compose);
  EXPECT_EQ(r[1][1], 3 * 1 + 1); // h = 3 * (2*0 + 1) + 1
  auto rev = scan({{2, 3}, {1, 1}}, {2}, 0, compose, /*reverse=*/true);
  EXPECT_EQ(rev[1][0], 2 * 1 + 1);
}

} // namespace
