//===- DPCoT.cpp - DP problems solved with chain-of-thought ---------------===//
//
// TASKS.md section 3. A chain-of-thought program emits one token per step;
// each step reads the tokens it depends on back from the model's recurrent
// state and applies the problem's transition (the part a trained MLP would
// compute, here exact, so that the measurement isolates memory). The model
// is the keyed store of the COPY task run token by token with the decode
// step op: token p is written with key e_(p mod N) and value e_token, and a
// read of position p queries with e_(p mod N).
//  - state O(T): N = the sequence length, no decay: every position has its
//    own slot;
//  - state O(m): N = 2m + 2 slots reused round-robin with decay
//    a = 0.25^(1/N), so a slot returns its latest token (older writes weigh
//    at most a^N / (1 - a^N) = 1/3 of it).
//
//===----------------------------------------------------------------------===//

#include "Cells.h"
#include "Constructions.h"

#include "apps/tasks/DPSolvers.h"
#include "ssmc/ProgramReport.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>
#include <map>

using namespace ssmc::tasks::detail;

namespace ssmc::tasks {

namespace {
// Token vocabulary of LIS / edit distance / local sums: numbers below 200,
// letters 200..225, separators.
constexpr int kLetter = 200, kSep = 250, kBar = 251, kVocab = 256;
constexpr int kLocalVocab = 16;
// Arithmetic: 0..10, operators, parentheses, '='.
constexpr int kPlus = 11, kMinus = 12, kTimes = 13, kOpen = 14, kClose = 15,
              kEq = 16, kArithVocab = 32;

int clampNumber(int64_t v) { return static_cast<int>(std::clamp<int64_t>(v, 0, kLetter - 1)); }
} // namespace

CoTProgram lisProgram(const std::vector<int64_t> &a) {
  CoTProgram p;
  const int64_t n = a.size();
  for (int64_t v : a)
    p.prompt.push_back(clampNumber(v));
  p.prompt.push_back(kSep);
  const int64_t dpBase = n + 1;
  for (int64_t i = 0; i < n; ++i) {
    CoTProgram::Step s;
    s.reads.push_back(i); // a_i
    for (int64_t j = 0; j < i; ++j) {
      s.reads.push_back(j);          // a_j
      s.reads.push_back(dpBase + j); // dp_j
    }
    s.apply = [](const std::vector<int> &t) {
      int best = 0;
      for (size_t k = 1; k + 1 < t.size(); k += 2)
        if (t[k] < t[0])
          best = std::max(best, t[k + 1]);
      return clampNumber(best + 1);
    };
    p.steps.push_back(std::move(s));
  }
  p.steps.push_back({{}, [](const std::vector<int> &) { return kSep; }});
  CoTProgram::Step answer;
  for (int64_t j = 0; j < n; ++j)
    answer.reads.push_back(dpBase + j);
  answer.apply = [](const std::vector<int> &t) {
    int best = 0;
    for (int v : t)
      best = std::max(best, v);
    return best;
  };
  p.steps.push_back(std::move(answer));
  return p;
}

CoTProgram editDistanceProgram(const std::vector<int64_t> &x,
                               const std::vector<int64_t> &y) {
  CoTProgram p;
  const int64_t n = x.size(), m = y.size();
  for (int64_t c : x)
    p.prompt.push_back(kLetter + static_cast<int>(c));
  p.prompt.push_back(kBar);
  for (int64_t c : y)
    p.prompt.push_back(kLetter + static_cast<int>(c));
  p.prompt.push_back(kSep);
  const int64_t base = n + m + 2;
  auto cell = [&](int64_t i, int64_t j) { return base + i * m + j; };
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      CoTProgram::Step s;
      s.reads = {i, n + 1 + j};
      if (i > 0)
        s.reads.push_back(cell(i - 1, j));
      if (j > 0)
        s.reads.push_back(cell(i, j - 1));
      if (i > 0 && j > 0)
        s.reads.push_back(cell(i - 1, j - 1));
      s.apply = [i, j](const std::vector<int> &t) {
        size_t k = 2;
        int64_t up = i > 0 ? t[k++] : 2 * (j + 1);
        int64_t left = j > 0 ? t[k++] : 2 * (i + 1);
        int64_t diag = (i > 0 && j > 0) ? t[k++] : 2 * (i + j);
        int64_t sub = t[0] == t[1] ? 0 : 3;
        return clampNumber(std::min({up + 2, left + 2, diag + sub}));
      };
      p.steps.push_back(std::move(s));
    }
  p.steps.push_back({{}, [](const std::vector<int> &) { return kSep; }});
  p.steps.push_back({{cell(n - 1, m - 1)},
                     [](const std::vector<int> &t) { return t[0]; }});
  return p;
}

