//===- AppsModule.cpp - ssmc._apps: language models and theory tasks -----===//
//
// Python bindings of apps/lm (ssmc::models::Model: load a checkpoint,
// prefill, decode, sample) and apps/tasks (run a theory task, get its
// tables and claims). ssmc.models and ssmc.tasks wrap them. llvm::Error
// values become ValueError (loading, options) or RuntimeError (running),
// with the C++ message; the GIL is released while compiled code runs.
//
//===----------------------------------------------------------------------===//

#include "apps/lm/LanguageModel.h"
#include "apps/tasks/Tasks.h"

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <optional>

namespace py = pybind11;
using namespace ssmc;
using namespace ssmc::models;

namespace {

[[noreturn]] void throwValue(llvm::Error err) {
  throw py::value_error(llvm::toString(std::move(err)));
}
[[noreturn]] void throwRuntime(llvm::Error err) {
  throw std::runtime_error(llvm::toString(std::move(err)));
}

template <typename T> T takeOrThrowRuntime(llvm::Expected<T> v) {
  if (!v)
    throwRuntime(v.takeError());
  return std::move(*v);
}

/// An f32 OwnedTensor as a NumPy array (one copy of the logits).
py::array_t<float> toNumpy(const OwnedTensor &t) {
  if (t.dtype() != DType::F32)
    throw std::runtime_error("expected f32 logits from the model program");
  py::array_t<float> out(t.shape());
  std::memcpy(out.mutable_data(), t.data(), t.sizeInBytes());
  return out;
}

JitOptions jitOptions(unsigned threads, unsigned optLevel) {
  JitOptions o;
  o.threads = threads;
  o.optLevel = optLevel;
  return o;
}

py::dict configDict(const ModelConfig &c) {
  py::dict d;
  d["arch"] = archName(c.arch).str();
  d["vocab"] = c.vocab;
  d["d_model"] = c.dModel;
  d["n_layer"] = c.nLayer;
  d["d_inner"] = c.dInner;
  d["d_state"] = c.dState;
  d["d_conv"] = c.dConv;
  d["dt_rank"] = c.dtRank;
  d["headdim"] = c.headDim;
  d["ngroups"] = c.nGroups;
  d["attn_heads"] = c.attnHeads;
  d["kv_heads"] = c.kvHeads;
  d["v_heads"] = c.vHeads;
  d["head_v_dim"] = c.headVDim;
  d["ffn_dim"] = c.ffnDim;
  d["rope_theta"] = c.ropeTheta;
  d["context"] = c.context;
  d["norm_eps"] = c.normEps;
  d["tied_embeddings"] = c.tiedEmbeddings;
  d["description"] = c.describe();
  return d;
}

std::vector<int64_t> checkedTokens(const std::vector<int64_t> &tokens,
                                   const Model &m) {
  int64_t vocab = m.config().vocab;
  for (int64_t t : tokens)
    if (t < 0 || t >= vocab)
      throw py::value_error("token " + std::to_string(t) +
                            " is outside the vocabulary [0, " +
                            std::to_string(vocab) + ")");
  return tokens;
}

/// The Python-facing model: a Model plus the sampler of the generation in
/// progress.
struct PyModel {
  std::unique_ptr<Model> model;
  std::optional<Sampler> sampler;
};

tasks::RunOptions runOptions(uint64_t seed, unsigned threads,
                             std::function<void(const std::string &)> progress) {
  tasks::RunOptions ro;
  ro.seed = seed;
  ro.threads = threads;
  if (progress)
    ro.progress = [progress](const std::string &line) {
      py::gil_scoped_acquire gil;
      progress(line);
    };
  return ro;
}

py::dict taskResultDict(const tasks::TaskResult &r) {
  py::list tables, claims;
  for (const tasks::Table &t : r.tables) {
    py::dict d;
    d["id"] = t.id;
    d["title"] = t.title;
    d["columns"] = t.columns;
    d["rows"] = t.rows;
    d["markdown"] = t.markdown();
    d["csv"] = t.csv();
    tables.append(d);
  }
  for (const tasks::Claim &c : r.claims) {
    py::dict d;
    d["task"] = c.task;
    d["statement"] = c.statement;
    d["supported"] = c.supported;
    d["evidence"] = c.evidence;
    claims.append(d);
  }
  py::dict out;
  out["task"] = r.task;
  out["tables"] = tables;
  out["claims"] = claims;
  return out;
}

/// Sets the integer-list / number options named in `kw` on a task's options
/// struct; an unknown name is a ValueError listing the known ones.
template <typename Opts> struct OptionSetter {
  Opts &o;
  py::dict kw;
  std::vector<std::string> known;
  template <typename T> void field(const char *name, T &dst) {
    known.push_back(name);
    if (kw.contains(name)) {
      dst = kw[name].template cast<T>();
      kw.attr("pop")(name);
    }
  }
  void finish(const char *task) {
    if (py::len(kw) == 0)
      return;
    std::string msg = std::string("unknown option(s) for task ") + task + ":";
    for (auto item : kw)
      msg += " " + py::str(item.first).cast<std::string>();
    msg += "; known:";
    for (auto &k : known)
      msg += " " + k;
    throw py::value_error(msg);
  }
};

py::dict runTask(const std::string &name, uint64_t seed, unsigned threads,
                 std::function<void(const std::string &)> progress,
                 py::dict kw) {
  kw = kw.attr("copy")();
  tasks::RunOptions ro = runOptions(seed, threads, std::move(progress));
  llvm::Expected<tasks::TaskResult> r = tasks::TaskResult{};
  if (name == "copy") {
    tasks::CopyOptions o;
    OptionSetter<tasks::CopyOptions> s{o, kw, {}};
    s.field("lengths", o.lengths);
    s.field("state_sizes", o.stateSizes);
    s.field("alphabet", o.alphabet);
    s.field("samples", o.samples);
    s.field("work_budget", o.workBudget);
    s.field("decays", o.decays);
    s.field("decay_lengths", o.decayLengths);
    s.field("attention_key_dim", o.attentionKeyDim);
    s.finish("copy");
    py::gil_scoped_release nogil;
    r = tasks::runCopy(o, ro);
  } else if (name == "mqar") {
    tasks::MQAROptions o;
    OptionSetter<tasks::MQAROptions> s{o, kw, {}};
    s.field("sizes", o.sizes);
    s.field("state_sizes", o.stateSizes);
    s.field("vocab", o.vocab);
    s.field("samples", o.samples);
    s.finish("mqar");
    py::gil_scoped_release nogil;
    r = tasks::runMQAR(o, ro);
  } else if (name == "dp") {
    tasks::DPOptions o;
    OptionSetter<tasks::DPOptions> s{o, kw, {}};
    s.field("lis_sizes", o.lisSizes);
    s.field("edit_sizes", o.editSizes);
    s.field("arithmetic_ops", o.arithmeticOps);
    s.field("local_sizes", o.localSizes);
    s.field("local_window", o.localWindow);
    s.field("samples", o.samples);
    s.field("max_full_state_tokens", o.maxFullStateTokens);
    s.finish("dp");
    py::gil_scoped_release nogil;
    r = tasks::runDP(o, ro);
  } else if (name == "cost") {
    tasks::CostOptions o;
    OptionSetter<tasks::CostOptions> s{o, kw, {}};
    s.field("lengths", o.lengths);
    s.field("max_quadratic_length", o.maxQuadraticLength);
    s.field("window", o.window);
    s.field("local_state", o.localState);
    s.field("value_dim", o.valueDim);
    s.field("head_dim", o.headDim);
    s.finish("cost");
    py::gil_scoped_release nogil;
    r = tasks::runCost(o, ro);
  } else {
    throw py::value_error("unknown task '" + name +
                          "' (known: copy, mqar, dp, cost)");
  }
  tasks::TaskResult result = takeOrThrowRuntime(std::move(r));
  return taskResultDict(result);
}

/// The WeightPrecision named `name` (f32, bf16, int8), else ValueError.
WeightPrecision precisionOf(const std::string &name) {
  std::optional<WeightPrecision> p = parsePrecision(name);
  if (!p)
    throw py::value_error("weights must be f32, bf16 or int8, got '" + name +
                          "'");
  return *p;
}

} // namespace

