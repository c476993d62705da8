//===- ssmc-generate.cpp - run a language model compiled by ssmc ----------===//
//
//   ssmc-generate MODEL.safetensors --prompt 1,2,3 --new-tokens 32
//   ssmc-generate --write-random FILE --config mamba-130m
//
// Exit status: 0 success, 1 the model failed to load, compile or run,
// 2 bad command line.
//
//===----------------------------------------------------------------------===//

#include "apps/lm/LanguageModel.h"
#include "ssmc/TensorIO.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <cstdio>
#include <map>

using namespace ssmc;
using namespace ssmc::models;

namespace {

const char *kUsage = R"(usage: ssmc-generate MODEL.safetensors [options]
       ssmc-generate --write-random FILE --config NAME [--seed N]
       ssmc-generate --emit-mlir (MODEL.safetensors | --config NAME)

Runs a Mamba language model compiled by ssmc: prefill over the prompt with
the sequence ops, then one decode step per new token against a constant-size
state (the Transformer: against its KV cache). The configuration is read
off the checkpoint's tensor shapes (mamba_ssm / HuggingFace names:
backbone.embedding(s).weight, backbone.layers.N.mixer.in_proj.weight, ...;
Llama names model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight,
... for the Transformer) and from MODEL.config.json or config.json beside
the checkpoint (Mamba-2 n_groups, attention heads, rope_theta, context).
Prints the new token ids on stdout as they are generated, and the timings
on stderr.