CoTProgram localSumProgram(const std::vector<int64_t> &s, int64_t m,
                           int64_t p) {
  // Interleaved: s_0 dp_0 s_1 dp_1 ...; the input arrives as it is needed.
  CoTProgram prog;
  for (size_t i = 0; i < s.size(); ++i) {
    int si = static_cast<int>(s[i]);
    prog.steps.push_back({{}, [si](const std::vector<int> &) { return si; }});
    CoTProgram::Step step;
    step.reads.push_back(2 * i);
    for (int64_t k = 1; k <= m && k <= static_cast<int64_t>(i); ++k)
      step.reads.push_back(2 * (i - k) + 1);
    step.apply = [p](const std::vector<int> &t) {
      int64_t sum = 0;
      for (int v : t)
        sum += v;
      return static_cast<int>(((sum % p) + p) % p);
    };
    prog.steps.push_back(std::move(step));
  }
  return prog;
}

namespace {
/// Expression tree over Z_11 for the arithmetic task.
struct Expr {
  struct Node {
    int op = 0; ///< 0: leaf, else kPlus / kMinus / kTimes
    int64_t value = 0;
    int left = -1, right = -1;
  };
  std::vector<Node> nodes;
  int root = -1;

  int gen(Rng &rng, int64_t ops) {
    Node nd;
    if (ops == 0) {
      nd.value = std::uniform_int_distribution<int64_t>(0, 10)(rng);
      nodes.push_back(nd);
      return nodes.size() - 1;
    }
    int64_t l = std::uniform_int_distribution<int64_t>(0, ops - 1)(rng);
    static const int opsList[] = {kPlus, kMinus, kTimes};
    nd.op = opsList[std::uniform_int_distribution<int>(0, 2)(rng)];
    int li = gen(rng, l), ri = gen(rng, ops - 1 - l);
    nd.left = li, nd.right = ri;
    nodes.push_back(nd);
    return nodes.size() - 1;
  }
  static int prec(int op) { return op == kTimes ? 2 : 1; }
  static int64_t apply(int op, int64_t a, int64_t b) {
    int64_t r = op == kPlus ? a + b : op == kMinus ? a - b : a * b;
    return ((r % 11) + 11) % 11;
  }
  int64_t eval(int n) const {
    const Node &nd = nodes[n];
    return nd.op ? apply(nd.op, eval(nd.left), eval(nd.right)) : nd.value;
  }
  /// Tokens with their origin: (node, kind), kind 0 number, 1 operator,
  /// 2 '(', 3 ')'.
  void print(int n, std::vector<int> &toks,
             std::vector<std::pair<int, int>> &origin) const {
    const Node &nd = nodes[n];
    if (!nd.op) {
      toks.push_back(static_cast<int>(nd.value));
      origin.push_back({n, 0});
      return;
    }
    auto child = [&](int c, bool right) {
      const Node &cn = nodes[c];
      bool paren = cn.op && (prec(cn.op) < prec(nd.op) ||
                             (right && prec(cn.op) == prec(nd.op)));
      if (paren)
        toks.push_back(kOpen), origin.push_back({c, 2});
      print(c, toks, origin);
      if (paren)
        toks.push_back(kClose), origin.push_back({c, 3});
    };
    child(nd.left, false);
    toks.push_back(nd.op);
    origin.push_back({n, 1});
    child(nd.right, true);
  }
  /// The leftmost operator whose operands are both numbers.
  int reducible(int n) const {
    const Node &nd = nodes[n];
    if (!nd.op)
      return -1;
    if (!nodes[nd.left].op && !nodes[nd.right].op)
      return n;
    int l = reducible(nd.left);
    return l >= 0 ? l : reducible(nd.right);
  }
};

std::string exprText(const std::vector<int> &toks) {
  std::string s;
  for (int t : toks)
    s += t <= 10 ? std::to_string(t)
                 : std::string(1, "+-*()="[t - kPlus]);
  return s;
}
} // namespace

