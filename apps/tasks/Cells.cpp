//===- Cells.cpp - cell seeds, the plan and its assignment ----------------===//

#include "apps/tasks/Cells.h"

#include <algorithm>
#include <numeric>

namespace ssmc::tasks {

namespace {
/// SplitMix64's finaliser: neighbouring inputs give unrelated outputs.
uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
} // namespace

uint64_t cellSeed(uint64_t seed, const std::string &key) {
  uint64_t h = 0xcbf29ce484222325ULL; // FNV-1a of the key
  for (unsigned char c : key)
    h = (h ^ c) * 0x100000001b3ULL;
  return mix(mix(seed) ^ h);
}

llvm::Expected<size_t> Cells::enter(const std::string &key, double cost) {
  size_t index = seen++;
  if (mode == Mode::Plan) {
    for (const Planned &p : planned)
      if (p.key == key)
        return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                       "internal error: two cells named '" +
                                           key + "'");
    planned.push_back({key, cost});
    return index;
  }
  if (index >= planned.size() || planned[index].key != key)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "internal error: cell '" + key + "' is not the planned cell " +
            std::to_string(index) + " (the task's cells depend on results)");
  return index;
}

void Cells::assign(int rank, int ranks) {
  self = rank;
  std::vector<size_t> order(planned.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return planned[a].cost != planned[b].cost ? planned[a].cost > planned[b].cost
                                              : a < b;
  });
  std::vector<double> load(ranks, 0.0);
  owner.assign(planned.size(), 0);
  for (size_t i : order) {
    int least = static_cast<int>(
        std::min_element(load.begin(), load.end()) - load.begin());
    owner[i] = least;
    load[least] += planned[i].cost;
  }
}

} // namespace ssmc::tasks
