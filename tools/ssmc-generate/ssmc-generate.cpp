//===- ssmc-generate.cpp - run a language model compiled by ssmc ----------===//
//
//   ssmc-generate MODEL.safetensors --prompt 1,2,3 --new-tokens 32
//   ssmc-generate MODEL.safetensors --prompt-text "Mamba is" --tokenizer tokenizer.json
//   ssmc-generate --write-random FILE --config mamba-130m
//   mpirun -np 2 ssmc-generate MODEL.safetensors --prefill-ranks 2 ...
//
// Exit status: 0 success, 1 the model failed to load, compile or run,
// 2 bad command line.
//
//===----------------------------------------------------------------------===//

#include "apps/lm/LanguageModel.h"
#include "apps/lm/StateCache.h"
#include "apps/lm/Tokenizer.h"
#include "ssmc/Distributed.h"
#include "ssmc/Pipelines.h"
#include "ssmc/TensorIO.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <map>
#include <optional>

using namespace ssmc;
using namespace ssmc::models;

namespace {

const char *kUsage = R"(usage: ssmc-generate MODEL.safetensors [options]
       ssmc-generate --write-random FILE --config NAME [--seed N]
       ssmc-generate --emit-mlir (MODEL.safetensors | --config NAME)
       mpirun -np R ssmc-generate MODEL.safetensors --prefill-ranks R [options]

Runs a Mamba language model compiled by ssmc: prefill over the prompt with
the sequence ops, then one decode step per new token against a constant-size
state (the Transformer: against its KV cache). The configuration is read
off the checkpoint's tensor shapes (mamba_ssm / HuggingFace names:
backbone.embedding(s).weight, backbone.layers.N.mixer.in_proj.weight, ...;
Llama names model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight,
... for the Transformer; fla's model.embeddings.weight,
model.layers.N.attn.b_proj.weight, ... for Gated DeltaNet) and from MODEL.config.json or config.json beside
the checkpoint (Mamba-2 n_groups, attention heads, rope_theta, context).
Prints the new tokens on stdout as they are generated (as text when a
tokenizer is given or found beside the checkpoint, else as ids), and the
timings on stderr. A batch (--prompts, or --prompt-text more than once)
runs all prompts in one packed prefill and batched decode steps, and
prints one line per prompt, "#I: TOKENS", in the order given; with --cache
each prompt of the batch restores its own longest cached prefix and saves
its own states (recurrent models: Mamba-1, Mamba-2, Gated DeltaNet).