Arithmetic arithmeticProgram(Rng &rng, int64_t ops) {
  Expr e;
  e.root = e.gen(rng, ops);
  Arithmetic out;
  out.value = e.eval(e.root);
  std::vector<int> toks;
  std::vector<std::pair<int, int>> origin;
  e.print(e.root, toks, origin);
  out.text = exprText(toks);
  out.program.prompt = toks;
  int64_t start = 0; // position of the current expression's first token
  int64_t next = toks.size();
  while (e.nodes[e.root].op) {
    // '=' then the expression with one operator reduced.
    out.program.steps.push_back({{}, [](const std::vector<int> &) { return kEq; }});
    ++next;
    std::map<std::pair<int, int>, int64_t> where;
    for (size_t i = 0; i < origin.size(); ++i)
      where[origin[i]] = start + i;
    int r = e.reducible(e.root);
    Expr::Node &rn = e.nodes[r];
    int64_t posA = where[{rn.left, 0}], posOp = where[{r, 1}],
            posB = where[{rn.right, 0}];
    rn.value = Expr::apply(rn.op, e.nodes[rn.left].value,
                           e.nodes[rn.right].value);
    rn.op = 0;
    std::vector<int> nt;
    std::vector<std::pair<int, int>> norigin;
    e.print(e.root, nt, norigin);
    start = next;
    for (auto o : norigin) {
      CoTProgram::Step s;
      if (o.first == r && o.second == 0) {
        s.reads = {posA, posOp, posB};
        s.apply = [](const std::vector<int> &t) {
          int op = (t[1] == kPlus || t[1] == kMinus || t[1] == kTimes) ? t[1] : kPlus;
          return static_cast<int>(Expr::apply(op, std::max(t[0], 0), std::max(t[2], 0)));
        };
      } else {
        s.reads = {where[o]};
        s.apply = [](const std::vector<int> &t) { return t[0]; };
      }
      out.program.steps.push_back(std::move(s));
      ++next;
    }
    origin = norigin;
  }
  if (out.program.steps.empty()) // a single number: the answer restates it
    out.program.steps.push_back({{0}, [](const std::vector<int> &t) { return t[0]; }});
  return out;
}

int runProgramExactly(const CoTProgram &program) {
  std::vector<int> toks = program.prompt;
  int last = -1;
  for (const CoTProgram::Step &s : program.steps) {
    std::vector<int> read;
    for (int64_t p : s.reads)
      read.push_back(toks[p]);
    last = s.apply(read);
    toks.push_back(last);
  }
  return last;
}

namespace {

/// Farthest back any step of `p` reads (in tokens).
int64_t maxReadDistance(const CoTProgram &p) {
  int64_t far = 0;
  for (size_t i = 0; i < p.steps.size(); ++i) {
    int64_t pos = p.prompt.size() + i;
    for (int64_t r : p.steps[i].reads)
      far = std::max(far, pos - r);
  }
  return far;
}

/// Runs `program` through the compiled keyed store token by token; returns
/// the answer token.
llvm::Expected<int> runOnModel(LazyModel &jit, const CoTProgram &program, int64_t N,
                               int64_t V, double decay) {
  OwnedTensor state(DType::F32, {1, 1, N, V});
  const float logDecay = static_cast<float>(std::log(decay));
  const int64_t len = program.length();
  std::vector<int> toks = program.prompt;
  auto decode = [&](const OwnedTensor &reads, int64_t r) {
    return strictArgmax(reads.as<float>() + r * V, V);
  };
  if (toks.empty()) {
    if (!program.steps.front().reads.empty())
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "the first step of a program without a "
                                     "prompt cannot read");
    toks.push_back(program.steps.front().apply({}));
  }
  int answer = toks.back();
  for (int64_t p = 0; p + 1 < len; ++p) {
    // Write token p, then read what step p + 1 needs.
    const CoTProgram::Step *next = nullptr;
    if (p + 1 >= static_cast<int64_t>(program.prompt.size()))
      next = &program.steps[p + 1 - program.prompt.size()];
    int64_t R = next ? next->reads.size() : 0;
    OwnedTensor k(DType::F32, {1, 1, N}), v(DType::F32, {1, 1, V});
    OwnedTensor g(DType::F32, {1, 1});
    OwnedTensor qs(DType::F32, {1, 1, R, N}), zk(DType::F32, {1, 1, R, N});
    OwnedTensor zv(DType::F32, {1, 1, R, V});
    k.as<float>()[p % N] = 1.0f;
    if (toks[p] >= 0 && toks[p] < V)
      v.as<float>()[toks[p]] = 1.0f;
    g.as<float>()[0] = logDecay;
    for (int64_t r = 0; r < R; ++r)
      qs.as<float>()[r * N + next->reads[r] % N] = 1.0f;
    auto out = jit.run("step", {state.view(), k.view(), v.view(), g.view(),
                                qs.view(), zk.view(), zv.view()});
    if (!out)
      return out.takeError();
    state = std::move((*out)[1]);
    if (next) {
      std::vector<int> read(R);
      for (int64_t r = 0; r < R; ++r)
        read[r] = decode((*out)[0], r);
      answer = next->apply(read);
      toks.push_back(answer);
    }
  }
  return answer;
}