PYBIND11_MODULE(_apps, m) {
  m.doc() = "ssmc language models (apps/lm) and theory tasks (apps/tasks)";

  py::class_<PyModel>(m, "Model")
      .def_static(
          "load",
          [](const std::string &path, unsigned threads, unsigned optLevel,
             const std::string &weights) {
            WeightPrecision precision = precisionOf(weights);
            llvm::Expected<std::unique_ptr<Model>> mdl = [&] {
              py::gil_scoped_release nogil;
              return Model::load(path, jitOptions(threads, optLevel),
                                 precision);
            }();
            if (!mdl)
              throwValue(mdl.takeError());
            return PyModel{std::move(*mdl), std::nullopt};
          },
          py::arg("path"), py::arg("threads") = 0, py::arg("opt_level") = 3,
          py::arg("weights") = "f32")
      .def_static(
          "random",
          [](const std::string &name, uint64_t seed, unsigned threads,
             const std::string &weights) {
            WeightPrecision precision = precisionOf(weights);
            std::optional<ModelConfig> c = configByName(name);
            if (!c)
              throw py::value_error("unknown configuration '" + name +
                                    "' (mamba-130m, mamba2-130m, "
                                    "transformer-130m, tiny, tiny2, "
                                    "tiny-transformer)");
            ConfigHints hints;
            hints.nGroups = c->nGroups;
            hints.attnHeads = c->attnHeads;
            hints.kvHeads = c->kvHeads;
            hints.headDim = c->headDim;
            hints.context = c->context;
            hints.ropeTheta = c->ropeTheta;
            hints.normEps = c->normEps;
            llvm::Expected<std::unique_ptr<Model>> mdl = [&] {
              py::gil_scoped_release nogil;
              return Model::fromWeights(randomWeights(*c, seed),
                                        jitOptions(threads, 3), hints,
                                        precision);
            }();
            if (!mdl)
              throwValue(mdl.takeError());
            return PyModel{std::move(*mdl), std::nullopt};
          },
          py::arg("name"), py::arg("seed") = 1, py::arg("threads") = 0,
          py::arg("weights") = "f32")
      .def_static(
          "write_random",
          [](const std::string &name, uint64_t seed, const std::string &path) {
            std::optional<ModelConfig> c = configByName(name);
            if (!c)
              throw py::value_error("unknown configuration '" + name + "'");
            if (llvm::Error e = writeWeights(path, randomWeights(*c, seed)))
              throwValue(std::move(e));
            if (llvm::Error e = writeConfigJson(configPathFor(path), *c))
              throwValue(std::move(e));
          },
          py::arg("name"), py::arg("seed"), py::arg("path"))
      .def_property_readonly(
          "config", [](PyModel &p) { return configDict(p.model->config()); })
      .def_property_readonly("state_bytes",
                             [](PyModel &p) { return p.model->stateBytes(); })
      .def_property_readonly("position",
                             [](PyModel &p) { return p.model->position(); })
      .def_property_readonly(
          "compile_seconds", [](PyModel &p) { return p.model->compileSeconds(); })
      .def("forward",
           [](PyModel &p, const std::vector<int64_t> &tokens) {
             std::vector<int64_t> t = checkedTokens(tokens, *p.model);
             llvm::Expected<OwnedTensor> r = [&] {
               py::gil_scoped_release nogil;
               return p.model->forward(t);
             }();
             return toNumpy(takeOrThrowRuntime(std::move(r)));
           })
      .def("prefill",
           [](PyModel &p, const std::vector<int64_t> &tokens) {
             if (tokens.empty())
               throw py::value_error("prefill needs at least one token");
             std::vector<int64_t> t = checkedTokens(tokens, *p.model);
             llvm::Expected<OwnedTensor> r = [&] {
               py::gil_scoped_release nogil;
               return p.model->prefill(t);
             }();
             return toNumpy(takeOrThrowRuntime(std::move(r)));
           })
      .def("decode",
           [](PyModel &p, int64_t token) {
             checkedTokens({token}, *p.model);
             llvm::Expected<OwnedTensor> r = [&] {
               py::gil_scoped_release nogil;
               return p.model->decode(token);
             }();
             return toNumpy(takeOrThrowRuntime(std::move(r)));
           })
      .def(
          "start_sampling",
          [](PyModel &p, double temperature, int64_t topK, uint64_t seed) {
            if (temperature < 0 || topK < 0)
              throw py::value_error("temperature and top_k must be >= 0");
            SamplingOptions s;
            s.temperature = temperature;
            s.topK = topK;
            s.seed = seed;
            p.sampler.emplace(s);
          },
          py::arg("temperature") = 0.0, py::arg("top_k") = 0,
          py::arg("seed") = 1)
      .def("sample",
           [](PyModel &p, py::array_t<float, py::array::c_style> logits) {
             if (!p.sampler)
               throw py::value_error("start_sampling was not called");
             if (logits.ndim() != 1 || logits.shape(0) == 0)
               throw py::value_error("logits must be a non-empty vector");
             return p.sampler->next(logits.data(), logits.shape(0));
           })
      .def(
          "generate",
          [](PyModel &p, const std::vector<int64_t> &prompt, int64_t newTokens,
             double temperature, int64_t topK, uint64_t seed) {
            if (prompt.empty())
              throw py::value_error("generate needs at least one prompt token");
            if (newTokens < 0)
              throw py::value_error("max_new_tokens must be >= 0");
            std::vector<int64_t> t = checkedTokens(prompt, *p.model);
            SamplingOptions s;
            s.temperature = temperature;
            s.topK = topK;
            s.seed = seed;
            llvm::Expected<std::vector<int64_t>> r = [&] {
              py::gil_scoped_release nogil;
              return p.model->generate(t, newTokens, s);
            }();
            return takeOrThrowRuntime(std::move(r));
          },
          py::arg("prompt"), py::arg("max_new_tokens"),
          py::arg("temperature") = 0.0, py::arg("top_k") = 0,
          py::arg("seed") = 1);

  m.def("run_task", &runTask, py::arg("name"), py::arg("seed") = 1,
        py::arg("threads") = 0, py::arg("progress") = nullptr,
        py::arg("options") = py::dict());
}
