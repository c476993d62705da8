//===- ModelTest.cpp - whole Mamba models against a double forward pass ---===//
//
// Tiny models with random weights written to .safetensors by the test:
// compiled forward logits against ssmc::ref::mamba1Logits (plain double
// loops over the checkpoint tensors), prefill + token-by-token decode
// against forward, loader errors, and the layout of the 130M checkpoint.
//
//===----------------------------------------------------------------------===//

#include "test/lib/ModelReference.h"
#include "test/lib/ModelTestUtil.h"
#include "apps/lm/LanguageModel.h"
#include "apps/lm/StateCache.h"
#include "ssmc/TensorIO.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <optional>

using namespace ssmc;
using namespace ssmc::models;
using namespace ssmc::test;

namespace {

TEST(Models, Mamba1ForwardMatchesDoubleReference) {
  WeightMap w = randomWeights(tinyMamba1(), 3);
  std::vector<int64_t> tokens = someTokens(11, 37, 1);
  auto want = ref::mamba1Logits(w, tokens);
  auto model = compileModel(copyOf(w));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->config().describe(), tinyMamba1().describe());
  auto logits = model->forward(tokens);
  ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
  ASSERT_EQ(logits->shape(), (std::vector<int64_t>{11, 37}));
  for (int64_t l = 0; l < 11; ++l)
    EXPECT_LT(relError(*logits, l, want[l]), 2e-5) << "position " << l;
}

TEST(Models, Mamba1PrefillThenDecodeMatchesForward) {
  WeightMap w = randomWeights(tinyMamba1(), 5);
  std::vector<int64_t> tokens = someTokens(13, 37, 2);
  auto want = ref::mamba1Logits(w, tokens);
  auto model = compileModel(std::move(w));
  ASSERT_TRUE(model);
  auto all = model->forward(tokens);
  ASSERT_TRUE(bool(all)) << llvm::toString(all.takeError());
  // Prompts shorter than, equal to and longer than the conv window.
  for (int64_t prompt : {1, 2, 3, 4, 9})
    ASSERT_NO_FATAL_FAILURE(
        expectPrefillThenDecode(*model, tokens, prompt, want, &*all));
}

TEST(Models, Mamba1LoadsSafetensorsInBf16AndUntiedHead) {
  ModelConfig c = tinyMamba1();
  c.tiedEmbeddings = false;
  WeightMap w = randomWeights(c, 9);
  // A bf16 checkpoint under transformers' embedding name.
  WeightMap bf16;
  for (auto &[name, t] : w) {
    OwnedTensor b(DType::BF16, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i)
      b.setFromDouble(i, t.getAsDouble(i));
    std::string n = name == "backbone.embedding.weight"
                        ? "backbone.embeddings.weight"
                        : name;
    bf16.emplace(n, std::move(b));
  }
  std::string path = tempPath("bf16.safetensors");
  ASSERT_FALSE(bool(writeWeights(path, bf16)));
  std::vector<int64_t> tokens = someTokens(7, 37, 3);
  auto want = ref::mamba1Logits(bf16, tokens);
  auto model = Model::load(path);
  llvm::sys::fs::remove(path);
  ASSERT_TRUE(bool(model)) << llvm::toString(model.takeError());
  EXPECT_FALSE((*model)->config().tiedEmbeddings);
  auto logits = (*model)->forward(tokens);
  ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
  for (int64_t l = 0; l < 7; ++l)
    EXPECT_LT(relError(*logits, l, want[l]), 2e-5) << "position " << l;
}