options:
  --prompt IDS         comma-separated token ids (default: 0)
  --prompt-text TEXT   the prompt as text, encoded with the tokenizer;
                       given more than once, each is a prompt of a batch
  --prompts FILE       a batch: one prompt per line, token ids
                       (comma-separated) or text (any other line; needs a
                       tokenizer); empty lines are skipped
  --tokenizer FILE     a Hugging Face tokenizer.json with a byte-level BPE
                       (GPT-2 / GPT-NeoX, the Mamba checkpoints' tokenizer);
                       default: tokenizer.json beside the checkpoint, if any
  --ids                print token ids even when a tokenizer is loaded
  --random-prompt N    a prompt of N random token ids (from --seed)
  --new-tokens N       tokens to generate (default 16)
  --temperature T      0 (default) is greedy; otherwise sample from
                       softmax(logits / T)
  --top-k K            sample among the K most likely tokens (default: all)
  --seed N             seed of the sampler, random prompt and random
                       weights (default 1)
  --threads N          OpenMP threads of the compiled code (0: default)
  --weights f32|bf16|int8
                       storage of the projection weights (in/x/dt/out
                       projections, attention and MLP, LM head), converted
                       on load (a bf16 checkpoint's tensors taken as they
                       are): f32 (default), bf16, or int8 with one scale per
                       output row; decode reads 4, 2 or 1 bytes per weight
  --target cpu|cuda|gpu-emulator
                       where the ssm ops run (default cpu); cuda runs each
                       ssm op and projection (matmul) as a GPU kernel, with
                       norms and elementwise ops on the host, keeps the
                       weights and decoding states on the device (uploaded
                       once at load), and needs the NVIDIA driver;
                       gpu-emulator runs the same kernels on host threads
                       (a test target)
  --gpu-arch ARCH      --target cuda: sm_80, sm_89, sm_90 (default) or
                       sm_100; the kernels are assembled for it at compile
                       time when the CUDA toolkit is found, and embedded as
                       PTX too (PTX only, with a warning, without a toolkit)
  --cuda-toolkit DIR   CUDA toolkit with bin/ptxas and bin/fatbinary
                       (default: $CUDA_ROOT, $CUDA_PATH, /usr/local/cuda,
                       then ptxas on PATH)
  --cache DIR          state cache: the state after the longest prefix of
                       the prompt found in DIR is restored and only the
                       rest is prefilled; the state after the prompt (and
                       at --cache-at / --cache-every) is written to DIR.
                       Files are keyed by a hash of the model (config,
                       checkpoint path, size, mtime) and the token ids.
                       With a batch, per prompt (not the Transformer)
  --cache-at P,Q,...   also save the states after P, Q, ... prompt tokens
                       (the prefill is split there and continued from the
                       saved state, which gives the same states)
  --cache-every K      also save the state every K prompt tokens
  --json               print the tokens and timings as one JSON object
  --logits FILE        write the logits after the prompt (the first new
                       token's distribution, [vocab] f32) to FILE as .npy;
                       one prompt only
  --prefill-ranks R    under mpirun -np R: the prompt (at least R tokens)
                       is prefilled across the R ranks, each a contiguous
                       slice of it, the layers' recurrences combined
                       between the ranks (the Transformer: attention as a
                       ring of K/V blocks, the KV cache gathered onto the
                       last rank; docs/distributed.md); then the last rank
                       decodes and prints, the others print nothing.
                       Every model kind (Mamba-1, Mamba-2, Transformer,
                       Gated DeltaNet), CPU target;
                       takes no --cache and no batch. A rank that waits
                       longer than SSMC_MPI_TIMEOUT seconds (default 300)
                       for the others stops every rank
  --batch N            with --emit-mlir: the batched program for N
                       sequences
  --write-random FILE  write random weights of --config to FILE (and its
                       configuration to FILE's stem + .config.json), exit
  --config NAME        mamba-130m, mamba2-130m, transformer-130m, or
                       tiny, tiny2, tiny-transformer (2-layer Mamba-1 /
                       Mamba-2 / Transformer models with d_model 64,
                       vocab 256); gdn-130m, tiny-gdn (Gated DeltaNet)
  --emit-mlir          print the ssm program of the model and exit
  -h, --help           this text

Compiled programs are kept in a disk cache, so a second run of the same
model skips the compile (stderr then says "program cache"): the folder
$SSMC_CACHE_DIR, else $XDG_CACHE_HOME/ssmc or ~/.cache/ssmc;
SSMC_NO_DISK_CACHE=1 turns it off (README.md, The program cache). Entries
are keyed by the program, the options, this binary and the CPU; delete the
folder to clear it.
)";

bool parseTokens(llvm::StringRef s, std::vector<int64_t> &out) {
  llvm::SmallVector<llvm::StringRef> parts;
  s.split(parts, ',', -1, false);
  for (llvm::StringRef p : parts) {
    int64_t v;
    if (p.trim().getAsInteger(10, v))
      return false;
    out.push_back(v);
  }
  return !out.empty();
}

int usageError(const llvm::Twine &msg) {
  llvm::errs() << "ssmc-generate: " << msg
               << "\n(run ssmc-generate --help for usage)\n";
  return 2;
}

int fail(llvm::Error e) {
  // Across ranks, every rank stops with the message (no rank waits for
  // one that gave up).
  if (dist::size() > 1)
    dist::abortAll("ssmc-generate: " + llvm::toString(std::move(e)));
  llvm::errs() << "ssmc-generate: " << llvm::toString(std::move(e)) << "\n";
  return 1;
}

/// What the command line asks for.
struct Request {
  std::string modelPath, writeRandom, configName;
  std::vector<int64_t> prompt;
  std::string promptText, tokenizerPath, promptsFile;
  std::vector<std::string> promptTexts; // every --prompt-text
  int64_t emitBatch = 0;
  bool printIds = false;
  int64_t randomPrompt = 0, newTokens = 16, threads = 0;
  SamplingOptions sampling;
  bool json = false, emitMlir = false;
  std::string cacheDir;
  std::vector<int64_t> cacheAt;
  int64_t cacheEvery = 0;
  Target target = Target::CPU;
  std::string gpuArch = "sm_90", cudaToolkit;
  WeightPrecision precision = WeightPrecision::F32;
  std::string logitsPath;
  int64_t prefillRanks = 0;
};

/// Applies option `a` with its value `v`; returns the exit status of a bad
/// command line.
std::optional<int> applyValue(llvm::StringRef a, llvm::StringRef v,
                              Request &r) {
  auto integer = [&](int64_t &out, int64_t min) {
    return !v.getAsInteger(10, out) && out >= min;
  };
  if (a == "--prompt") {
    if (!parseTokens(v, r.prompt))
      return usageError("--prompt takes comma-separated token ids, got '" +
                        v + "'");
  } else if (a == "--prompt-text") {
    r.promptText = v.str();
    r.promptTexts.push_back(v.str());
  } else if (a == "--prompts") {
    r.promptsFile = v.str();
  } else if (a == "--batch") {
    if (!integer(r.emitBatch, 1))
      return usageError("--batch takes a count >= 1");
  } else if (a == "--tokenizer") {
    r.tokenizerPath = v.str();
  } else if (a == "--random-prompt") {
    if (!integer(r.randomPrompt, 1))
      return usageError("--random-prompt takes a positive count");
  } else if (a == "--new-tokens") {
    if (!integer(r.newTokens, 0))
      return usageError("--new-tokens takes a count >= 0");
  } else if (a == "--temperature") {
    if (v.getAsDouble(r.sampling.temperature) || r.sampling.temperature < 0)
      return usageError("--temperature takes a number >= 0");
  } else if (a == "--top-k") {
    if (!integer(r.sampling.topK, 0))
      return usageError("--top-k takes a count >= 0");
  } else if (a == "--seed") {
    int64_t s;
    if (!integer(s, 0))
      return usageError("--seed takes an integer >= 0");
    r.sampling.seed = s;
  } else if (a == "--threads") {
    if (!integer(r.threads, 0))
      return usageError("--threads takes a count >= 0");
  } else if (a == "--target") {
    if (v == "cpu")
      r.target = Target::CPU;
    else if (v == "cuda")
      r.target = Target::CUDA;
    else if (v == "gpu-emulator")
      r.target = Target::GPUEmulator;
    else
      return usageError("--target takes cpu, cuda or gpu-emulator, got '" +
                        v + "'");
  } else if (a == "--gpu-arch") {
    if (llvm::Expected<GPUArch> arch = lookupGPUArch(v); !arch)
      return usageError("--gpu-arch: " + llvm::toString(arch.takeError()));
    r.gpuArch = v.str();
  } else if (a == "--cuda-toolkit") {
    r.cudaToolkit = v.str();
  } else if (a == "--cache") {
    r.cacheDir = v.str();
  } else if (a == "--cache-at") {
    if (!parseTokens(v, r.cacheAt) ||
        llvm::any_of(r.cacheAt, [](int64_t p) { return p < 1; }))
      return usageError("--cache-at takes comma-separated token counts >= 1, "
                        "got '" + v + "'");
  } else if (a == "--cache-every") {
    if (!integer(r.cacheEvery, 1))
      return usageError("--cache-every takes a count >= 1");
  } else if (a == "--weights") {
    std::optional<WeightPrecision> p = parsePrecision(v);
    if (!p)
      return usageError("--weights takes f32, bf16 or int8, got '" + v + "'");
    r.precision = *p;
  } else if (a == "--logits") {
    r.logitsPath = v.str();
  } else if (a == "--prefill-ranks") {
    if (!integer(r.prefillRanks, 1))
      return usageError("--prefill-ranks takes a count >= 1");
  } else if (a == "--write-random") {
    r.writeRandom = v.str();
  } else if (a == "--config") {
    r.configName = v.str();
    if (!configByName(v))
      return usageError("unknown --config '" + v +
                        "' (mamba-130m, mamba2-130m, transformer-130m, tiny, "
                        "tiny2, tiny-transformer, gdn-130m, tiny-gdn)");
  } else {
    return usageError("unknown option " + a);
  }
  return std::nullopt;
}

/// Parses the command line into `r`; returns the exit status when the
/// program must stop (help printed, or the command line is wrong).
std::optional<int> parseCommandLine(int argc, char **argv, Request &r) {
  for (int i = 1; i < argc; ++i) {
    llvm::StringRef a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << kUsage;
      return 0;
    }
    if (a == "--json") {
      r.json = true;
      continue;
    }
    if (a == "--ids") {
      r.printIds = true;
      continue;
    }
    if (a == "--emit-mlir") {
      r.emitMlir = true;
      continue;
    }
    if (!a.starts_with("-")) {
      if (!r.modelPath.empty())
        return usageError("more than one model file given");
      r.modelPath = a.str();
      continue;
    }
    if (i + 1 >= argc)
      return usageError("option " + a + " needs a value");
    if (std::optional<int> status = applyValue(a, argv[++i], r))
      return status;
  }
  return std::nullopt;
}

/// --write-random: random weights of --config and their config.json.
int writeRandomModel(const Request &r) {
  if (r.configName.empty())
    return usageError("--write-random needs --config");
  ModelConfig c = *configByName(r.configName);
  if (llvm::Error e = writeWeights(r.writeRandom, randomWeights(c, r.sampling.seed)))
    return fail(std::move(e));
  llvm::SmallString<256> json(r.writeRandom);
  llvm::sys::path::replace_extension(json, "config.json");
  if (llvm::Error e = writeConfigJson(json, c))
    return fail(std::move(e));
  llvm::errs() << "wrote random weights of " << c.describe() << " to "
               << r.writeRandom << " (configuration in " << json << ")\n";
  return 0;
}

/// --emit-mlir with a checkpoint: the program of the configuration its
/// shapes and config.json give.
int emitCheckpointProgram(const Request &r) {
  auto weights = readSafetensors(r.modelPath);
  if (!weights)
    return fail(weights.takeError());
  auto hints = readConfigHints(configPathFor(r.modelPath));
  if (!hints)
    return fail(hints.takeError());
  auto config = inferConfig(*weights, *hints);
  if (!config)
    return fail(config.takeError());
  config->precision = r.precision;
  llvm::outs() << (r.emitBatch ? batchProgramText(*config, r.emitBatch)
                               : programText(*config));
  return 0;
}

/// The tokenizer: --tokenizer, else tokenizer.json beside the checkpoint
/// (none: null, and no error).
llvm::Expected<std::unique_ptr<Tokenizer>> tokenizerFor(const Request &r) {
  std::string path = r.tokenizerPath;
  if (path.empty()) {
    llvm::SmallString<256> beside(r.modelPath);
    llvm::sys::path::remove_filename(beside);
    llvm::sys::path::append(beside, "tokenizer.json");
    if (!llvm::sys::fs::exists(beside))
      return nullptr;
    path = beside.str().str();
  }
  return Tokenizer::load(path);
}

/// The prompt: --prompt-text (encoded), --prompt, then --random-prompt ids
/// drawn uniformly, or token 0.
std::vector<int64_t> promptFor(const Request &r, const ModelConfig &c,
                               const Tokenizer *tokenizer) {
  std::vector<int64_t> prompt;
  if (tokenizer && !r.promptText.empty())
    prompt = tokenizer->encode(r.promptText);
  prompt.insert(prompt.end(), r.prompt.begin(), r.prompt.end());
  if (r.randomPrompt > 0) {
    Sampler dice(SamplingOptions{1.0, 0, r.sampling.seed + 7});
    std::vector<float> flat(c.vocab, 0.0f);
    for (int64_t i = 0; i < r.randomPrompt; ++i)
      prompt.push_back(dice.next(flat.data(), c.vocab));
  }
  if (prompt.empty())
    prompt.push_back(0);
  return prompt;
}

void printJson(const Model &model, const std::vector<int64_t> &tokens,
               const GenerationStats &stats, const Tokenizer *tokenizer,
               int64_t cachedTokens) {
  std::string ids;
  for (size_t i = 0; i < tokens.size(); ++i)
    ids += (i ? "," : "") + std::to_string(tokens[i]);
  // With a tokenizer, the new tokens as text too (a JSON string).
  std::string text;
  if (tokenizer) {
    llvm::raw_string_ostream os(text);
    os << ", \"text\": "
       << llvm::json::Value(llvm::json::fixUTF8(tokenizer->decode(tokens)));
  }
  llvm::outs() << llvm::formatv(
      "{{\"model\": \"{0}\", \"prompt_tokens\": {1}, \"tokens\": [{2}]{11}, "
      "\"compile_s\": {3:f3}, \"load_s\": {4:f3}, \"prefill_s\": {5:f4}, "
      "\"prefill_tok_per_s\": {6:f1}, \"decode_steps\": {7}, "
      "\"decode_s\": {8:f4}, \"decode_tok_per_s\": {9:f2}, "
      "\"state_bytes\": {10}, \"cached_tokens\": {12}}\n",
      model.config().describe(), stats.promptTokens, ids, stats.compileSeconds,
      stats.loadSeconds, stats.prefillSeconds, stats.prefillTokensPerSecond(),
      stats.decodeSteps, stats.decodeSeconds, stats.decodeTokensPerSecond(),
      model.stateBytes(), text, cachedTokens);
}

/// The prompts of a batch: each --prompt-text, then each line of
/// --prompts (ids when it holds only digits, commas and blanks, else text).
llvm::Expected<std::vector<std::vector<int64_t>>>
batchPrompts(const Request &r, const Tokenizer *tok) {
  std::vector<std::vector<int64_t>> prompts;
  auto encode = [&](llvm::StringRef text,
                    const llvm::Twine &where) -> llvm::Error {
    if (!tok)
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          where + " is text and needs a tokenizer: --tokenizer FILE, or "
                  "tokenizer.json beside the checkpoint");
    prompts.push_back(tok->encode(text));
    return llvm::Error::success();
  };
  if (r.promptTexts.size() > 1)
    for (const std::string &t : r.promptTexts)
      if (llvm::Error e = encode(t, "--prompt-text"))
        return std::move(e);
  if (!r.promptsFile.empty()) {
    auto buf = llvm::MemoryBuffer::getFile(r.promptsFile, /*IsText=*/true);
    if (!buf)
      return llvm::createStringError(buf.getError(),
                                     "cannot read '" + r.promptsFile +
                                         "': " + buf.getError().message());
    llvm::SmallVector<llvm::StringRef> lines;
    (*buf)->getBuffer().split(lines, '\n');
    for (size_t i = 0; i < lines.size(); ++i) {
      llvm::StringRef line = lines[i].rtrim("\r");
      if (line.trim().empty())
        continue;
      std::string where = r.promptsFile + " line " + std::to_string(i + 1);
      if (line.find_first_not_of("0123456789, \t") == llvm::StringRef::npos) {
        std::vector<int64_t> ids;
        if (!parseTokens(line, ids))
          return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                         where + ": bad token ids '" + line +
                                             "'");
        prompts.push_back(std::move(ids));
      } else if (llvm::Error e = encode(line, where)) {
        return std::move(e);
      }
    }
  }
  if (prompts.empty())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "the batch has no prompts");
  return std::move(prompts);
}

