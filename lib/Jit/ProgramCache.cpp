//===- ProgramCache.cpp - compiled programs kept on disk ------------------===//
//
// JitOptions::cacheDir: compile() looks the program up as
// <cacheDir>/<key>.ssmco (the file Jit::save writes) and compiles and
// stores it on a miss. The key is a SHA-256 over the parts that decide the
// machine code: the binary this compiler is linked into (its code is what
// the program calls back into), LLVM's version, the host CPU and its
// features, the options and the source. The Python package keeps its
// entries in the same folder under its own keys (python/ssmc/_cache.py).
//
//===----------------------------------------------------------------------===//

#include "ssmc/Jit.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Config/llvm-config.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SHA256.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <cstdlib>
#include <dlfcn.h>
#include <unistd.h>
#include <string>
#include <vector>

using namespace ssmc;

namespace {

constexpr llvm::StringLiteral kSuffix = ".ssmco";

/// Path, size and modification time of the file holding this code (the
/// tool's executable, or the Python extension): a rebuilt compiler has
/// another identity, so it never loads what an older build stored.
std::string binaryIdentity() {
  Dl_info info;
  std::string path;
  if (dladdr(reinterpret_cast<void *>(&binaryIdentity), &info) &&
      info.dli_fname)
    path = info.dli_fname;
  else
    path = llvm::sys::fs::getMainExecutable(nullptr, nullptr);
  llvm::sys::fs::file_status st;
  if (path.empty() || llvm::sys::fs::status(path, st))
    return "?";
  return path + ":" + std::to_string(st.getSize()) + ":" +
         std::to_string(
             st.getLastModificationTime().time_since_epoch().count());
}

std::string hostCPU() {
  std::vector<std::string> features;
  for (const auto &f : llvm::sys::getHostCPUFeatures())
    if (f.second)
      features.push_back(f.first().str());
  std::sort(features.begin(), features.end()); // StringMap order varies
  std::string s = llvm::sys::getHostCPUName().str();
  for (const std::string &f : features)
    s += ",+" + f;
  return s;
}

std::string cacheKey(llvm::StringRef source, const JitOptions &o) {
  static const std::string stamp =
      binaryIdentity() + '\0' + LLVM_VERSION_STRING + '\0' + hostCPU();
  llvm::SHA256 h;
  auto part = [&](llvm::StringRef s) {
    h.update(s);
    h.update(llvm::StringRef("\0", 1));
  };
  part(stamp);
  part(std::to_string(static_cast<int>(o.target)));
  part(o.gpuArch);
  part(std::to_string(static_cast<int>(o.gpuBinary)));
  part(o.hostTwins ? "twins" : "");
  part(std::to_string(o.threads));
  part(std::to_string(o.optLevel));
  part(std::to_string(o.vectorBits));
  part(o.shardSequence ? "shard" : "");
  for (const std::string &f : o.shardSequenceFunctions)
    part(f);
  part(o.shardRescan ? "rescan" : "");
  part("|");
  part(source);
  return llvm::toHex(h.final(), /*LowerCase=*/true);
}

} // namespace

std::string Jit::defaultCacheDir() {
  auto env = [](const char *name) -> llvm::StringRef {
    const char *v = std::getenv(name);
    return v ? llvm::StringRef(v) : llvm::StringRef();
  };
  llvm::StringRef off = env("SSMC_NO_DISK_CACHE");
  if (!off.empty() && off != "0")
    return "";
  if (!env("SSMC_CACHE_DIR").empty())
    return env("SSMC_CACHE_DIR").str();
  llvm::SmallString<256> dir;
  if (!env("XDG_CACHE_HOME").empty()) {
    dir = env("XDG_CACHE_HOME");
  } else if (!env("HOME").empty()) {
    dir = env("HOME");
    llvm::sys::path::append(dir, ".cache");
  } else {
    return "";
  }
  llvm::sys::path::append(dir, "ssmc");
  return std::string(dir.str());
}

llvm::Expected<std::unique_ptr<Jit>>
Jit::compileThroughCache(llvm::StringRef source, const JitOptions &options,
                         llvm::StringRef bufferName) {
  JitOptions plain = options;
  plain.cacheDir.clear();
  llvm::SmallString<256> path(options.cacheDir);
  llvm::sys::path::append(path, cacheKey(source, options) + kSuffix.str());

  if (llvm::sys::fs::exists(path)) {
    auto loaded = load(path, plain);
    if (loaded) {
      (*loaded)->loadedFromCache = true;
      return loaded;
    }
    // Truncated, damaged or foreign: compiled again below and replaced.
    llvm::consumeError(loaded.takeError());
  }

  plain.keepObject = true;
  auto jit = compile(source, plain, bufferName);
  if (!jit)
    return jit;
  // Best effort from here: a folder that cannot be written, or a program
  // save() refuses, only costs the next process a compile.
  if (llvm::sys::fs::create_directories(options.cacheDir))
    return jit;
  llvm::SmallString<256> tmp(options.cacheDir);
  llvm::sys::path::append(tmp, ".tmp-%%%%%%%%" + kSuffix.str());
  int fd;
  if (llvm::sys::fs::createUniqueFile(tmp, fd, tmp))
    return jit;
  ::close(fd);
  if (llvm::Error e = (*jit)->save(tmp)) {
    llvm::consumeError(std::move(e));
    llvm::sys::fs::remove(tmp);
    return jit;
  }
  if (llvm::sys::fs::rename(tmp, path))
    llvm::sys::fs::remove(tmp);
  return jit;
}