TEST(Models, LoaderNamesMissingAndMisshapedTensors) {
  WeightMap w = randomWeights(tinyMamba1(), 1);
  w.erase("backbone.layers.1.mixer.x_proj.weight");
  w.erase("backbone.layers.0.mixer.D");
  w["backbone.layers.1.mixer.conv1d.bias"] = OwnedTensor(DType::F32, {47});
  auto m = Model::fromWeights(std::move(w));
  ASSERT_FALSE(bool(m));
  std::string msg = llvm::toString(m.takeError());
  EXPECT_NE(msg.find("missing tensor 'backbone.layers.1.mixer.x_proj.weight' "
                     "(expected [13, 48])"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("missing tensor 'backbone.layers.0.mixer.D' (expected "
                     "[48])"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("tensor 'backbone.layers.1.mixer.conv1d.bias' has shape "
                     "[47]; expected [48]"),
            std::string::npos)
      << msg;

  WeightMap none;
  auto empty = Model::fromWeights(std::move(none));
  ASSERT_FALSE(bool(empty));
  EXPECT_NE(llvm::toString(empty.takeError()).find("no embedding"),
            std::string::npos);
}

TEST(Models, DriverRejectsBadTokensAndOrder) {
  auto model = compileModel(randomWeights(tinyMamba1(), 2));
  ASSERT_TRUE(model);
  auto early = model->decode(1);
  ASSERT_FALSE(bool(early));
  EXPECT_NE(llvm::toString(early.takeError()).find("decode before prefill"),
            std::string::npos);
  auto bad = model->prefill({1, 37});
  ASSERT_FALSE(bool(bad));
  EXPECT_NE(llvm::toString(bad.takeError())
                .find("token #1 is 37, outside the vocabulary [0, 37)"),
            std::string::npos);
  auto none = model->prefill({});
  ASSERT_FALSE(bool(none));
  llvm::consumeError(none.takeError());
}

TEST(Models, GreedyGenerationFollowsTheLogits) {
  WeightMap w = randomWeights(tinyMamba1(), 4);
  WeightMap w2 = copyOf(w);
  auto model = compileModel(std::move(w));
  ASSERT_TRUE(model);
  std::vector<int64_t> prompt = someTokens(5, 37, 4);
  GenerationStats stats;
  auto out = model->generate(prompt, 6, SamplingOptions{}, &stats);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  ASSERT_EQ(out->size(), 6u);
  EXPECT_EQ(stats.decodeSteps, 5);
  // Each greedy token is the argmax of the reference logits of the text so far.
  std::vector<int64_t> text = prompt;
  for (int64_t tok : *out) {
    auto want = ref::mamba1Logits(w2, text);
    const auto &last = want.back();
    int64_t best = std::max_element(last.begin(), last.end()) - last.begin();
    EXPECT_EQ(tok, best);
    text.push_back(tok);
  }
}

TEST(Models, SamplerRespectsTopK) {
  std::vector<float> logits{0.0f, 5.0f, 4.0f, -1.0f, 4.5f};
  Sampler greedy(SamplingOptions{});
  EXPECT_EQ(greedy.next(logits.data(), 5), 1);
  Sampler top2(SamplingOptions{1.0, 2, 7});
  int counts[5] = {0, 0, 0, 0, 0};
  for (int i = 0; i < 2000; ++i)
    ++counts[top2.next(logits.data(), 5)];
  EXPECT_EQ(counts[0] + counts[2] + counts[3], 0);
  // p(1) / p(4) = e^0.5 = 1.65 at temperature 1.
  double ratio = double(counts[1]) / counts[4];
  EXPECT_GT(ratio, 1.4);
  EXPECT_LT(ratio, 1.95);
  Sampler hot(SamplingOptions{100.0, 0, 3});
  int seen = 0;
  bool hit[5] = {};
  for (int i = 0; i < 500; ++i)
    hit[hot.next(logits.data(), 5)] = true;
  for (bool h : hit)
    seen += h;
  EXPECT_EQ(seen, 5);
}

/// The 130M layout: every tensor with the real name and shape (bf16 on
/// disk, as released checkpoints are often converted), read back, the
/// configuration inferred, and a few tokens of prefill and decode that agree.
TEST(Models, Mamba130MLayoutLoadsAndDecodes) {
  ModelConfig c = mamba130m();
  std::vector<TensorSpec> specs = checkpointTensors(c);
  EXPECT_EQ(specs.size(), 2u + 24u * 10u);
  EXPECT_EQ(specs[0].name, "backbone.embedding.weight");
  EXPECT_EQ(specs[0].shape, (std::vector<int64_t>{50280, 768}));
  WeightMap w = randomWeights(c, 11);
  EXPECT_EQ(w.at("backbone.layers.23.mixer.in_proj.weight").shape(),
            (std::vector<int64_t>{3072, 768}));
  EXPECT_EQ(w.at("backbone.layers.0.mixer.x_proj.weight").shape(),
            (std::vector<int64_t>{80, 1536}));
  EXPECT_EQ(w.at("backbone.layers.5.mixer.conv1d.weight").shape(),
            (std::vector<int64_t>{1536, 1, 4}));
  std::string path = tempPath("130m.safetensors");
  {
    WeightMap bf16;
    for (auto &[name, t] : w) {
      OwnedTensor b(DType::BF16, t.shape());
      for (int64_t i = 0; i < t.numel(); ++i)
        b.setFromDouble(i, t.getAsDouble(i));
      bf16.emplace(name, std::move(b));
    }
    w.clear();
    ASSERT_FALSE(bool(writeWeights(path, bf16)));
  }
  auto model = Model::load(path);
  llvm::sys::fs::remove(path);
  ASSERT_TRUE(bool(model)) << llvm::toString(model.takeError());
  EXPECT_EQ((*model)->config().describe(), c.describe());
  EXPECT_EQ((*model)->stateBytes(), size_t(24 * 1536 * (3 + 16) * 4));
  std::vector<int64_t> tokens{50279, 0, 1234, 42, 7};
  auto all = (*model)->forward(tokens);
  ASSERT_TRUE(bool(all)) << llvm::toString(all.takeError());
  auto first = (*model)->prefill(llvm::ArrayRef(tokens).take_front(2));
  ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
  auto row = [&](int64_t l) {
    return std::vector<double>(all->as<float>() + l * c.vocab,
                               all->as<float>() + (l + 1) * c.vocab);
  };
  EXPECT_LT(relError(*first, 0, row(1)), 1e-4);
  for (int64_t l = 2; l < 5; ++l) {
    auto next = (*model)->decode(tokens[l]);
    ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
    EXPECT_LT(relError(*next, 0, row(l)), 1e-4) << "decode at " << l;
    for (int64_t v = 0; v < c.vocab; ++v)
      ASSERT_TRUE(std::isfinite(next->as<float>()[v]));
  }
}

TEST(Models, Mamba2ForwardMatchesDoubleReference) {
  WeightMap w = randomWeights(tinyMamba2(), 3);
  std::vector<int64_t> tokens = someTokens(10, 41, 1);
  auto want = ref::mamba2Logits(w, tokens);
  auto model = compileModel(copyOf(w));
  ASSERT_TRUE(model);
  EXPECT_EQ(model->config().describe(), tinyMamba2().describe());
  auto logits = model->forward(tokens);
  ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
  for (int64_t l = 0; l < 10; ++l)
    EXPECT_LT(relError(*logits, l, want[l]), 2e-5) << "position " << l;
}

TEST(Models, Mamba2PrefillThenDecodeMatchesReference) {
  WeightMap w = randomWeights(tinyMamba2(), 6);
  std::vector<int64_t> tokens = someTokens(12, 41, 5);
  auto want = ref::mamba2Logits(w, tokens);
  auto model = compileModel(std::move(w));
  ASSERT_TRUE(model);
  for (int64_t prompt : {1, 2, 5})
    ASSERT_NO_FATAL_FAILURE(
        expectPrefillThenDecode(*model, tokens, prompt, want));
}

TEST(Models, Mamba2GroupsComeFromConfigJson) {
  WeightMap w = randomWeights(tinyMamba2(2), 8);
  std::vector<int64_t> tokens = someTokens(6, 41, 8);
  auto want = ref::mamba2Logits(w, tokens, /*nGroups=*/2);
  llvm::SmallString<128> dir(tempPath("m2dir"));
  ASSERT_FALSE(llvm::sys::fs::create_directories(dir));
  std::string file = (dir + "/model.safetensors").str();
  std::string json = (dir + "/config.json").str();
  ASSERT_FALSE(bool(writeWeights(file, w)));
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(json, ec);
    os << R"({"model_type": "mamba2", "n_groups": 2, "layer_norm_epsilon": 1e-5})";
  }
  auto model = Model::load(file);
  ASSERT_TRUE(bool(model)) << llvm::toString(model.takeError());
  EXPECT_EQ((*model)->config().nGroups, 2);
  EXPECT_EQ((*model)->config().dState, 6);
  auto logits = (*model)->forward(tokens);
  ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
  for (int64_t l = 0; l < 6; ++l)
    EXPECT_LT(relError(*logits, l, want[l]), 2e-5) << "position " << l;
  // Without config.json the groups cannot be seen: one group of 12 states,
  // which computes something else.
  llvm::sys::fs::remove(json);
  auto guessed = Model::load(file);
  ASSERT_TRUE(bool(guessed)) << llvm::toString(guessed.takeError());
  EXPECT_EQ((*guessed)->config().dState, 12);
  llvm::sys::fs::remove(file);
  llvm::sys::fs::remove(dir);
}

TEST(Models, Mamba2130MLayout) {
  std::vector<TensorSpec> specs = checkpointTensors(mamba2_130m());
  ASSERT_EQ(specs.size(), 2u + 24u * 9u);
  std::map<std::string, std::vector<int64_t>> shapes;
  for (auto &s : specs)
    shapes[s.name] = s.shape;
  EXPECT_EQ(shapes["backbone.embedding.weight"],
            (std::vector<int64_t>{50288, 768}));
  EXPECT_EQ(shapes["backbone.layers.0.mixer.in_proj.weight"],
            (std::vector<int64_t>{3352, 768}));
  EXPECT_EQ(shapes["backbone.layers.23.mixer.conv1d.weight"],
            (std::vector<int64_t>{1792, 1, 4}));
  EXPECT_EQ(shapes["backbone.layers.7.mixer.A_log"], (std::vector<int64_t>{24}));
  EXPECT_EQ(shapes["backbone.layers.7.mixer.norm.weight"],
            (std::vector<int64_t>{1536}));
}

TEST(Models, TransformerForwardMatchesDoubleReference) {
  ModelConfig c = tinyTransformer();
  WeightMap w = randomWeights(c, 3);
  std::vector<int64_t> tokens = someTokens(14, 43, 1);
  auto want = ref::transformerLogits(w, tokens, 4, 2, 500.0);
  auto m = Model::fromWeights(copyOf(w), {}, hintsOf(c));
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ((*m)->config().describe(), c.describe());
  auto logits = (*m)->forward(tokens);
  ASSERT_TRUE(bool(logits)) << llvm::toString(logits.takeError());
  for (int64_t l = 0; l < 14; ++l)
    EXPECT_LT(relError(*logits, l, want[l]), 2e-5) << "position " << l;
}

TEST(Models, TransformerPrefillThenDecodeUsesTheKVCache) {
  ModelConfig c = tinyTransformer();
  WeightMap w = randomWeights(c, 7);
  std::vector<int64_t> tokens = someTokens(24, 43, 2);
  auto want = ref::transformerLogits(w, tokens, 4, 2, 500.0);
  auto m = Model::fromWeights(std::move(w), {}, hintsOf(c));
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  Model &model = **m;
  for (int64_t prompt : {1, 6}) {
    ASSERT_NO_FATAL_FAILURE(
        expectPrefillThenDecode(model, tokens, prompt, want));
    // The cache holds 24 tokens: a 25th is refused, not written past it.
    auto over = model.decode(1);
    ASSERT_FALSE(bool(over));
    EXPECT_NE(llvm::toString(over.takeError())
                  .find("25 tokens exceed the KV cache of 24 tokens"),
              std::string::npos);
  }
  auto tooLong = model.prefill(someTokens(25, 43, 3));
  ASSERT_FALSE(bool(tooLong));
  llvm::consumeError(tooLong.takeError());
}

TEST(Models, TransformerConfigFromJsonAndErrors) {
  ModelConfig c = tinyTransformer();
  WeightMap w = randomWeights(c, 4);
  std::string file = tempPath("tf.safetensors");
  std::string json = tempPath("tf.config.json");
  ASSERT_FALSE(bool(writeWeights(file, w)));
  ASSERT_FALSE(bool(writeConfigJson(json, c)));
  EXPECT_EQ(configPathFor(file), json);
  auto m = Model::load(file);
  ASSERT_TRUE(bool(m)) << llvm::toString(m.takeError());
  EXPECT_EQ((*m)->config().describe(), c.describe());
  EXPECT_EQ((*m)->stateBytes(), size_t(2 * 2 * 2 * 24 * 8 * 4));
  llvm::sys::fs::remove(file);
  llvm::sys::fs::remove(json);

  // 32 query rows cannot be split into heads of 64 without a config.
  auto guess = inferConfig(w);
  ASSERT_FALSE(bool(guess));
  EXPECT_NE(llvm::toString(guess.takeError()).find("num_attention_heads"),
            std::string::npos);
  ConfigHints bad = hintsOf(c);
  bad.kvHeads = 4;
  auto mismatch = inferConfig(w, bad);
  ASSERT_FALSE(bool(mismatch));
  EXPECT_NE(llvm::toString(mismatch.takeError())
                .find("num_key_value_heads is 4 but k_proj has 2 heads of 8"),
            std::string::npos);
  w.erase("model.layers.1.mlp.up_proj.weight");
  auto missing = inferConfig(w, hintsOf(c));
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(llvm::toString(missing.takeError())
                .find("missing tensor 'model.layers.1.mlp.up_proj.weight' "
                      "(expected [40, 32])"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// Saved states: a prompt run in pieces, or from a restored state, gives the
// logits of the uninterrupted run and the same greedy tokens.
//===----------------------------------------------------------------------===//

/// A compiled model of each kind, and the double-precision reference.
struct KindUnderTest {
  ModelConfig config;
  WeightMap weights;
  std::unique_ptr<Model> model;
  std::vector<std::vector<double>> want; // logits of the last `reference`

  /// Token ids of the vocabulary (`tokens` reduced modulo its size), with
  /// their reference logits in `want`.
  std::vector<int64_t> reference(std::vector<int64_t> tokens) {
    for (int64_t &t : tokens)
      t %= config.vocab;
    want = config.arch == Arch::Mamba1 ? ref::mamba1Logits(weights, tokens)
           : config.arch == Arch::Mamba2
               ? ref::mamba2Logits(weights, tokens, config.nGroups)
               : ref::transformerLogits(weights, tokens, 4, 2, 500.0);
    return tokens;
  }
};

std::unique_ptr<KindUnderTest> kindUnderTest(Arch arch) {
  auto k = std::make_unique<KindUnderTest>();
  k->config = arch == Arch::Mamba1   ? tinyMamba1()
              : arch == Arch::Mamba2 ? tinyMamba2(2)
                                     : tinyTransformer();
  k->weights = randomWeights(k->config, 11);
  auto m = Model::fromWeights(copyOf(k->weights), {}, hintsOf(k->config));
  if (!m)
    ADD_FAILURE() << llvm::toString(m.takeError());
  else
    k->model = std::move(*m);
  return k;
}

/// A state of `c` at `position` with values that tell the tensors apart.
SequenceState someState(const ModelConfig &c, int64_t position) {
  SequenceState s;
  s.position = position;
  float v = 0.5f;
  for (auto &[name, shape] : savedStateShapes(c, position)) {
    OwnedTensor t(DType::F32, shape);
    for (int64_t i = 0; i < t.numel(); ++i)
      t.as<float>()[i] = (v += 0.25f);
    s.tensors.push_back(std::move(t));
  }
  s.logits = OwnedTensor(DType::F32, {c.vocab});
  for (int64_t i = 0; i < c.vocab; ++i)
    s.logits.as<float>()[i] = float(i) - 3;
  return s;
}

/// The file's bytes, changed by `edit`, written back.
void rewrite(const std::string &path,
             const std::function<void(std::string &)> &edit) {
  auto buf = llvm::MemoryBuffer::getFile(path, false, false);
  ASSERT_TRUE(bool(buf));
  std::string bytes = (*buf)->getBuffer().str();
  edit(bytes);
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  ASSERT_FALSE(ec);
  os << bytes;
}

std::string errorOf(llvm::Expected<SequenceState> s) {
  if (s)
    return "(no error)";
  return llvm::toString(s.takeError());
}

void checkSavedStatesContinueExactly(KindUnderTest &k) {
  // 13 prompt tokens + 6 new ones fit the tiny Transformer's 24-slot cache.
  std::vector<int64_t> prompt = k.reference(someTokens(13, 1000, 4));
  Model &m = *k.model;
  Arch arch = k.config.arch;
  SamplingOptions greedy;

  auto whole = m.prefill(prompt);
  ASSERT_TRUE(bool(whole)) << llvm::toString(whole.takeError());
  EXPECT_LT(relError(*whole, 0, k.want[12]), 2e-5);
  auto tokens = m.generateFrom(*whole, 6, greedy);
  ASSERT_TRUE(bool(tokens)) << llvm::toString(tokens.takeError());

  // One prefill split at 1, 5 and 9 hands out those states (and the end's,
  // asked for with 13) and still ends with the same logits.
  std::vector<SequenceState> saved;
  auto split = m.prefill(prompt, {9, 1, 5, 13, 40}, [&](SequenceState s) {
    saved.push_back(std::move(s));
    return llvm::Error::success();
  });
  ASSERT_TRUE(bool(split)) << llvm::toString(split.takeError());
  expectClose(*split, *whole, "split prefill");
  ASSERT_EQ(saved.size(), 4u);
  const int64_t positions[] = {1, 5, 9, 13};
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(saved[i].position, positions[i]);
  for (size_t i = 0; i < 3; ++i) {
    // The logits a saved state carries are those after its last token.
    EXPECT_LT(relError(saved[i].logits, 0, k.want[saved[i].position - 1]),
              2e-5)
        << "state at " << saved[i].position;
  }

  // A state taken by a prefill of the prefix equals the one handed out.
  auto prefix = m.prefill(llvm::ArrayRef(prompt).take_front(5));
  ASSERT_TRUE(bool(prefix)) << llvm::toString(prefix.takeError());
  auto direct = m.saveState();
  ASSERT_TRUE(bool(direct)) << llvm::toString(direct.takeError());
  ASSERT_EQ(direct->tensors.size(), saved[1].tensors.size());
  for (size_t i = 0; i < direct->tensors.size(); ++i)
    expectClose(saved[1].tensors[i], direct->tensors[i], "state tensor");

  // Restored state + suffix = the uninterrupted run, through a file too.
  std::string file = tempPath("state-" + archName(arch).str());
  for (size_t i = 0; i < 3; ++i) {
    const SequenceState *s = &saved[i];
    std::optional<SequenceState> reread;
    if (i == 2) {
      ASSERT_FALSE(bool(writeStateFile(file, m.config(), m.identity(), prompt,
                                       *s)));
      auto r = readStateFile(file, m.config(), m.identity());
      ASSERT_TRUE(bool(r)) << llvm::toString(r.takeError());
      reread = std::move(*r);
      s = &*reread;
    }
    auto other = m.prefill(someTokens(7, k.config.vocab, 9)); // clobber
    ASSERT_TRUE(bool(other)) << llvm::toString(other.takeError());
    ASSERT_FALSE(bool(m.restoreState(*s)));
    EXPECT_EQ(m.position(), s->position);
    auto rest = m.extend(llvm::ArrayRef(prompt).drop_front(s->position));
    ASSERT_TRUE(bool(rest)) << llvm::toString(rest.takeError());
    expectClose(*rest, *whole, "restored at " + std::to_string(s->position));
    EXPECT_LT(relError(*rest, 0, k.want[12]), 2e-5);
    auto again = m.generateFrom(*rest, 6, greedy);
    ASSERT_TRUE(bool(again)) << llvm::toString(again.takeError());
    EXPECT_EQ(*again, *tokens) << "restored at " << s->position;
  }
  llvm::sys::fs::remove(file);

  // The state after the whole prompt generates at once from its logits.
  ASSERT_FALSE(bool(m.restoreState(saved[3])));
  auto fromEnd = m.generateFrom(saved[3].logits, 6, greedy);
  ASSERT_TRUE(bool(fromEnd)) << llvm::toString(fromEnd.takeError());
  EXPECT_EQ(*fromEnd, *tokens);

  // States that do not fit the model are refused by restoreState.
  SequenceState wrong = someState(k.config, 3);
  std::vector<int64_t> shape = wrong.tensors[0].shape();
  ++shape.back();
  wrong.tensors[0] = OwnedTensor(DType::F32, shape);
  EXPECT_NE(llvm::toString(m.restoreState(wrong))
                .find("the model expects f32"),
            std::string::npos);
  wrong.position = 0;
  EXPECT_NE(llvm::toString(m.restoreState(wrong)).find("at least one token"),
            std::string::npos);
}


TEST(ModelServing, BadStateFilesAreRejected) {
  ModelConfig c = tinyMamba1();
  std::string key = "00c0ffee00c0ffee";
  std::vector<int64_t> prompt = someTokens(6, 37, 5);
  std::vector<SequenceState> saved;
  saved.push_back(someState(c, 3));
  saved.push_back(someState(c, 6));
  std::string dir = tempPath("cache");
  StateCache cache(dir, c, key);
  ASSERT_FALSE(bool(cache.store(prompt, saved[0])));
  ASSERT_FALSE(bool(cache.store(prompt, saved[1])));
  std::string full = cache.pathFor(prompt);
  auto read = [&] { return errorOf(readStateFile(full, c, key)); };
  EXPECT_EQ(read(), "(no error)");

  // What is read back is what was written.
  std::vector<int64_t> ids;
  auto back = readStateFile(full, c, key, &ids);
  ASSERT_TRUE(bool(back)) << llvm::toString(back.takeError());
  EXPECT_EQ(ids, prompt);
  EXPECT_EQ(back->position, 6);
  ASSERT_EQ(back->tensors.size(), 2u);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_EQ(std::memcmp(back->tensors[i].data(), saved[1].tensors[i].data(),
                          saved[1].tensors[i].sizeInBytes()),
              0);
  EXPECT_EQ(std::memcmp(back->logits.data(), saved[1].logits.data(),
                        saved[1].logits.sizeInBytes()),
            0);

  // The longest cached prefix wins; a prompt diverging after 3 tokens
  // finds the 3-token state.
  auto hit = cache.lookup(prompt);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->state.position, 6);
  std::vector<int64_t> diverging(prompt.begin(), prompt.begin() + 4);
  diverging[3] = (diverging[3] + 1) % 37;
  hit = cache.lookup(diverging);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->state.position, 3);
  EXPECT_FALSE(cache.lookup(llvm::ArrayRef(prompt).take_front(2)));

  auto expectError = [&](const std::function<void(std::string &)> &edit,
                         llvm::StringRef message) {
    ASSERT_FALSE(bool(cache.store(prompt, saved[1])));
    rewrite(full, edit);
    std::string e = read();
    EXPECT_NE(e.find(message.str()), std::string::npos) << e;
    EXPECT_NE(e.find(full), std::string::npos) << e; // names the file
  };
  expectError([](std::string &b) { b[0] = 'X'; }, "not an ssmc state file");
  expectError([](std::string &b) { b[8] = 2; },
              "format version 2; this ssmc reads version 1");
  expectError([](std::string &b) { b.resize(b.size() - 10); },
              "truncated or overwritten");
  expectError([](std::string &b) { b[b.size() - 7] ^= 0x40; },
              "checksum mismatch");
  expectError([](std::string &b) { b.resize(20); }, "truncated header");
  expectError([](std::string &b) { b[17] = '['; }, "corrupt header");
  expectError(
      [](std::string &b) {
        size_t at = b.find("\"position\":6");
        ASSERT_NE(at, std::string::npos);
        b[at + 11] = '5';
      },
      "position 5 with 6 token ids");

  // A corrupt file is reported and skipped; the shorter prefix is used.
  int bad = 0;
  hit = cache.lookup(prompt, [&](llvm::Error e) {
    ++bad;
    EXPECT_NE(llvm::toString(std::move(e)).find("position 5"),
              std::string::npos);
  });
  EXPECT_EQ(bad, 1);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->state.position, 3);

  // Another model's files: other weights, another configuration.
  ASSERT_FALSE(bool(cache.store(prompt, saved[1])));
  EXPECT_NE(errorOf(readStateFile(full, c, "0123456789abcdef"))
                .find("saved for other weights"),
            std::string::npos);
  EXPECT_NE(errorOf(readStateFile(full, tinyMamba2(), key))
                .find("saved for mamba1"),
            std::string::npos);
  StateCache otherModel(dir, c, "0123456789abcdef");
  EXPECT_FALSE(otherModel.lookup(prompt));

  // A state that does not fit the configuration is not written.
  SequenceState wrong = someState(tinyMamba2(), 6);
  llvm::Error e = writeStateFile(full + ".x", c, key, prompt, wrong);
  EXPECT_NE(llvm::toString(std::move(e)).find("state tensor 'conv_state' has "
                                              "shape [2, 60, 3]; expected f32 "
                                              "[2, 48, 3]"),
            std::string::npos);
  EXPECT_FALSE(llvm::sys::fs::exists(full + ".x"));
  llvm::sys::fs::remove_directories(dir);
}


//===----------------------------------------------------------------------===//
// Batched generation: prompts of different lengths (one of them a single
// token) in one packed prefill and batched decode steps give what each
// prompt gives alone.
//===----------------------------------------------------------------------===//

void checkBatchEqualsSeparateRuns(KindUnderTest &k) {
  std::vector<int64_t> all = k.reference(someTokens(7 + 1 + 4, 1000, 6));
  Model &m = *k.model;
  std::vector<std::vector<int64_t>> prompts{
      {all.begin(), all.begin() + 7},
      {all.begin() + 7, all.begin() + 8},
      {all.begin() + 8, all.end()}};
  const int64_t B = prompts.size(), V = k.config.vocab, steps = 5;
  SamplingOptions greedy;

  auto early = m.decodeBatch({1, 2, 3});
  ASSERT_FALSE(bool(early));
  EXPECT_NE(llvm::toString(early.takeError()).find("before prefillBatch"),
            std::string::npos);
  auto empty = m.prefillBatch({{1, 2}, {}});
  ASSERT_FALSE(bool(empty));
  EXPECT_NE(llvm::toString(empty.takeError())
                .find("prompt #1: the prompt is empty"),
            std::string::npos);

  // Each prompt alone: its greedy tokens and the logits of every step.
  std::vector<std::vector<int64_t>> tokens(B);
  std::vector<std::vector<OwnedTensor>> logits(B);
  for (int64_t s = 0; s < B; ++s) {
    auto first = m.prefill(prompts[s]);
    ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
    logits[s].push_back(std::move(*first));
    for (int64_t i = 0; i < steps; ++i) {
      Sampler pick(greedy);
      tokens[s].push_back(pick.next(logits[s].back().as<float>(), V));
      if (i + 1 == steps)
        break;
      auto next = m.decode(tokens[s].back());
      ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
      logits[s].push_back(std::move(*next));
    }
  }
  // The first prompt's logits are the double reference's.
  EXPECT_LT(relError(logits[0][0], 0, k.want[6]), 2e-5);

  auto rowOf = [&](const OwnedTensor &batch, int64_t s) {
    OwnedTensor row(DType::F32, {V});
    std::memcpy(row.data(), batch.as<float>() + s * V, V * sizeof(float));
    return row;
  };
  auto first = m.prefillBatch(prompts);
  ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
  ASSERT_EQ(first->shape(), (std::vector<int64_t>{B, V}));
  for (int64_t s = 0; s < B; ++s)
    expectClose(rowOf(*first, s), logits[s][0],
                "prefill of prompt " + std::to_string(s));
  for (int64_t i = 1; i < steps; ++i) {
    std::vector<int64_t> step;
    for (int64_t s = 0; s < B; ++s)
      step.push_back(tokens[s][i - 1]);
    auto next = m.decodeBatch(step);
    ASSERT_TRUE(bool(next)) << llvm::toString(next.takeError());
    for (int64_t s = 0; s < B; ++s)
      expectClose(rowOf(*next, s), logits[s][i],
                  "decode step " + std::to_string(i) + " of prompt " +
                      std::to_string(s));
  }
  auto wrong = m.decodeBatch({1, 2});
  ASSERT_FALSE(bool(wrong));
  EXPECT_NE(llvm::toString(wrong.takeError())
                .find("2 tokens for a batch of 3 sequences"),
            std::string::npos);

  GenerationStats stats;
  auto generated = m.generateBatch(prompts, steps, greedy, &stats);
  ASSERT_TRUE(bool(generated)) << llvm::toString(generated.takeError());
  EXPECT_EQ(*generated, tokens);
  EXPECT_EQ(stats.promptTokens, 12);
  EXPECT_EQ(stats.decodeSteps, B * (steps - 1));

  // A batch of one is the single run too.
  auto one = m.generateBatch({prompts[2]}, steps, greedy);
  ASSERT_TRUE(bool(one)) << llvm::toString(one.takeError());
  EXPECT_EQ((*one)[0], tokens[2]);
}

//===----------------------------------------------------------------------===//
// Batches with saved states (a state cache): each sequence continues from
// its own saved prefix (or from the start, or is whole in its state) and
// hands out its states at its own positions; logits, states and tokens are
// those of each prompt run alone.
//===----------------------------------------------------------------------===//

void checkCachedBatchEqualsSeparateRuns(KindUnderTest &k) {
  Model &m = *k.model;
  const int64_t V = k.config.vocab, steps = 4;
  std::vector<int64_t> all = someTokens(7 + 1 + 4 + 6, V, 8);
  std::vector<std::vector<int64_t>> prompts{
      {all.begin(), all.begin() + 7},
      {all.begin() + 7, all.begin() + 8},
      {all.begin() + 8, all.begin() + 12},
      {all.begin() + 12, all.end()}};
  const int64_t B = prompts.size();
  SamplingOptions greedy;
  auto stateAfter = [&](const std::vector<int64_t> &p, int64_t n) {
    auto l = m.prefill(llvm::ArrayRef(p).take_front(n));
    EXPECT_TRUE(bool(l)) << llvm::toString(l.takeError());
    auto st = m.saveState();
    EXPECT_TRUE(bool(st)) << llvm::toString(st.takeError());
    return std::move(*st);
  };
  // Starts: prompt 0 after 3 tokens, 1 none (a miss), 2 whole, 3 after 2.
  SequenceState start0 = stateAfter(prompts[0], 3),
                start2 = stateAfter(prompts[2], 4),
                start3 = stateAfter(prompts[3], 2);
  std::vector<Model::BatchSequence> seqs(B);
  for (int64_t s = 0; s < B; ++s)
    seqs[s].tokens = prompts[s];
  seqs[0].start = &start0, seqs[2].start = &start2, seqs[3].start = &start3;
  // Positions at or below a start, or past the prompt, are ignored.
  seqs[0].savePositions = {7, 5};
  seqs[1].savePositions = {1};
  seqs[2].savePositions = {4, 2};
  seqs[3].savePositions = {9, 4, 2, 3, 6};
  const std::vector<std::vector<int64_t>> wantSaved{{5, 7}, {1}, {}, {3, 4, 6}};
  std::vector<std::vector<SequenceState>> saved(B);
  for (int64_t s = 0; s < B; ++s)
    seqs[s].onState = [&saved, s](SequenceState st) {
      saved[s].push_back(std::move(st));
      return llvm::Error::success();
    };

  // Each prompt alone: its logits and greedy tokens.
  std::vector<OwnedTensor> alone(B);
  std::vector<std::vector<int64_t>> tokens(B);
  for (int64_t s = 0; s < B; ++s) {
    auto l = m.prefill(prompts[s]);
    ASSERT_TRUE(bool(l)) << llvm::toString(l.takeError());
    alone[s] = std::move(*l);
    auto t = m.generateFrom(alone[s], steps, greedy);
    ASSERT_TRUE(bool(t)) << llvm::toString(t.takeError());
    tokens[s] = std::move(*t);
  }

  auto first = m.prefillSequences(seqs);
  ASSERT_TRUE(bool(first)) << llvm::toString(first.takeError());
  ASSERT_EQ(first->shape(), (std::vector<int64_t>{B, V}));
  for (int64_t s = 0; s < B; ++s) {
    OwnedTensor row(DType::F32, {V});
    std::memcpy(row.data(), first->as<float>() + s * V, V * sizeof(float));
    expectClose(row, alone[s], "cached batch prefill of prompt " +
                                   std::to_string(s));
    ASSERT_EQ(saved[s].size(), wantSaved[s].size()) << "prompt " << s;
    for (size_t i = 0; i < saved[s].size(); ++i) {
      int64_t at = wantSaved[s][i];
      EXPECT_EQ(saved[s][i].position, at) << "prompt " << s;
      SequenceState want = stateAfter(prompts[s], at);
      ASSERT_EQ(saved[s][i].tensors.size(), want.tensors.size());
      for (size_t j = 0; j < want.tensors.size(); ++j)
        expectClose(saved[s][i].tensors[j], want.tensors[j],
                    "state of prompt " + std::to_string(s) + " at " +
                        std::to_string(at));
      expectClose(saved[s][i].logits, want.logits,
                  "logits saved with prompt " + std::to_string(s));
    }
  }

  // Generation from the cached batch: each prompt's tokens alone; only the
  // tokens after the starts count as prefilled.
  for (auto &v : saved)
    v.clear();
  GenerationStats stats;
  auto generated = m.generateSequences(seqs, steps, greedy, &stats);
  ASSERT_TRUE(bool(generated)) << llvm::toString(generated.takeError());
  EXPECT_EQ(*generated, tokens);
  EXPECT_EQ(stats.promptTokens, (7 - 3) + 1 + 0 + (6 - 2));

  // A start longer than its prompt is refused.
  std::vector<Model::BatchSequence> bad(1);
  bad[0].tokens = {prompts[3].begin(), prompts[3].begin() + 1};
  bad[0].start = &start3;
  auto longer = m.prefillSequences(bad);
  ASSERT_FALSE(bool(longer));
  EXPECT_NE(llvm::toString(longer.takeError())
                .find("prompt #0: its saved state holds 2 tokens, more than "
                      "the prompt's 1"),
            std::string::npos);
}

/// The Transformer's batched prefill starts every prompt at position 0.
void checkCachedBatchIsRefused(KindUnderTest &k) {
  SequenceState st = someState(k.config, 2);
  std::vector<Model::BatchSequence> seqs(2);
  seqs[0].tokens = {1, 2, 3};
  seqs[0].start = &st;
  seqs[1].tokens = {4};
  auto r = k.model->prefillSequences(seqs);
  ASSERT_FALSE(bool(r));
  EXPECT_NE(llvm::toString(r.takeError())
                .find("prompt #0: a Transformer batch prefills every prompt "
                      "from position 0"),
            std::string::npos);
}

// One compiled model per kind serves all checks.
TEST(ModelServing, Mamba1SavedStatesAndBatches) {
  auto k = kindUnderTest(Arch::Mamba1);
  ASSERT_TRUE(k->model);
  checkSavedStatesContinueExactly(*k);
  checkBatchEqualsSeparateRuns(*k);
  checkCachedBatchEqualsSeparateRuns(*k);
}
TEST(ModelServing, Mamba2SavedStatesAndBatches) {
  auto k = kindUnderTest(Arch::Mamba2);
  ASSERT_TRUE(k->model);
  checkSavedStatesContinueExactly(*k);
  checkBatchEqualsSeparateRuns(*k);
  checkCachedBatchEqualsSeparateRuns(*k);
}
TEST(ModelServing, TransformerSavedStatesAndBatches) {
  auto k = kindUnderTest(Arch::Transformer);
  ASSERT_TRUE(k->model);
  checkSavedStatesContinueExactly(*k);
  checkBatchEqualsSeparateRuns(*k);
  checkCachedBatchIsRefused(*k);
}

} // namespace