/// The save positions --cache-at / --cache-every ask for in a prompt of
/// `L` tokens, and its end.
std::vector<int64_t> cachePositions(const Request &r, int64_t L) {
  std::vector<int64_t> saves = r.cacheAt;
  for (int64_t p = r.cacheEvery; r.cacheEvery && p <= L; p += r.cacheEvery)
    saves.push_back(p);
  saves.push_back(L);
  return saves;
}

/// Prints a state file that fails its checks; the lookup goes on without it.
void warnBadStateFile(llvm::Error e) {
  llvm::errs() << "ssmc-generate: warning: " << llvm::toString(std::move(e))
               << "; not used\n";
}

/// A batch: one packed prefill (with --cache, each prompt from its longest
/// cached prefix, in rounds split at the save positions), batched decode
/// steps; one line (or JSON entry) per prompt.
int generateBatch(const Request &r, Model &model, const Tokenizer *tok) {
  auto prompts = batchPrompts(r, tok);
  if (!prompts)
    return fail(prompts.takeError());
  int64_t B = prompts->size();
  llvm::errs() << "batch: " << B << " prompts\n";
  std::optional<StateCache> cache;
  if (!r.cacheDir.empty())
    cache.emplace(r.cacheDir, model.config(), model.identity());
  std::vector<Model::BatchSequence> seqs(B);
  std::vector<std::optional<StateCache::Hit>> hits(B);
  std::vector<int64_t> cached(B, 0);
  for (int64_t s = 0; s < B; ++s) {
    const std::vector<int64_t> &prompt = (*prompts)[s];
    seqs[s].tokens = prompt;
    if (!cache)
      continue;
    hits[s] = cache->lookup(prompt, warnBadStateFile);
    if (hits[s]) {
      seqs[s].start = &hits[s]->state;
      cached[s] = hits[s]->state.position;
      llvm::errs() << "cache: #" << s << ": restored the state after "
                   << cached[s] << " prompt tokens from " << hits[s]->path
                   << "\n";
    }
    seqs[s].savePositions = cachePositions(r, prompt.size());
    seqs[s].onState = cache->sink(prompt);
  }
  GenerationStats stats;
  auto out = model.generateSequences(seqs, r.newTokens, r.sampling, &stats);
  if (!out)
    return fail(out.takeError());
  auto render = [&](const std::vector<int64_t> &ids) {
    if (tok && !r.printIds)
      return tok->decode(ids);
    std::string s;
    for (size_t i = 0; i < ids.size(); ++i)
      s += (i ? " " : "") + std::to_string(ids[i]);
    return s;
  };
  if (r.json) {
    llvm::json::Array outputs;
    for (int64_t s = 0; s < B; ++s) {
      llvm::json::Array ids;
      for (int64_t t : (*out)[s])
        ids.push_back(t);
      llvm::json::Object o{
          {"prompt_tokens", int64_t((*prompts)[s].size()) - cached[s]},
          {"cached_tokens", cached[s]},
          {"tokens", std::move(ids)}};
      if (tok)
        o["text"] = llvm::json::fixUTF8(tok->decode((*out)[s]));
      outputs.push_back(std::move(o));
    }
    llvm::json::Object all{
        {"model", model.config().describe()},
        {"batch", B},
        {"outputs", std::move(outputs)},
        {"prompt_tokens", stats.promptTokens},
        {"compile_s", stats.compileSeconds},
        {"load_s", stats.loadSeconds},
        {"prefill_s", stats.prefillSeconds},
        {"prefill_tok_per_s", stats.prefillTokensPerSecond()},
        {"decode_steps", stats.decodeSteps},
        {"decode_s", stats.decodeSeconds},
        {"decode_tok_per_s", stats.decodeTokensPerSecond()}};
    llvm::outs() << llvm::json::Value(std::move(all)) << "\n";
    return 0;
  }
  for (int64_t s = 0; s < B; ++s)
    llvm::outs() << "#" << s << ": " << render((*out)[s]) << "\n";
  llvm::errs() << llvm::formatv(
      "prefill: {0} tokens of {1} prompts in {2:f3} s ({3:f1} tokens/s)\n"
      "decode:  {4} tokens ({1} per step) in {5:f3} s ({6:f2} tokens/s)\n",
      stats.promptTokens, B, stats.prefillSeconds,
      stats.prefillTokensPerSecond(), stats.decodeSteps, stats.decodeSeconds,
      stats.decodeTokensPerSecond());
  return 0;
}