struct Problem {
  std::string name, size;
  CoTProgram program;
  int64_t answer; ///< from the independent solver
  int64_t vocab;
};
using ProblemGroup = std::vector<Problem>;

/// Draws the instances: `samples` per size of every problem (at most 3 of
/// the long local sums), each size from a generator seeded by the run's
/// seed and the problem and size.
class InstanceGenerator {
public:
  InstanceGenerator(const DPOptions &o, uint64_t seed) : o(o), seed(seed) {}

  std::vector<ProblemGroup> all() {
    std::vector<ProblemGroup> groups;
    auto reseed = [&](const std::string &what, int64_t n) {
      rng.seed(cellSeed(seed, "dp/instances " + what + "=" + std::to_string(n)));
    };
    for (int64_t n : o.lisSizes)
      reseed("LIS n", n), groups.push_back(lisGroup(n));
    for (int64_t n : o.editSizes)
      reseed("edit distance n", n), groups.push_back(editDistanceGroup(n));
    for (int64_t ops : o.arithmeticOps)
      reseed("arithmetic ops", ops), groups.push_back(arithmeticGroup(ops));
    for (int64_t T : o.localSizes)
      reseed("local sum T", T), groups.push_back(localSumGroup(T));
    return groups;
  }

private:
  int64_t uniform(int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  }

  ProblemGroup lisGroup(int64_t n) {
    ProblemGroup g;
    for (int64_t s = 0; s < o.samples; ++s) {
      std::vector<int64_t> a(n);
      for (auto &x : a)
        x = uniform(0, 99);
      g.push_back({"LIS", "n=" + std::to_string(n), lisProgram(a), ref::lis(a), kVocab});
    }
    return g;
  }

  ProblemGroup editDistanceGroup(int64_t n) {
    ProblemGroup g;
    for (int64_t s = 0; s < o.samples; ++s) {
      std::vector<int64_t> x(n), y(n);
      for (auto &c : x)
        c = uniform(0, 25);
      for (auto &c : y)
        c = uniform(0, 25);
      // Half the pairs share most letters, so distances vary.
      if (s % 2)
        for (int64_t i = 0; i < n; ++i)
          if (uniform(0, 3) > 0)
            y[i] = x[i];
      g.push_back({"edit distance", "n=" + std::to_string(n),
                   editDistanceProgram(x, y), ref::editDistance(x, y), kVocab});
    }
    return g;
  }

  ProblemGroup arithmeticGroup(int64_t ops) {
    ProblemGroup g;
    for (int64_t s = 0; s < o.samples; ++s) {
      Arithmetic a = arithmeticProgram(rng, ops);
      g.push_back({"arithmetic mod 11", std::to_string(ops) + " operators",
                   std::move(a.program), a.value, kArithVocab});
    }
    return g;
  }

