//===- Cells.h - the units of work of a task, and where they run -*- C++ -*-===//
//
// A task is a list of cells (one grid point, one model at one size), each a
// computation that draws its random numbers from a generator seeded by the
// cell's key (never from a stream shared with other cells), and whose
// result folds into the task's tables and claims. So a cell computes the
// same numbers wherever and in whatever order it runs, and the cells of a
// task can be spread over processes:
//
//   Plan    every process walks the task, recording each cell's key and
//           estimated cost; nothing is computed;
//   Share   each process computes the cells assigned to it (`assign`) and
//           keeps their encoded results; nothing is folded;
//   Replay  one process walks the task again, folding every cell's result
//           from the bytes computed anywhere.
//
// Without a Cells object (RunOptions::cells null) a cell is computed and
// folded at once: the one-process run.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_APPS_TASKS_CELLS_H
#define SSMC_APPS_TASKS_CELLS_H

#include "apps/tasks/Tasks.h"

#include "llvm/ADT/STLFunctionalExtras.h"

#include <cstring>
#include <map>
#include <type_traits>

namespace ssmc::tasks {

/// The seed of the cell named `key` in a run with seed `seed`.
uint64_t cellSeed(uint64_t seed, const std::string &key);

//===----------------------------------------------------------------------===//
// Encoding of cell results
//===----------------------------------------------------------------------===//

struct CellWriter {
  std::vector<char> bytes;
  template <typename T>
  std::enable_if_t<std::is_arithmetic_v<T>> put(T v) {
    const char *p = reinterpret_cast<const char *>(&v);
    bytes.insert(bytes.end(), p, p + sizeof v);
  }
  template <typename T> void put(const std::vector<T> &v) {
    put<int64_t>(v.size());
    for (const T &x : v)
      put(x);
  }
  void put(const Score &s) {
    put(s.correct);
    put(s.total);
  }
};

struct CellReader {
  const std::vector<char> &bytes;
  size_t at = 0;
  bool ok = true;
  template <typename T>
  std::enable_if_t<std::is_arithmetic_v<T>> get(T &v) {
    if (at + sizeof v > bytes.size()) {
      ok = false;
      return;
    }
    std::memcpy(&v, bytes.data() + at, sizeof v);
    at += sizeof v;
  }
  template <typename T> void get(std::vector<T> &v) {
    int64_t n = 0;
    get(n);
    if (!ok || n < 0 || size_t(n) > bytes.size() - at) {
      ok = false;
      return;
    }
    v.resize(n);
    for (T &x : v)
      get(x);
  }
  void get(Score &s) {
    get(s.correct);
    get(s.total);
  }
};

//===----------------------------------------------------------------------===//
// Where cells run
//===----------------------------------------------------------------------===//

class Cells {
public:
  enum class Mode { Plan, Share, Replay };
  struct Planned {
    std::string key;
    double cost;
  };

  explicit Cells(Mode mode) : mode(mode) {}
  Mode getMode() const { return mode; }
  void setMode(Mode m) {
    mode = m;
    seen = 0;
  }

  /// Plan: the cells in the order the tasks met them.
  const std::vector<Planned> &plan() const { return planned; }
  /// Share: which process computes each planned cell; cells go, largest
  /// estimated cost first, to the process with the least cost so far
  /// (ties to the lowest rank).
  void assign(int rank, int ranks);
  /// Share: whether this process computes cell `index` of the plan.
  bool owns(size_t index) const { return owner[index] == self; }
  int ownerOf(size_t index) const { return owner[index]; }
  /// Share: the results computed here, with their plan indices.
  const std::vector<std::pair<size_t, std::vector<char>>> &computed() const {
    return results;
  }
  /// Replay: the result of every planned cell, by plan index.
  void setResults(std::vector<std::vector<char>> all) {
    replayed = std::move(all);
  }
  /// Called after each cell computed here (Share), with its plan index.
  std::function<void(size_t)> onComputed;

  /// Records cell `key` (checking it is the one the plan has at this
  /// place) and returns its plan index.
  llvm::Expected<size_t> enter(const std::string &key, double cost);
  void store(size_t index, std::vector<char> bytes) {
    results.push_back({index, std::move(bytes)});
    if (onComputed)
      onComputed(index);
  }
  const std::vector<char> &result(size_t index) const {
    return replayed[index];
  }

private:
  Mode mode;
  int self = 0;
  size_t seen = 0;
  std::vector<Planned> planned;
  std::vector<int> owner;
  std::vector<std::pair<size_t, std::vector<char>>> results;
  std::vector<std::vector<char>> replayed;
};

inline void encodeCell(CellWriter &w, const Score &s) { w.put(s); }
inline void decodeCell(CellReader &r, Score &s) { r.get(s); }

/// Runs the cell `key` (estimated cost `cost`, any unit common to all
/// cells): `compute` draws from a generator seeded by the key and returns
/// the result, which encodeCell/decodeCell (found by argument-dependent
/// lookup) turn into bytes and back; `fold` adds it to the task's tables.
/// What runs depends on ro.cells (above).
template <typename T>
llvm::Error runCell(const RunOptions &ro, const std::string &key, double cost,
                    llvm::function_ref<llvm::Expected<T>(Rng &)> compute,
                    llvm::function_ref<void(const T &)> fold) {
  if (!ro.cells) {
    Rng rng(cellSeed(ro.seed, key));
    llvm::Expected<T> r = compute(rng);
    if (!r)
      return r.takeError();
    fold(*r);
    return llvm::Error::success();
  }
  llvm::Expected<size_t> index = ro.cells->enter(key, cost);
  if (!index)
    return index.takeError();
  switch (ro.cells->getMode()) {
  case Cells::Mode::Plan:
    return llvm::Error::success();
  case Cells::Mode::Share: {
    if (!ro.cells->owns(*index))
      return llvm::Error::success();
    Rng rng(cellSeed(ro.seed, key));
    llvm::Expected<T> r = compute(rng);
    if (!r)
      return r.takeError();
    CellWriter w;
    encodeCell(w, *r);
    ro.cells->store(*index, std::move(w.bytes));
    return llvm::Error::success();
  }
  case Cells::Mode::Replay: {
    T r{};
    CellReader rd{ro.cells->result(*index)};
    decodeCell(rd, r);
    if (!rd.ok || rd.at != rd.bytes.size())
      return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                     "the result of cell '" + key +
                                         "' arrived damaged");
    fold(r);
    return llvm::Error::success();
  }
  }
  return llvm::Error::success();
}

/// Whether the task folds its cells' results into tables and claims (not
/// while planning or sharing, when most results are missing).
inline bool folding(const RunOptions &ro) {
  return !ro.cells || ro.cells->getMode() == Cells::Mode::Replay;
}

} // namespace ssmc::tasks

#endif // SSMC_APPS_TASKS_CELLS_H