/// Loads and compiles the model, then prefill and decode: the new tokens
/// on stdout (as they come, or as JSON at the end), timings on stderr.
int generate(const Request &r) {
  JitOptions options;
  options.threads = r.threads;
  options.target = r.target;
  options.gpuArch = r.gpuArch;
  options.cudaToolkit = r.cudaToolkit;
  options.cacheDir = Jit::defaultCacheDir();
  if (r.prefillRanks)
    options.shardSequenceFunctions = {"prefill"};
  // Only the rank that decodes (the last) reports.
  const bool reporting = dist::rank() == dist::size() - 1;
  // The tokenizer first: a bad file fails before the model compiles.
  auto tokenizer = tokenizerFor(r);
  if (!tokenizer)
    return fail(tokenizer.takeError());
  const Tokenizer *tok = tokenizer->get();
  if (!r.promptText.empty() && !tok)
    return usageError("--prompt-text needs a tokenizer: --tokenizer FILE, "
                      "or tokenizer.json beside the checkpoint");
  auto model = Model::load(r.modelPath, options, r.precision);
  if (!model)
    return fail(model.takeError());
  const ModelConfig &c = (*model)->config();
  if (reporting) {
    llvm::errs() << "model: " << c.describe() << "\n";
    llvm::errs() << llvm::formatv("loaded in {0:f2} s, compiled in {1:f2} s{3}; "
                                  "decoding state {2} bytes\n",
                                  (*model)->loadSeconds(),
                                  (*model)->compileSeconds(),
                                  (*model)->stateBytes(),
                                  (*model)->programFromCache()
                                      ? " (program cache)"
                                      : "");
    llvm::errs() << llvm::formatv("weights: {0} projections, {1} bytes\n",
                                  precisionName(r.precision),
                                  (*model)->weightBytes());
  }
  if (!r.promptsFile.empty() || r.promptTexts.size() > 1)
    return generateBatch(r, **model, tok);
  std::vector<int64_t> prompt = promptFor(r, c, tok);
  if (tok && reporting)
    llvm::errs() << "prompt: " << prompt.size() << " tokens\n";

  // Prefill, from the longest cached prefix when there is a cache.
  std::optional<StateCache> cache;
  if (!r.cacheDir.empty())
    cache.emplace(r.cacheDir, c, (*model)->identity());
  int64_t L = prompt.size(), cached = 0;
  auto t0 = std::chrono::steady_clock::now();
  OwnedTensor logits;
  if (cache) {
    auto hit = cache->lookup(prompt, warnBadStateFile);
    if (hit) {
      if (llvm::Error e = (*model)->restoreState(hit->state))
        return fail(std::move(e));
      cached = hit->state.position;
      logits = std::move(hit->state.logits);
      llvm::errs() << "cache: restored the state after " << cached
                   << " prompt tokens from " << hit->path << "\n";
    }
  }
  if (r.prefillRanks) {
    if (L < r.prefillRanks)
      return fail(llvm::createStringError(
          llvm::formatv("--prefill-ranks {0}: the prompt has {1} tokens, "
                        "fewer than the ranks",
                        r.prefillRanks, L)
              .str()));
    auto [begin, end] = dist::sliceOf(L, dist::rank(), dist::size());
    auto out = (*model)->prefillSlice(
        llvm::ArrayRef(prompt).slice(begin, end - begin), L);
    if (!out)
      return fail(out.takeError());
    if (!reporting)
      return 0;
    logits = std::move(*out);
    llvm::errs() << llvm::formatv("prefill: {0} ranks, {1} tokens on this "
                                  "one\n",
                                  dist::size(), end - begin);
  } else if (cached < L) {
    std::vector<int64_t> saves;
    if (cache)
      saves = cachePositions(r, L);
    Model::StateSink sink;
    if (cache)
      sink = cache->sink(prompt);
    llvm::ArrayRef<int64_t> rest = llvm::ArrayRef(prompt).drop_front(cached);
    auto out = cached ? (*model)->extend(rest, saves, sink)
                      : (*model)->prefill(rest, saves, sink);
    if (!out)
      return fail(out.takeError());
    logits = std::move(*out);
  }
  double prefillSeconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();

  if (!r.logitsPath.empty())
    if (llvm::Error e = writeNpy(r.logitsPath, logits.view()))
      return fail(std::move(e));

  GenerationStats stats;
  // Without --json, each token is printed (and flushed) as it comes: as
  // text with a tokenizer (a character split over tokens waits for its
  // last byte), else as ids.
  size_t printed = 0;
  std::optional<Tokenizer::Stream> text;
  if (tok && !r.printIds)
    text.emplace(*tok);
  auto stream = [&](int64_t id) {
    if (text)
      llvm::outs() << text->push(id);
    else
      llvm::outs() << (printed++ ? " " : "") << id;
    llvm::outs().flush();
  };
  auto tokens = (*model)->generateFrom(
      logits, r.newTokens, r.sampling, &stats,
      r.json ? std::function<void(int64_t)>()
             : std::function<void(int64_t)>(stream));
  stats.promptTokens = L - cached;
  stats.prefillSeconds = prefillSeconds;
  if (text)
    llvm::outs() << text->finish();
  if (!tokens) {
    if (printed || text)
      llvm::outs() << "\n";
    return fail(tokens.takeError());
  }
  if (r.json) {
    printJson(**model, *tokens, stats, tok, cached);
    return 0;
  }
  llvm::outs() << "\n";
  llvm::errs() << llvm::formatv(
      "prefill: {0} tokens in {1:f3} s ({2:f1} tokens/s)\n"
      "decode:  {3} steps in {4:f3} s ({5:f2} tokens/s)\n",
      stats.promptTokens, stats.prefillSeconds, stats.prefillTokensPerSecond(),
      stats.decodeSteps, stats.decodeSeconds, stats.decodeTokensPerSecond());
  return 0;
}

} // namespace