options:
  --prompt IDS         comma-separated token ids (default: 0)
  --random-prompt N    a prompt of N random token ids (from --seed)
  --new-tokens N       tokens to generate (default 16)
  --temperature T      0 (default) is greedy; otherwise sample from
                       softmax(logits / T)
  --top-k K            sample among the K most likely tokens (default: all)
  --seed N             seed of the sampler, random prompt and random
                       weights (default 1)
  --threads N          OpenMP threads of the compiled code (0: default)
  --target cpu|cuda|gpu-emulator
                       where the ssm ops run (default cpu); cuda runs each
                       ssm op as a GPU kernel with the projections on the
                       host, and needs the NVIDIA driver; gpu-emulator runs
                       the same kernels on host threads (a test target)
  --json               print the tokens and timings as one JSON object
  --write-random FILE  write random weights of --config to FILE (and its
                       configuration to FILE's stem + .config.json), exit
  --config NAME        mamba-130m, mamba2-130m, transformer-130m, or
                       tiny, tiny2, tiny-transformer (2-layer Mamba-1 /
                       Mamba-2 / Transformer models with d_model 64,
                       vocab 256)
  --emit-mlir          print the ssm program of the model and exit
  -h, --help           this text
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
  llvm::errs() << "ssmc-generate: " << llvm::toString(std::move(e)) << "\n";
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  std::string modelPath, writeRandom, configName;
  std::vector<int64_t> prompt;
  int64_t randomPrompt = 0, newTokens = 16, threads = 0;
  SamplingOptions sampling;
  bool json = false, emitMlir = false;
  Target target = Target::CPU;

  for (int i = 1; i < argc; ++i) {
    llvm::StringRef a = argv[i];
    if (a == "-h" || a == "--help") {
      llvm::outs() << kUsage;
      return 0;
    }
    if (a == "--json") {
      json = true;
      continue;
    }
    if (a == "--emit-mlir") {
      emitMlir = true;
      continue;
    }
    if (!a.starts_with("-")) {
      if (!modelPath.empty())
        return usageError("more than one model file given");
      modelPath = a.str();
      continue;
    }
    if (i + 1 >= argc)
      return usageError("option " + a + " needs a value");
    llvm::StringRef v = argv[++i];
    auto integer = [&](int64_t &out, int64_t min) {
      return !v.getAsInteger(10, out) && out >= min;
    };
    if (a == "--prompt") {
      if (!parseTokens(v, prompt))
        return usageError("--prompt takes comma-separated token ids, got '" +
                          v + "'");
    } else if (a == "--random-prompt") {
      if (!integer(randomPrompt, 1))
        return usageError("--random-prompt takes a positive count");
    } else if (a == "--new-tokens") {
      if (!integer(newTokens, 0))
        return usageError("--new-tokens takes a count >= 0");
    } else if (a == "--temperature") {
      if (v.getAsDouble(sampling.temperature) || sampling.temperature < 0)
        return usageError("--temperature takes a number >= 0");
    } else if (a == "--top-k") {
      if (!integer(sampling.topK, 0))
        return usageError("--top-k takes a count >= 0");
    } else if (a == "--seed") {
      int64_t s;
      if (!integer(s, 0))
        return usageError("--seed takes an integer >= 0");
      sampling.seed = s;
    } else if (a == "--threads") {
      if (!integer(threads, 0))
        return usageError("--threads takes a count >= 0");
    } else if (a == "--target") {
      if (v == "cpu")
        target = Target::CPU;
      else if (v == "cuda")
        target = Target::CUDA;
      else if (v == "gpu-emulator")
        target = Target::GPUEmulator;
      else
        return usageError("--target takes cpu, cuda or gpu-emulator, got '" +
                          v + "'");
    } else if (a == "--write-random") {
      writeRandom = v.str();
    } else if (a == "--config") {
      configName = v.str();
      if (!configByName(v))
        return usageError("unknown --config '" + v +
                          "' (mamba-130m, mamba2-130m, transformer-130m, tiny, "
                          "tiny2, tiny-transformer)");
    } else {
      return usageError("unknown option " + a);
    }
  }

  if (!writeRandom.empty()) {
    if (configName.empty())
      return usageError("--write-random needs --config");
    ModelConfig c = *configByName(configName);
    if (llvm::Error e = writeWeights(writeRandom, randomWeights(c, sampling.seed)))
      return fail(std::move(e));
    llvm::SmallString<256> json(writeRandom);
    llvm::sys::path::replace_extension(json, "config.json");
    if (llvm::Error e = writeConfigJson(json, c))
      return fail(std::move(e));
    llvm::errs() << "wrote random weights of " << c.describe() << " to "
                 << writeRandom << " (configuration in " << json << ")\n";
    return 0;
  }
  if (emitMlir && modelPath.empty()) {
    if (configName.empty())
      return usageError("--emit-mlir needs a model file or --config");
    llvm::outs() << programText(*configByName(configName));
    return 0;
  }
  if (modelPath.empty())
    return usageError("no model file given");

  JitOptions options;
  options.threads = threads;
  options.target = target;
  if (emitMlir) {
    auto weights = readSafetensors(modelPath);
    if (!weights)
      return fail(weights.takeError());
    auto hints = readConfigHints(configPathFor(modelPath));
    if (!hints)
      return fail(hints.takeError());
    auto config = inferConfig(*weights, *hints);
    if (!config)
      return fail(config.takeError());
    llvm::outs() << programText(*config);
    return 0;
  }
  auto model = Model::load(modelPath, options);
  if (!model)
    return fail(model.takeError());
  const ModelConfig &c = (*model)->config();
  llvm::errs() << "model: " << c.describe() << "\n";
  llvm::errs() << llvm::formatv("loaded in {0:f2} s, compiled in {1:f2} s; "
                                "decoding state {2} bytes\n",
                                (*model)->loadSeconds(),
                                (*model)->compileSeconds(),
                                (*model)->stateBytes());
  if (randomPrompt > 0) {
    Sampler dice(SamplingOptions{1.0, 0, sampling.seed + 7});
    std::vector<float> flat(c.vocab, 0.0f);
    for (int64_t i = 0; i < randomPrompt; ++i)
      prompt.push_back(dice.next(flat.data(), c.vocab));
  }
  if (prompt.empty())
    prompt.push_back(0);

  GenerationStats stats;
  // Without --json, each token is printed (and flushed) as it comes.
  size_t printed = 0;
  auto stream = [&](int64_t tok) {
    llvm::outs() << (printed++ ? " " : "") << tok;
    llvm::outs().flush();
  };
  auto tokens = (*model)->generate(prompt, newTokens, sampling, &stats,
                                   json ? std::function<void(int64_t)>()
                                        : std::function<void(int64_t)>(stream));
  if (!tokens) {
    if (printed)
      llvm::outs() << "\n";
    return fail(tokens.takeError());
  }

  if (json) {
    std::string ids;
    for (size_t i = 0; i < tokens->size(); ++i)
      ids += (i ? "," : "") + std::to_string((*tokens)[i]);
    llvm::outs() << llvm::formatv(
        "{{\"model\": \"{0}\", \"prompt_tokens\": {1}, \"tokens\": [{2}], "
        "\"compile_s\": {3:f3}, \"load_s\": {4:f3}, \"prefill_s\": {5:f4}, "
        "\"prefill_tok_per_s\": {6:f1}, \"decode_steps\": {7}, "
        "\"decode_s\": {8:f4}, \"decode_tok_per_s\": {9:f2}, "
        "\"state_bytes\": {10}}\n",
        c.describe(), stats.promptTokens, ids, stats.compileSeconds,
        stats.loadSeconds, stats.prefillSeconds,
        stats.prefillTokensPerSecond(), stats.decodeSteps, stats.decodeSeconds,
        stats.decodeTokensPerSecond(), (*model)->stateBytes());
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