  ProblemGroup localSumGroup(int64_t T) {
    ProblemGroup g;
    for (int64_t s = 0; s < std::min<int64_t>(o.samples, 3); ++s) {
      std::vector<int64_t> x(T);
      for (auto &c : x)
        c = uniform(0, 10);
      std::vector<int64_t> dp = ref::localSumMod(x, o.localWindow, 11);
      g.push_back({std::to_string(o.localWindow) + "-local sum mod 11",
                   "T=" + std::to_string(T),
                   localSumProgram(x, o.localWindow, 11), dp.back(), kLocalVocab});
    }
    return g;
  }

  const DPOptions &o;
  const uint64_t seed;
  Rng rng;
};

/// Runs every group on the O(T) and the O(m) model and keeps the tallies
/// the claims are decided on.
class ModelRuns {
public:
  ModelRuns(const DPOptions &o, const RunOptions &ro, LazyModel &jit)
      : o(o), ro(ro), jit(jit), slots(2 * o.localWindow + 2),
        slotDecay(std::pow(0.25, 1.0 / slots)) {}

  /// Group `index` of `count`: the O(T) model (unless the group is longer
  /// than maxFullStateTokens), then the O(m) one.
  llvm::Error runGroup(const ProblemGroup &g, size_t index, size_t count) {
    // Programs of one group may differ in length (arithmetic): the O(T)
    // model gets a slot for every token of the longest.
    int64_t tokens = 0, far = 0;
    for (const Problem &p : g) {
      tokens = std::max(tokens, p.program.length());
      far = std::max(far, maxReadDistance(p.program));
    }
    for (int full = 1; full >= 0; --full) {
      if (full && tokens > o.maxFullStateTokens)
        continue;
      auto compute = [&](Rng &) {
        if (ro.progress)
          ro.progress(llvm::formatv(
              "dp: {0} {1}, state {2}, {3} samples (group {4}/{5})",
              g.front().name, g.front().size, full ? "O(T)" : "O(m)",
              g.size(), index + 1, count));
        return runState(g, full, full ? tokens : slots);
      };
      const int64_t N = full ? tokens : slots;
      double cost = 0;
      for (const Problem &p : g)
        cost += double(p.program.length()) * N * p.vocab;
      if (llvm::Error e = runCell<Score>(
              ro,
              llvm::formatv("dp/{0} {1} {2}", g.front().name, g.front().size,
                            full ? "O(T)" : "O(m)"),
              cost, compute,
              [&](const Score &s) { tally(g, full, tokens, far, s); }))
        return e;
    }
    return llvm::Error::success();
  }

  /// The accuracy table, one row per group and state.
  Table table{"dp_cot",
              "DP with chain-of-thought on the keyed-store model: answer accuracy",
              {"problem", "size", "model state", "state N (slots)",
               "state elements", "state bytes", "CoT tokens", "farthest read",
               "samples", "answer accuracy", "count"},
              {}};

  std::vector<Claim> claims() const {
    bool fullExact = true;
    std::string fullEv, smallEv;
    for (auto &[name, scores] : byProblem) {
      fullExact &= scores.first.total > 0 &&
                   scores.first.correct == scores.first.total;
      fullEv += name + " " + scores.first.str() + "; ";
      smallEv += name + " " + scores.second.str() + "; ";
    }
    return {
        {"DP", "with state O(T) every DP is solved exactly", fullExact,
         "O(T) answers: " + fullEv},
        {"DP",
         "with state O(m) (" + std::to_string(slots) +
             " slots) a DP stays exact while its reads stay within the state "
             "(the m-local DP at every T) and fails once they reach further "
             "(LIS, edit distance, arithmetic)",
         fitGroups > 0 && fitExact == fitGroups && farGroups > 0 &&
             farFailed == farGroups,
         llvm::formatv("exact in {0}/{1} groups whose farthest read fits; "
                       "failing in {2}/{3} groups reading further. O(m) "
                       "answers: {4}",
                       fitExact, fitGroups, farFailed, farGroups, smallEv)}};
  }

private:
  /// Every problem of `g` on the model with N slots (one per token when
  /// `full`), after checking its transitions against the solver.
  llvm::Expected<Score> runState(const ProblemGroup &g, bool full, int64_t N) {
    double decay = full ? 1.0 : slotDecay;
    Score s;
    for (const Problem &p : g) {
      if (runProgramExactly(p.program) != p.answer)
        return llvm::createStringError(
            llvm::inconvertibleErrorCode(),
            "internal error: the " + p.name +
                " transitions disagree with the solver");
      auto got = runOnModel(jit, p.program, N, p.vocab, decay);
      if (!got)
        return got.takeError();
      s.add(*got == p.answer);
    }
    return s;
  }