/// MPI for --prefill-ranks; ended at exit.
struct Ranks {
  bool started = false;
  ~Ranks() {
    if (started)
      dist::finalize();
  }
};

int main(int argc, char **argv) {
  Request r;
  if (std::optional<int> status = parseCommandLine(argc, argv, r))
    return *status;
  Ranks ranks;
  if (r.prefillRanks) {
    if (r.emitMlir || !r.writeRandom.empty())
      return usageError("--prefill-ranks goes with generation, not with "
                        "--emit-mlir or --write-random");
    if (!r.promptsFile.empty() || r.promptTexts.size() > 1)
      return usageError("--prefill-ranks takes one prompt, not a batch");
    if (!r.cacheDir.empty())
      return usageError("--prefill-ranks takes no --cache");
    if (r.target != Target::CPU)
      return usageError("--prefill-ranks needs --target cpu");
    if (llvm::Error e = dist::init(&argc, &argv))
      return fail(std::move(e));
    ranks.started = true;
    if (dist::size() != r.prefillRanks)
      return fail(llvm::createStringError(
          llvm::formatv("--prefill-ranks {0}, but this is one of {1} "
                        "processes (start it with mpirun -np {0})",
                        r.prefillRanks, dist::size())
              .str()));
  }
  if (!r.writeRandom.empty())
    return writeRandomModel(r);
  if (r.emitMlir && r.modelPath.empty()) {
    if (r.configName.empty())
      return usageError("--emit-mlir needs a model file or --config");
    ModelConfig c = *configByName(r.configName);
    c.precision = r.precision;
    llvm::outs() << (r.emitBatch ? batchProgramText(c, r.emitBatch)
                                 : programText(c));
    return 0;
  }
  if (r.emitBatch && !r.emitMlir)
    return usageError("--batch goes with --emit-mlir (a batch of prompts is "
                      "--prompts FILE or --prompt-text given more than once)");
  if (r.modelPath.empty())
    return usageError("no model file given");
  if (r.cacheDir.empty() && (!r.cacheAt.empty() || r.cacheEvery))
    return usageError("--cache-at and --cache-every need --cache DIR");
  bool batch = !r.promptsFile.empty() || r.promptTexts.size() > 1;
  if (batch && !r.logitsPath.empty())
    return usageError("--logits takes one prompt, not a batch");
  if (batch && (!r.prompt.empty() || r.randomPrompt))
    return usageError("a batch (--prompts, or --prompt-text more than once) "
                      "takes no --prompt or --random-prompt");
  return r.emitMlir ? emitCheckpointProgram(r) : generate(r);
}
