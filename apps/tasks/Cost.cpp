//===- Cost.cpp - the measured cost of generating T tokens ----------------===//
//
// TASKS.md section 4. Four decoders, each a compiled decode-step program
// called once per token through Jit::invoke (static shapes, results written
// into caller buffers; the carried state ping-pongs between two buffers):
//  (i)   recurrent model with state O(T): linear_attention_step, N = T;
//  (ii)  recurrent model with state O(m): linear_attention_step, N = m;
//  (iii) softmax attention with a KV cache of T entries: attention_step;
//  (iv)  sliding-window attention, window w: attention_step on a ring cache
//        of w slots.
// Per token: the call's wall time and the bytes the decoder carries from
// token to token (state or caches) plus the peak heap of the call.
//
//===----------------------------------------------------------------------===//

#include "Cells.h"
#include "Constructions.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

using namespace ssmc::tasks::detail;

namespace ssmc::tasks {

namespace {

struct Measurement {
  double totalMs = 0;
  double firstTokenUs = 0, lastTokenUs = 0; ///< medians of first/last 5%
  int64_t carriedBytes = 0, peakHeapBytes = 0;
  double compileMs = 0;
};
void encodeCell(CellWriter &w, const Measurement &m) {
  w.put(m.totalMs);
  w.put(m.firstTokenUs);
  w.put(m.lastTokenUs);
  w.put(m.carriedBytes);
  w.put(m.peakHeapBytes);
  w.put(m.compileMs);
}
void decodeCell(CellReader &r, Measurement &m) {
  r.get(m.totalMs);
  r.get(m.firstTokenUs);
  r.get(m.lastTokenUs);
  r.get(m.carriedBytes);
  r.get(m.peakHeapBytes);
  r.get(m.compileMs);
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

void randomize(OwnedTensor &t, Rng &rng) {
  std::uniform_real_distribution<float> d(-1, 1);
  for (int64_t i = 0; i < t.numel(); ++i)
    t.as<float>()[i] = d(rng);
}

enum class Kind { RecurrentFull, RecurrentLocal, Attention, Window };

llvm::Expected<Measurement> measure(Kind kind, int64_t T, const CostOptions &o,
                                    const RunOptions &ro, Rng &rng) {
  const int64_t V = o.valueDim, d = o.headDim;
  const bool recurrent = kind == Kind::RecurrentFull || kind == Kind::RecurrentLocal;
  const int64_t size = kind == Kind::RecurrentFull || kind == Kind::Attention
                           ? T
                           : (kind == Kind::RecurrentLocal ? o.localState : o.window);
  std::string src = recurrent ? recurrentStepProgram(size, V)
                              : attentionStepProgram(size, d, V, kind == Kind::Window);
  auto c0 = std::chrono::steady_clock::now();
  RunOptions compiled = ro; // the table reports the compile time
  compiled.cacheDir.clear();
  auto jit = compileModel(src, "cost", compiled);
  if (!jit)
    return jit.takeError();
  Measurement m;

  const int64_t K = recurrent ? size : d;
  OwnedTensor q(DType::F32, {1, 1, K}), k(DType::F32, {1, 1, K});
  OwnedTensor v(DType::F32, {1, 1, V}), out(DType::F32, {1, 1, V});
  OwnedTensor pos(DType::I64, {});
  // Carried state, twice (read one, write the other).
  std::vector<OwnedTensor> carry[2];
  for (auto &c : carry) {
    if (recurrent) {
      c.emplace_back(DType::F32, std::vector<int64_t>{1, 1, size, V});
    } else {
      c.emplace_back(DType::F32, std::vector<int64_t>{1, 1, size, d});
      c.emplace_back(DType::F32, std::vector<int64_t>{1, 1, size, V});
    }
  }
  for (const OwnedTensor &c : carry[0])
    m.carriedBytes += c.sizeInBytes();

  // One decode call reading carry[from] and writing carry[to].
  auto decode = [&](int from, int to) -> llvm::Error {
    std::vector<Tensor> inputs{q.view(), k.view(), v.view()};
    std::vector<Tensor> outputs{out.view()};
    for (auto &c : carry[from])
      inputs.push_back(c.view());
    for (auto &c : carry[to])
      outputs.push_back(c.view());
    if (!recurrent)
      inputs.push_back(pos.view());
    return (*jit)->invoke("decode", inputs, outputs);
  };
  // Warm-up: the first call materialises the compiled code (counted as
  // compile time), then the carried buffers start from zero again.
  if (llvm::Error e = decode(0, 1))
    return std::move(e);
  for (auto &side : carry)
    for (auto &c : side)
      std::memset(c.data(), 0, c.sizeInBytes());
  m.compileMs = std::chrono::duration<double, std::milli>(
                    std::chrono::steady_clock::now() - c0)
                    .count();

  std::vector<double> us(T);
  for (int64_t t = 0; t < T; ++t) {
    if (recurrent) {
      // One-hot position keys (slot t mod N), as in the COPY model.
      std::fill(k.as<float>(), k.as<float>() + K, 0.0f);
      k.as<float>()[t % size] = 1.0f;
      std::copy_n(k.as<float>(), K, q.as<float>());
    } else {
      randomize(q, rng);
      randomize(k, rng);
    }
    randomize(v, rng);
    pos.as<int64_t>()[0] = t;
    auto t0 = std::chrono::steady_clock::now();
    if (llvm::Error e = decode(t % 2, (t + 1) % 2))
      return std::move(e);
    us[t] = std::chrono::duration<double, std::micro>(
                std::chrono::steady_clock::now() - t0)
                .count();
    m.peakHeapBytes = std::max<int64_t>(m.peakHeapBytes,
                                        (*jit)->lastCallPeakHeapBytes());
  }
  for (double x : us)
    m.totalMs += x / 1000.0;
  int64_t tail = std::max<int64_t>(1, T / 20);
  m.firstTokenUs = median({us.begin(), us.begin() + tail});
  m.lastTokenUs = median({us.end() - tail, us.end()});
  return m;
}

} // namespace

llvm::Expected<TaskResult> runCost(const CostOptions &o, const RunOptions &ro) {
  struct Model {
    Kind kind;
    std::string name;
    bool quadratic;
    double expectedSlope;
  };
  const std::vector<Model> models = {
      {Kind::RecurrentFull, "(i) recurrent, state O(T) (N = T)", true, 2},
      {Kind::RecurrentLocal,
       "(ii) recurrent, state O(m) (N = " + std::to_string(o.localState) + ")",
       false, 1},
      {Kind::Attention, "(iii) softmax attention, KV cache of T", true, 2},
      {Kind::Window,
       "(iv) sliding-window attention, w = " + std::to_string(o.window) + " (ring cache)",
       false, 1}};
  TaskResult result;
  result.task = "Cost of generation";
  Table table{"cost", "Cost of generating T tokens, measured per token (one decode-step call each)",
              {"model", "T", "total ms", "per-token us (first 5%)",
               "per-token us (last 5%)", "carried bytes per token",
               "peak heap bytes per call", "compile + first call ms"},
              {}};
  Table slopes{"cost_slopes", "Log-log slopes of total time and carried memory against T",
               {"model", "T range", "slope of total time", "slope over T >= 1000",
                "expected", "carried bytes at smallest / largest T"},
               {}};
  size_t done = 0, total = 0;
  for (const Model &m : models)
    for (int64_t T : o.lengths)
      total += !(m.quadratic && T > o.maxQuadraticLength);
  for (const Model &m : models) {
    std::vector<double> Ts, totals, upperT, upperTotals;
    std::vector<int64_t> carried;
    for (int64_t T : o.lengths) {
      if (m.quadratic && T > o.maxQuadraticLength)
        continue;
      auto compute = [&](Rng &rng) {
        if (ro.progress)
          ro.progress(llvm::formatv("cost: {0}, T={1} ({2}/{3})", m.name, T,
                                    ++done, total));
        return measure(m.kind, T, o, ro, rng);
      };
      // Time per token: the state or cache it reads (plus a fixed call
      // cost), so the decoders of state O(T) cost T^2 in all.
      const double size = m.kind == Kind::RecurrentLocal ? o.localState
                          : m.kind == Kind::Window       ? o.window
                                                         : double(T);
      const double cost = double(T) * (size * (o.valueDim + o.headDim) + 1e4);
      auto fold = [&](const Measurement &meas) {
        const Measurement *r = &meas;
        Ts.push_back(T);
        totals.push_back(r->totalMs);
        if (T >= 1000)
          upperT.push_back(T), upperTotals.push_back(r->totalMs);
        carried.push_back(r->carriedBytes);
        table.rows.push_back(
            {m.name, std::to_string(T), llvm::formatv("{0:F2}", r->totalMs).str(),
             llvm::formatv("{0:F2}", r->firstTokenUs).str(),
             llvm::formatv("{0:F2}", r->lastTokenUs).str(),
             std::to_string(r->carriedBytes), std::to_string(r->peakHeapBytes),
             llvm::formatv("{0:F0}", r->compileMs).str()});
      };
      if (llvm::Error e = runCell<Measurement>(
              ro, llvm::formatv("cost/{0} T={1}", m.name, T), cost, compute,
              fold))
        return e;
    }
    double slope = logLogSlope(Ts, totals);
    double upper = upperT.size() >= 2 ? logLogSlope(upperT, upperTotals) : NAN;
    slopes.rows.push_back(
        {m.name,
         Ts.empty() ? "-"
                    : llvm::formatv("{0} .. {1}", int64_t(Ts.front()),
                                    int64_t(Ts.back()))
                          .str(),
         llvm::formatv("{0:F2}", slope).str(),
         std::isnan(upper) ? "-" : llvm::formatv("{0:F2}", upper).str(),
         llvm::formatv("{0:F0}", m.expectedSlope).str(),
         carried.empty() ? "-"
                         : std::to_string(carried.front()) + " / " +
                               std::to_string(carried.back())});
    double decisive = std::isnan(upper) ? slope : upper;
    bool slopeOk = std::fabs(decisive - m.expectedSlope) <= 0.3;
    bool flat = !carried.empty() && carried.front() == carried.back();
    std::string ev = llvm::formatv("slope {0:F2} (all T), {1} (T >= 1000); "
                                   "carried bytes {2} -> {3}",
                                   slope,
                                   std::isnan(upper) ? std::string("-")
                                                     : llvm::formatv("{0:F2}", upper).str(),
                                   carried.empty() ? 0 : carried.front(),
                                   carried.empty() ? 0 : carried.back())
                         .str();
    if (!folding(ro))
      continue;
    if (m.quadratic)
      result.claims.push_back({"Cost", m.name + ": total time grows as T^2 "
                                                "(log-log slope about 2)",
                               slopeOk, ev});
    else
      result.claims.push_back({"Cost", m.name + ": total time grows as T "
                                                "(slope about 1) with flat "
                                                "per-token memory",
                               slopeOk && flat, ev});
  }
  result.tables = {table, slopes};
  return result;
}

} // namespace ssmc::tasks
