//===- Distributed.h - sequence parallelism over MPI ------------*- C++ -*-===//
//
// The ranks of a sequence-parallel run (`mpirun -np R ssmc-run --shard-seq`):
// each holds a contiguous slice of the sequence, and programs rewritten by
// `ssm-shard-sequence` combine the slices' recurrent states through
// ssmcMpiCombineAffine (below). Built without MPI, or run without mpirun,
// there is one rank and no MPI call is made.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_DISTRIBUTED_H
#define SSMC_DISTRIBUTED_H

#include "ssmc/Tensor.h"

#include "llvm/Support/Error.h"

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ssmc::dist {

/// Whether ssmc was built with MPI (find_package(MPI) found it).
bool builtWithMPI();
/// Whether this process was started by mpirun/mpiexec (its environment).
bool launchedByMPI();

/// Starts MPI when this process was launched by mpirun and ssmc has MPI
/// (errors of MPI calls are then returned, never fatal); otherwise this is
/// rank 0 of 1. An error when launched by mpirun with more than one process
/// but built without MPI.
llvm::Error init(int *argc, char ***argv);
/// Ends MPI if init started it.
void finalize();
int rank();
int size();

/// How ranks combine their (decay, state) pairs: every rank gathers every
/// pair (one all-gather) and folds those before it; each passes its
/// outgoing state to the next (a chain of R - 1 point-to-point messages);
/// or a parallel prefix of the maps (MPI_Exscan with a composing
/// operator: log2 R rounds). SSMC_MPI_COMBINE=allgather|chain|exscan.
enum class Combine { AllGather, Chain, ExScan };
void setCombine(Combine c);
Combine combine();

/// [begin, end) of rank `r`'s slice of `n` steps: contiguous, in rank
/// order, the first n % R ranks one step longer.
std::pair<int64_t, int64_t> sliceOf(int64_t n, int r, int ranks);

/// Rank `r`'s slice of `t` along dimension `dim` (a contiguous copy).
OwnedTensor slice(const Tensor &t, int dim, int r, int ranks);

/// Rank 0 receives every rank's `local` and returns them concatenated along
/// `dim`; the other ranks send theirs and get an empty tensor.
llvm::Expected<OwnedTensor> gatherAlong(const OwnedTensor &local, int dim);
/// Rank 0 receives rank `from`'s `local` (a copy of its own when from = 0);
/// the other ranks get an empty tensor.
llvm::Expected<OwnedTensor> fetchFrom(const OwnedTensor &local, int from);

/// Every rank gets rank 0's bytes: `bytes` is rank 0's input and every
/// other rank's output (resized).
llvm::Error broadcast(std::vector<char> &bytes);
/// Rank `root` receives every rank's bytes (in rank order); others get
/// nothing.
llvm::Expected<std::vector<std::vector<char>>>
gatherBytes(const std::vector<char> &local, int root = 0);
/// The logical and of `ok` over the ranks (false on any MPI error): a rank
/// that failed tells the others, who stop too.
bool allOk(bool ok);

/// Progress notes to rank 0 (e.g. "unit of work `value` done"): a rank
/// other than 0 posts them without waiting; flushNotes completes its posted
/// notes before it moves on to other messages. On rank 0 postNote does
/// nothing.
void postNote(int64_t value);
void flushNotes();
/// Rank 0: calls `seen(rank, value)` for every note that has arrived; with
/// `until` > 0, waits until that many notes have arrived in all, stopping
/// every rank when none arrives within the time-out (SSMC_MPI_TIMEOUT).
/// Returns the number of notes seen so far.
size_t takeNotes(size_t until,
                 const std::function<void(int, int64_t)> &seen);

/// Reports `msg` for this rank on stderr and stops every rank (MPI_Abort)
/// with exit status `code`; a plain exit with one rank.
[[noreturn]] void abortAll(const std::string &msg, int code = 1);

/// Bytes this rank sent through MPI since start (collectives counted as the
/// rank's own contribution to each peer).
uint64_t bytesSent();

} // namespace ssmc::dist

#endif // SSMC_DISTRIBUTED_H