  void tally(const ProblemGroup &g, bool full, int64_t tokens, int64_t far,
             const Score &s) {
    const Problem &first = g.front();
    const int64_t N = full ? tokens : slots;
    // O(m) groups: exact when every read fits the slots, failing otherwise.
    if (!full) {
      bool exact = s.correct == s.total;
      if (far < slots)
        ++fitGroups, fitExact += exact;
      else
        ++farGroups, farFailed += !exact;
    }
    auto &slot = byProblem[first.name];
    Score &agg = full ? slot.first : slot.second;
    agg.correct += s.correct, agg.total += s.total;
    table.rows.push_back(
        {first.name, first.size,
         full ? "O(T): one slot per token" : "O(m): " + std::to_string(slots) + " slots, decay",
         std::to_string(N), std::to_string(N * first.vocab),
         std::to_string(N * first.vocab * 4), std::to_string(tokens),
         std::to_string(far), std::to_string(g.size()),
         llvm::formatv("{0:F1}%", 100 * s.rate()).str(), s.str()});
  }

  const DPOptions &o;
  const RunOptions &ro;
  LazyModel &jit;
  const int64_t slots;
  const double slotDecay;
  std::map<std::string, std::pair<Score, Score>> byProblem; // O(T), O(m)
  int64_t fitGroups = 0, fitExact = 0, farGroups = 0, farFailed = 0;
};

// The examples/dp programs, built into the library (DPPrograms.inc is
// generated from the repository's files by apps/EmbedText.cmake).
#include "apps/tasks/DPPrograms.inc"

/// What `--ssm-report` says about the ssm.dp of an examples/dp program at
/// size n: its dependency window.
std::string analysisOf(llvm::StringRef file, llvm::StringRef source,
                       int64_t n) {
  auto ops = reportProgram(source, n, file);
  if (!ops) {
    llvm::consumeError(ops.takeError());
    return "(cannot parse " + file.str() + ")";
  }
  for (const OpReport &op : *ops)
    if (op.dp)
      return op.dp->windowText +
             (op.dp->window ? " = " + std::to_string(*op.dp->window)
                            : std::string()) +
             " cells";
  return "(no ssm.dp)";
}

Table analysisTable(const DPOptions &o) {
  Table analysis{"dp_analysis", "ssm.dp analysis of the examples/dp programs (--ssm-report)",
                 {"problem", "program", "size", "dependency window (analysis)"},
                 {}};
  for (int64_t n : o.lisSizes)
    analysis.rows.push_back({"LIS", "examples/dp/lis.mlir", "n=" + std::to_string(n),
                             analysisOf("lis.mlir", kLisProgram, n)});
  for (int64_t n : o.editSizes)
    analysis.rows.push_back({"edit distance", "examples/dp/edit_distance.mlir",
                             "n=" + std::to_string(n),
                             analysisOf("edit_distance.mlir", kEditDistanceProgram, n)});
  for (int64_t T : o.localSizes)
    analysis.rows.push_back({"3-local sum mod 11", "examples/dp/local_sum.mlir",
                             "T=" + std::to_string(T),
                             analysisOf("local_sum.mlir", kLocalSumProgram, T)});
  return analysis;
}

} // namespace

llvm::Expected<TaskResult> runDP(const DPOptions &o, const RunOptions &ro) {
  LazyModel jit(cotStepProgram(), "DP chain-of-thought", ro);
  std::vector<ProblemGroup> groups = InstanceGenerator(o, ro.seed).all();
  ModelRuns runs(o, ro, jit);
  for (size_t i = 0; i < groups.size(); ++i)
    if (llvm::Error e = runs.runGroup(groups[i], i, groups.size()))
      return std::move(e);
  TaskResult result;
  result.task = "DP with chain-of-thought";
  if (folding(ro))
    result.claims = runs.claims();
  result.tables = {runs.table, analysisTable(o)};
  return result;
}

} // namespace ssmc::tasks
