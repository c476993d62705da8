//===- DPSolvers.h - independent solvers for the DP examples ----*- C++ -*-===//
//
// Plain C++ solvers for the DP problems of examples/dp/ and of the theory
// tasks. Each uses a textbook algorithm that differs from the ssm.dp
// formulation where one exists (LIS by a Fenwick tree over values, 0/1
// knapsack by the one-row descending-capacity loop, edit distance and LCS on
// the (n+1) x (m+1) table with an explicit border), so a test comparing
// against them checks the compiler, not itself.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_APPS_TASKS_DPSOLVERS_H
#define SSMC_APPS_TASKS_DPSOLVERS_H

#include <algorithm>
#include <cstdint>
#include <vector>

namespace ssmc::ref {

/// dp[i] = 1 + max{dp[j] : j < i, a[j] < a[i]} (0 when no such j): the
/// length of the longest strictly increasing subsequence ending at i.
inline std::vector<int64_t> lisTable(const std::vector<int64_t> &a) {
  std::vector<int64_t> values(a);
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  // Fenwick tree of prefix maxima over value ranks.
  std::vector<int64_t> tree(values.size() + 1, 0);
  std::vector<int64_t> dp(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    size_t rank = std::lower_bound(values.begin(), values.end(), a[i]) -
                  values.begin(); // values strictly below a[i]: ranks < rank
    int64_t best = 0;
    for (size_t k = rank; k > 0; k -= k & -k)
      best = std::max(best, tree[k]);
    dp[i] = best + 1;
    for (size_t k = rank + 1; k < tree.size(); k += k & -k)
      tree[k] = std::max(tree[k], dp[i]);
  }
  return dp;
}

/// Length of the longest strictly increasing subsequence.
inline int64_t lis(const std::vector<int64_t> &a) {
  std::vector<int64_t> dp = lisTable(a);
  return dp.empty() ? 0 : *std::max_element(dp.begin(), dp.end());
}

/// Edit-distance table of x and y: entry (i, j), 0 <= i < |x|, 0 <= j < |y|,
/// is the distance between x[0..i] and y[0..j] with insert/delete cost
/// `indel` and substitution cost `sub`, row-major.
inline std::vector<int64_t> editDistanceTable(const std::vector<int64_t> &x,
                                              const std::vector<int64_t> &y,
                                              int64_t indel = 2,
                                              int64_t sub = 3) {
  const size_t n = x.size(), m = y.size();
  std::vector<std::vector<int64_t>> t(n + 1, std::vector<int64_t>(m + 1));
  for (size_t i = 0; i <= n; ++i)
    t[i][0] = indel * static_cast<int64_t>(i);
  for (size_t j = 0; j <= m; ++j)
    t[0][j] = indel * static_cast<int64_t>(j);
  for (size_t i = 1; i <= n; ++i)
    for (size_t j = 1; j <= m; ++j)
      t[i][j] = std::min({t[i - 1][j] + indel, t[i][j - 1] + indel,
                          t[i - 1][j - 1] + (x[i - 1] == y[j - 1] ? 0 : sub)});
  std::vector<int64_t> out;
  for (size_t i = 1; i <= n; ++i)
    out.insert(out.end(), t[i].begin() + 1, t[i].end());
  return out;
}

/// Edit distance between x and y (insert/delete `indel`, substitute `sub`).
inline int64_t editDistance(const std::vector<int64_t> &x,
                            const std::vector<int64_t> &y, int64_t indel = 2,
                            int64_t sub = 3) {
  if (x.empty() || y.empty())
    return indel * static_cast<int64_t>(x.size() + y.size());
  return editDistanceTable(x, y, indel, sub).back();
}

/// Length of the longest common subsequence of x and y.
inline int64_t lcs(const std::vector<int64_t> &x,
                   const std::vector<int64_t> &y) {
  std::vector<int64_t> prev(y.size() + 1, 0), cur(y.size() + 1, 0);
  for (size_t i = 1; i <= x.size(); ++i) {
    for (size_t j = 1; j <= y.size(); ++j)
      cur[j] = x[i - 1] == y[j - 1] ? prev[j - 1] + 1
                                    : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[y.size()];
}

/// Best total value of a subset of items (weights w, values v) with total
/// weight <= capacity.
inline int64_t knapsack01(const std::vector<int64_t> &w,
                          const std::vector<int64_t> &v, int64_t capacity) {
  std::vector<int64_t> best(capacity + 1, 0);
  for (size_t i = 0; i < w.size(); ++i)
    for (int64_t c = capacity; c >= w[i]; --c)
      best[c] = std::max(best[c], best[c - w[i]] + v[i]);
  return best[capacity];
}

/// m-local DP: dp[i] = (dp[i-1] + ... + dp[i-m] + s[i]) mod p, with
/// dp[k] = 0 for k < 0.
inline std::vector<int64_t> localSumMod(const std::vector<int64_t> &s,
                                        int64_t m, int64_t p) {
  std::vector<int64_t> dp(s.size());
  int64_t window = 0; // sum of the last m cells
  for (size_t i = 0; i < s.size(); ++i) {
    dp[i] = ((window + s[i]) % p + p) % p;
    window += dp[i];
    if (static_cast<int64_t>(i) >= m)
      window -= dp[i - m];
  }
  return dp;
}

} // namespace ssmc::ref

#endif // SSMC_APPS_TASKS_DPSOLVERS_H
