//===- mamba_graph.cpp - llama.cpp's Mamba graph built from ggml ----------===//
//
// The peer of ssmc-generate in bench/ggml/run.sh: the Mamba-1 / Mamba-2
// language model as llama.cpp builds it from ggml operations
// (src/models/mamba-base.cpp build_mamba_layer / build_mamba2_layer and
// the llm_build_mamba driver): ggml_get_rows embedding, RMS norm,
// ggml_mul_mat in_proj, ggml_concat of the conv state with the new
// columns, ggml_ssm_conv, ggml_ssm_scan over the state, D skip,
// ggml_swiglu_split gate, grouped RMS norm (Mamba-2), out_proj, residual,
// final norm and the LM head over the last token. The weights are read from
// the same mamba_ssm-named .safetensors file ssmc-generate runs, and the
// projections and embedding are converted to one ggml type as llama.cpp's
// converter/quantizer would (norms, conv, A, D and biases stay f32;
// a projection whose rows are not a multiple of the type's block falls back
// to f16, as llama-quantize does).
//
//   mamba_graph MODEL.safetensors --type f32|f16|bf16|q8_0|q4_0
//       --threads N --prompt 1,2,3 --new-tokens G [--n-groups G]
//       [--eps E] [--logits-out FILE] [--ref-logits FILE]
//
// Prints one JSON line: prefill and decode tokens/s (one prefill over the
// whole prompt, then G - 1 greedy decode steps, as ssmc-generate counts
// them), the greedy tokens, and with --ref-logits the agreement of the
// logits after the prompt with FILE (raw f32, or .npy as ssmc-generate
// --logits writes).
//
// Built against a ggml checkout by bench/ggml/run.sh; not part of the
// ssmc build.
//
//===----------------------------------------------------------------------===//

#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const std::string &msg) {
  std::fprintf(stderr, "mamba_graph: %s\n", msg.c_str());
  std::exit(1);
}

//===-- safetensors ------------------------------------------------------===//

struct StTensor {
  std::string dtype;
  std::vector<int64_t> shape; // PyTorch order
  size_t begin = 0, end = 0;
};

/// The header of a .safetensors file: a flat JSON object of
/// name -> {dtype, shape, data_offsets} (and "__metadata__").
class SafeTensors {
public:
  explicit SafeTensors(const std::string &path) {
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f)
      die("cannot open " + path);
    uint64_t n = 0;
    if (std::fread(&n, 8, 1, f) != 1)
      die(path + ": no header");
    header_.resize(n);
    if (std::fread(header_.data(), 1, n, f) != n)
      die(path + ": short header");
    std::fseek(f, 0, SEEK_END);
    size_t size = std::ftell(f);
    data_.resize(size - 8 - n);
    std::fseek(f, 8 + n, SEEK_SET);
    if (std::fread(data_.data(), 1, data_.size(), f) != data_.size())
      die(path + ": short data");
    std::fclose(f);
    parse();
  }

  bool has(const std::string &name) const { return tensors_.count(name); }
  const StTensor &get(const std::string &name) const {
    auto it = tensors_.find(name);
    if (it == tensors_.end())
      die("no tensor " + name);
    return it->second;
  }
  /// The tensor as f32 values (F32, BF16 or F16 in the file).
  std::vector<float> floats(const std::string &name) const {
    const StTensor &t = get(name);
    const uint8_t *p = data_.data() + t.begin;
    size_t bytes = t.end - t.begin;
    std::vector<float> out;
    if (t.dtype == "F32") {
      out.resize(bytes / 4);
      std::memcpy(out.data(), p, bytes);
    } else if (t.dtype == "BF16") {
      out.resize(bytes / 2);
      for (size_t i = 0; i < out.size(); ++i) {
        uint32_t u = uint32_t(p[2 * i] | (p[2 * i + 1] << 8)) << 16;
        std::memcpy(&out[i], &u, 4);
      }
    } else if (t.dtype == "F16") {
      out.resize(bytes / 2);
      for (size_t i = 0; i < out.size(); ++i) {
        ggml_fp16_t h;
        std::memcpy(&h, p + 2 * i, 2);
        out[i] = ggml_fp16_to_fp32(h);
      }
    } else {
      die(name + ": dtype " + t.dtype + " not read");
    }
    return out;
  }

private:
  void parse() {
    pos_ = 0;
    expect('{');
    while (true) {
      skipWs();
      if (peek() == '}')
        break;
      std::string name = str();
      expect(':');
      if (name == "__metadata__") {
        skipValue();
      } else {
        StTensor t;
        expect('{');
        while (true) {
          skipWs();
          if (peek() == '}')
            break;
          std::string key = str();
          expect(':');
          if (key == "dtype")
            t.dtype = str();
          else if (key == "shape")
            t.shape = ints();
          else if (key == "data_offsets") {
            auto o = ints();
            t.begin = o.at(0);
            t.end = o.at(1);
          } else
            skipValue();
          skipWs();
          if (peek() == ',')
            ++pos_;
        }
        ++pos_;
        tensors_[name] = t;
      }
      skipWs();
      if (peek() == ',')
        ++pos_;
    }
  }
  char peek() const { return pos_ < header_.size() ? header_[pos_] : '\0'; }
  void skipWs() {
    while (pos_ < header_.size() && std::isspace((unsigned char)header_[pos_]))
      ++pos_;
  }
  void expect(char c) {
    skipWs();
    if (peek() != c)
      die(std::string("safetensors header: expected '") + c + "'");
    ++pos_;
  }
  std::string str() {
    expect('"');
    std::string s;
    while (peek() != '"') {
      if (peek() == '\\')
        ++pos_;
      s += header_[pos_++];
    }
    ++pos_;
    return s;
  }
  std::vector<int64_t> ints() {
    expect('[');
    std::vector<int64_t> v;
    while (true) {
      skipWs();
      if (peek() == ']')
        break;
      size_t used = 0;
      v.push_back(std::stoll(header_.substr(pos_, 24), &used));
      pos_ += used;
      skipWs();
      if (peek() == ',')
        ++pos_;
    }
    ++pos_;
    return v;
  }
  void skipValue() {
    skipWs();
    int depth = 0;
    bool inStr = false;
    for (; pos_ < header_.size(); ++pos_) {
      char c = header_[pos_];
      if (inStr) {
        if (c == '\\')
          ++pos_;
        else if (c == '"')
          inStr = false;
        continue;
      }
      if (c == '"')
        inStr = true;
      else if (c == '{' || c == '[')
        ++depth;
      else if (c == '}' || c == ']') {
        if (depth == 0)
          return;
        if (--depth == 0) {
          ++pos_;
          return;
        }
      } else if (c == ',' && depth == 0)
        return;
    }
  }

  std::string header_;
  size_t pos_ = 0;
  std::vector<uint8_t> data_;
  std::map<std::string, StTensor> tensors_;
};

//===-- the model --------------------------------------------------------===//

struct Layer {
  ggml_tensor *norm, *inProj, *conv, *convB, *xProj = nullptr,
      *dtProj = nullptr, *dtB, *A, *D, *ssmNorm = nullptr, *outProj;
  ggml_tensor *convState, *ssmState;
};

struct Model {
  bool mamba2 = false;
  int64_t vocab, dModel, nLayer, dInner, dState, dConv, dtRank = 0;
  int64_t nHead, headDim, nGroup = 1;
  float eps = 1e-5f;
  ggml_tensor *embd, *normF, *output;
  std::vector<Layer> layers;
  ggml_context *ctx = nullptr;
  ggml_backend_buffer_t buf = nullptr;
  ggml_tensor *stateIds = nullptr; // I32 {1} = 0
};

std::string layerName(int64_t i, const char *leaf) {
  return "backbone.layers." + std::to_string(i) + "." + leaf;
}

/// Creates the model's tensors (no data yet) with their ggml types.
struct Loader {
  const SafeTensors &st;
  ggml_type projType;
  Model &m;
  std::vector<std::pair<ggml_tensor *, std::string>> fill; // tensor, source
  std::vector<std::pair<ggml_tensor *, int>> special;      // 1: A=-exp, 2: ids

  ggml_type typeFor(int64_t rowLen) const {
    if (rowLen % ggml_blck_size(projType) != 0)
      return GGML_TYPE_F16;
    return projType;
  }
  ggml_tensor *proj(const std::string &name) {
    const StTensor &t = st.get(name);
    int64_t rows = t.shape.at(0), cols = t.shape.at(1);
    ggml_tensor *g = ggml_new_tensor_2d(m.ctx, typeFor(cols), cols, rows);
    fill.push_back({g, name});
    return g;
  }
  ggml_tensor *f32(const std::string &name, std::vector<int64_t> ne) {
    ggml_tensor *g = nullptr;
    switch (ne.size()) {
    case 1: g = ggml_new_tensor_1d(m.ctx, GGML_TYPE_F32, ne[0]); break;
    case 2: g = ggml_new_tensor_2d(m.ctx, GGML_TYPE_F32, ne[0], ne[1]); break;
    default: g = ggml_new_tensor_3d(m.ctx, GGML_TYPE_F32, ne[0], ne[1], ne[2]);
    }
    fill.push_back({g, name});
    return g;
  }
};

void loadModel(const std::string &path, ggml_type type, Model &m,
               ggml_backend_t backend) {
  SafeTensors st(path);
  std::string embName = st.has("backbone.embedding.weight")
                            ? "backbone.embedding.weight"
                            : "backbone.embeddings.weight";
  const StTensor &emb = st.get(embName);
  m.vocab = emb.shape.at(0);
  m.dModel = emb.shape.at(1);
  m.nLayer = 0;
  while (st.has(layerName(m.nLayer, "mixer.in_proj.weight")))
    ++m.nLayer;
  m.mamba2 = st.has(layerName(0, "mixer.dt_bias"));
  const StTensor &out = st.get(layerName(0, "mixer.out_proj.weight"));
  m.dInner = out.shape.at(1);
  const StTensor &conv = st.get(layerName(0, "mixer.conv1d.weight"));
  m.dConv = conv.shape.at(2);
  if (m.mamba2) {
    m.nHead = st.get(layerName(0, "mixer.A_log")).shape.at(0);
    m.headDim = m.dInner / m.nHead;
    m.dState = (conv.shape.at(0) - m.dInner) / (2 * m.nGroup);
  } else {
    m.dState = st.get(layerName(0, "mixer.A_log")).shape.at(1);
    m.dtRank = st.get(layerName(0, "mixer.dt_proj.weight")).shape.at(1);
    m.nHead = m.dInner;
    m.headDim = 1;
  }
  int64_t convCh = m.mamba2 ? m.dInner + 2 * m.nGroup * m.dState : m.dInner;

  size_t nTensors = 16 * (m.nLayer + 1);
  ggml_init_params ip = {ggml_tensor_overhead() * nTensors, nullptr, true};
  m.ctx = ggml_init(ip);
  Loader L{st, type, m, {}, {}};
  // The LM head is the embedding (tied) unless lm_head.weight exists; both
  // are stored at the projection type, as llama.cpp's token_embd/output.
  m.embd = L.proj(embName);
  m.output = st.has("lm_head.weight") ? L.proj("lm_head.weight") : m.embd;
  m.normF = L.f32("backbone.norm_f.weight", {m.dModel});
  for (int64_t i = 0; i < m.nLayer; ++i) {
    Layer l;
    auto n = [&](const char *leaf) { return layerName(i, leaf); };
    l.norm = L.f32(n("norm.weight"), {m.dModel});
    l.inProj = L.proj(n("mixer.in_proj.weight"));
    l.conv = L.f32(n("mixer.conv1d.weight"), {m.dConv, convCh});
    l.convB = L.f32(n("mixer.conv1d.bias"), {convCh});
    if (m.mamba2) {
      l.dtB = L.f32(n("mixer.dt_bias"), {m.nHead});
      l.A = L.f32(n("mixer.A_log"), {1, m.nHead});
      l.D = L.f32(n("mixer.D"), {1, m.nHead});
      l.ssmNorm =
          L.f32(n("mixer.norm.weight"), {m.dInner / m.nGroup, m.nGroup});
    } else {
      l.xProj = L.proj(n("mixer.x_proj.weight"));
      l.dtProj = L.proj(n("mixer.dt_proj.weight"));
      l.dtB = L.f32(n("mixer.dt_proj.bias"), {m.dInner});
      l.A = L.f32(n("mixer.A_log"), {m.dState, m.dInner});
      l.D = L.f32(n("mixer.D"), {m.dInner});
    }
    L.special.push_back({l.A, 1});
    l.outProj = L.proj(n("mixer.out_proj.weight"));
    l.convState = ggml_new_tensor_3d(m.ctx, GGML_TYPE_F32, m.dConv - 1,
                                     convCh, 1);
    l.ssmState = ggml_new_tensor_4d(m.ctx, GGML_TYPE_F32, m.dState,
                                    m.headDim, m.nHead, 1);
    m.layers.push_back(l);
  }
  m.stateIds = ggml_new_tensor_1d(m.ctx, GGML_TYPE_I32, 1);
  m.buf = ggml_backend_alloc_ctx_tensors(m.ctx, backend);
  if (!m.buf)
    die("cannot allocate the weights");
  ggml_backend_buffer_clear(m.buf, 0); // zero states, ids = 0

  std::map<ggml_tensor *, int> kind(L.special.begin(), L.special.end());
  std::map<ggml_tensor *, bool> done;
  for (auto &[g, name] : L.fill) {
    if (done[g])
      continue;
    done[g] = true;
    std::vector<float> v = st.floats(name);
    if ((int64_t)v.size() != ggml_nelements(g))
      die(name + ": unexpected size");
    if (kind[g] == 1) // A = -exp(A_log), as llama.cpp's converter stores it
      for (float &a : v)
        a = -std::exp(a);
    if (g->type == GGML_TYPE_F32) {
      ggml_backend_tensor_set(g, v.data(), 0, ggml_nbytes(g));
      continue;
    }
    std::vector<uint8_t> q(ggml_nbytes(g));
    ggml_quantize_chunk(g->type, v.data(), q.data(), 0, g->ne[1], g->ne[0],
                        nullptr);
    ggml_backend_tensor_set(g, q.data(), 0, q.size());
  }
}

/// One Mamba-1 mixer over `cur` {d_model, T} (llama.cpp build_mamba_layer
/// with one sequence).
ggml_tensor *mambaLayer(ggml_context *ctx, ggml_cgraph *gf, const Model &m,
                        const Layer &l, ggml_tensor *cur, int64_t T) {
  const int64_t dConv = m.dConv, dInner = m.dInner, dState = m.dState;
  ggml_tensor *conv = l.convState; // {d_conv - 1, d_inner, 1}
  cur = ggml_reshape_3d(ctx, cur, cur->ne[0], T, 1);
  ggml_tensor *xz = ggml_mul_mat(ctx, l.inProj, cur);
  ggml_tensor *x = ggml_view_3d(ctx, xz, dInner, xz->ne[1], xz->ne[2],
                                xz->nb[1], xz->nb[2], 0);
  ggml_tensor *z = ggml_view_3d(ctx, xz, dInner, xz->ne[1], xz->ne[2],
                                xz->nb[1], xz->nb[2],
                                dInner * ggml_element_size(xz));
  {
    ggml_tensor *convX = ggml_concat(ctx, conv, ggml_transpose(ctx, x), 0);
    ggml_tensor *last =
        ggml_view_3d(ctx, convX, dConv - 1, dInner, 1, convX->nb[1],
                     convX->nb[2], T * convX->nb[0]);
    ggml_build_forward_expand(gf, ggml_cpy(ctx, last, l.convState));
    x = ggml_ssm_conv(ctx, convX, l.conv);
    x = ggml_add(ctx, x, l.convB);
    x = ggml_silu(ctx, x);
  }
  ggml_tensor *xDb = ggml_mul_mat(ctx, l.xProj, x);
  ggml_tensor *dt = ggml_view_3d(ctx, xDb, m.dtRank, T, 1, xDb->nb[1],
                                 xDb->nb[2], 0);
  ggml_tensor *B = ggml_view_4d(ctx, xDb, dState, 1, T, 1,
                                dState * xDb->nb[0], xDb->nb[1], xDb->nb[2],
                                ggml_element_size(xDb) * m.dtRank);
  ggml_tensor *C =
      ggml_view_4d(ctx, xDb, dState, 1, T, 1, dState * xDb->nb[0],
                   xDb->nb[1], xDb->nb[2],
                   ggml_element_size(xDb) * (m.dtRank + dState));
  dt = ggml_mul_mat(ctx, l.dtProj, dt);
  dt = ggml_add(ctx, dt, l.dtB);
  ggml_tensor *xc = x;
  x = ggml_reshape_4d(ctx, x, 1, dInner, T, 1);
  ggml_tensor *yS =
      ggml_ssm_scan(ctx, l.ssmState, x, dt, l.A, B, C, m.stateIds, 1);
  ggml_build_forward_expand(
      gf, ggml_cpy(ctx,
                   ggml_view_1d(ctx, yS, dState * dInner,
                                x->nb[3] * x->ne[3]),
                   ggml_view_1d(ctx, l.ssmState, dState * dInner, 0)));
  ggml_tensor *y =
      ggml_view_3d(ctx, yS, dInner, T, 1, x->nb[2], x->nb[3], 0);
  y = ggml_add(ctx, y, ggml_mul(ctx, xc, l.D));
  y = ggml_swiglu_split(ctx, ggml_cont(ctx, z), y);
  cur = ggml_mul_mat(ctx, l.outProj, y);
  return ggml_reshape_2d(ctx, cur, cur->ne[0], T);
}

/// One Mamba-2 mixer (llama.cpp build_mamba2_layer with one sequence).
ggml_tensor *mamba2Layer(ggml_context *ctx, ggml_cgraph *gf, const Model &m,
                         const Layer &l, ggml_tensor *cur, int64_t T) {
  const int64_t dConv = m.dConv, dInner = m.dInner, dState = m.dState;
  const int64_t nHead = m.nHead, headDim = m.headDim, nGroup = m.nGroup;
  const int64_t ch = dInner + 2 * nGroup * dState;
  cur = ggml_reshape_3d(ctx, cur, cur->ne[0], T, 1);
  ggml_tensor *zx = ggml_mul_mat(ctx, l.inProj, cur);
  ggml_tensor *z = ggml_view_4d(ctx, zx, headDim, nHead, T, 1,
                                headDim * zx->nb[0], zx->nb[1], zx->nb[2], 0);
  ggml_tensor *xBC = ggml_view_3d(ctx, zx, ch, T, 1, zx->nb[1], zx->nb[2],
                                  dInner * ggml_element_size(zx));
  ggml_tensor *dt = ggml_view_3d(ctx, zx, nHead, T, 1, zx->nb[1], zx->nb[2],
                                 (2 * dInner + 2 * nGroup * dState) *
                                     ggml_element_size(zx));
  {
    ggml_tensor *convX =
        ggml_concat(ctx, l.convState, ggml_transpose(ctx, xBC), 0);
    ggml_tensor *last = ggml_view_3d(ctx, convX, dConv - 1, ch, 1,
                                     convX->nb[1], convX->nb[2],
                                     T * convX->nb[0]);
    ggml_build_forward_expand(gf, ggml_cpy(ctx, last, l.convState));
    xBC = ggml_ssm_conv(ctx, convX, l.conv);
    xBC = ggml_add(ctx, xBC, l.convB);
    xBC = ggml_silu(ctx, xBC);
  }
  ggml_tensor *x = ggml_view_4d(ctx, xBC, headDim, nHead, T, 1,
                                headDim * xBC->nb[0], xBC->nb[1], xBC->nb[2],
                                0);
  ggml_tensor *B = ggml_view_4d(ctx, xBC, dState, nGroup, T, 1,
                                dState * xBC->nb[0], xBC->nb[1], xBC->nb[2],
                                dInner * ggml_element_size(xBC));
  ggml_tensor *C = ggml_view_4d(ctx, xBC, dState, nGroup, T, 1,
                                dState * xBC->nb[0], xBC->nb[1], xBC->nb[2],
                                (dInner + nGroup * dState) *
                                    ggml_element_size(xBC));
  dt = ggml_add(ctx, ggml_cont(ctx, dt), l.dtB);
  ggml_tensor *yS =
      ggml_ssm_scan(ctx, l.ssmState, x, dt, l.A, B, C, m.stateIds, 1);
  ggml_build_forward_expand(
      gf, ggml_cpy(ctx,
                   ggml_view_1d(ctx, yS, dState * dInner,
                                ggml_nelements(x) * x->nb[0]),
                   ggml_view_1d(ctx, l.ssmState, dState * dInner, 0)));
  ggml_tensor *y = ggml_view_4d(ctx, yS, headDim, nHead, T, 1, x->nb[1],
                                nHead * x->nb[1], T * nHead * x->nb[1], 0);
  y = ggml_add(ctx, y, ggml_mul(ctx, x, l.D));
  y = ggml_swiglu_split(ctx, ggml_cont(ctx, z), y);
  y = ggml_reshape_4d(ctx, y, dInner / nGroup, nGroup, T, 1);
  y = ggml_mul(ctx, ggml_rms_norm(ctx, y, m.eps), l.ssmNorm);
  y = ggml_reshape_3d(ctx, y, dInner, T, 1);
  cur = ggml_mul_mat(ctx, l.outProj, y);
  return ggml_reshape_2d(ctx, cur, cur->ne[0], T);
}

/// Runs `tokens` through the model (advancing its states) and returns the
/// logits after the last one.
class Runner {
public:
  Runner(Model &m, ggml_backend_t backend) : m_(m), backend_(backend) {
    alloc_ = ggml_gallocr_new(ggml_backend_get_default_buffer_type(backend));
    size_t nodes = 64 * (m.nLayer + 2);
    meta_.resize(ggml_tensor_overhead() * nodes +
                 ggml_graph_overhead_custom(nodes, false));
  }
  ~Runner() { ggml_gallocr_free(alloc_); }

  std::vector<float> eval(const std::vector<int32_t> &tokens) {
    const int64_t T = tokens.size();
    size_t nodes = 64 * (m_.nLayer + 2);
    ggml_init_params ip = {meta_.size(), meta_.data(), true};
    ggml_context *ctx = ggml_init(ip);
    ggml_cgraph *gf = ggml_new_graph_custom(ctx, nodes, false);
    ggml_tensor *ids = ggml_new_tensor_1d(ctx, GGML_TYPE_I32, T);
    ggml_set_input(ids);
    ggml_tensor *inpL = ggml_get_rows(ctx, m_.embd, ids);
    for (const Layer &l : m_.layers) {
      ggml_tensor *cur =
          ggml_mul(ctx, ggml_rms_norm(ctx, inpL, m_.eps), l.norm);
      cur = m_.mamba2 ? mamba2Layer(ctx, gf, m_, l, cur, T)
                      : mambaLayer(ctx, gf, m_, l, cur, T);
      inpL = ggml_add(ctx, cur, inpL);
    }
    // Logits of the last token only (llama.cpp's inp_out_ids).
    ggml_tensor *last = ggml_view_2d(ctx, inpL, m_.dModel, 1, inpL->nb[1],
                                     (T - 1) * inpL->nb[1]);
    ggml_tensor *cur =
        ggml_mul(ctx, ggml_rms_norm(ctx, last, m_.eps), m_.normF);
    ggml_tensor *logits = ggml_mul_mat(ctx, m_.output, cur);
    ggml_set_output(logits);
    ggml_build_forward_expand(gf, logits);
    if (!ggml_gallocr_alloc_graph(alloc_, gf))
      die("cannot allocate the graph");
    ggml_backend_tensor_set(ids, tokens.data(), 0, T * sizeof(int32_t));
    if (ggml_backend_graph_compute(backend_, gf) != GGML_STATUS_SUCCESS)
      die("graph compute failed");
    std::vector<float> out(m_.vocab);
    ggml_backend_tensor_get(logits, out.data(), 0, out.size() * 4);
    ggml_free(ctx);
    return out;
  }

private:
  Model &m_;
  ggml_backend_t backend_;
  ggml_gallocr_t alloc_;
  std::vector<uint8_t> meta_;
};

int64_t argmax(const std::vector<float> &v) {
  return std::max_element(v.begin(), v.end()) - v.begin();
}

ggml_type parseType(const std::string &s) {
  if (s == "f32")
    return GGML_TYPE_F32;
  if (s == "f16")
    return GGML_TYPE_F16;
  if (s == "bf16")
    return GGML_TYPE_BF16;
  if (s == "q8_0")
    return GGML_TYPE_Q8_0;
  if (s == "q4_0")
    return GGML_TYPE_Q4_0;
  die("--type takes f32, f16, bf16, q8_0 or q4_0, got " + s);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2)
    die("usage: mamba_graph MODEL.safetensors --type T --threads N "
        "--prompt IDS --new-tokens G [--n-groups G] [--eps E] "
        "[--logits-out FILE] [--ref-logits FILE]");
  std::string path = argv[1], typeName = "f32", logitsOut, refLogits;
  int threads = 1;
  int64_t newTokens = 16, nGroups = 1;
  float eps = 1e-5f;
  std::vector<int32_t> prompt;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc)
      die(a + " takes a value");
    std::string v = argv[++i];
    if (a == "--type")
      typeName = v;
    else if (a == "--threads")
      threads = std::atoi(v.c_str());
    else if (a == "--new-tokens")
      newTokens = std::atoll(v.c_str());
    else if (a == "--n-groups")
      nGroups = std::atoll(v.c_str());
    else if (a == "--eps")
      eps = std::atof(v.c_str());
    else if (a == "--logits-out")
      logitsOut = v;
    else if (a == "--ref-logits")
      refLogits = v;
    else if (a == "--prompt") {
      size_t p = 0;
      while (p < v.size()) {
        size_t q = v.find(',', p);
        if (q == std::string::npos)
          q = v.size();
        prompt.push_back(std::atoi(v.substr(p, q - p).c_str()));
        p = q + 1;
      }
    } else
      die("unknown option " + a);
  }
  if (prompt.empty())
    die("--prompt is empty");
  if (threads < 1 || newTokens < 1)
    die("--threads and --new-tokens take counts >= 1");

  ggml_backend_t backend = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(backend, threads);
  Model m;
  m.nGroup = nGroups;
  m.eps = eps;
  auto t0 = std::chrono::steady_clock::now();
  loadModel(path, parseType(typeName), m, backend);
  double loadS = std::chrono::duration<double>(
                     std::chrono::steady_clock::now() - t0)
                     .count();
  Runner run(m, backend);

  auto t1 = std::chrono::steady_clock::now();
  std::vector<float> logits = run.eval(prompt);
  auto t2 = std::chrono::steady_clock::now();
  std::vector<float> first = logits;
  std::vector<int64_t> out{argmax(logits)};
  for (int64_t s = 1; s < newTokens; ++s) {
    logits = run.eval({int32_t(out.back())});
    out.push_back(argmax(logits));
  }
  auto t3 = std::chrono::steady_clock::now();
  double prefillS = std::chrono::duration<double>(t2 - t1).count();
  double decodeS = std::chrono::duration<double>(t3 - t2).count();

  if (!logitsOut.empty()) {
    FILE *f = std::fopen(logitsOut.c_str(), "wb");
    if (!f || std::fwrite(first.data(), 4, first.size(), f) != first.size())
      die("cannot write " + logitsOut);
    std::fclose(f);
  }
  std::printf("{\"model\": \"%s\", \"type\": \"%s\", \"threads\": %d, "
              "\"prompt_tokens\": %zu, \"decode_steps\": %lld, "
              "\"load_s\": %.3f, \"prefill_s\": %.4f, \"decode_s\": %.4f, "
              "\"prefill_tok_per_s\": %.2f, \"decode_tok_per_s\": %.3f",
              m.mamba2 ? "mamba2" : "mamba", typeName.c_str(), threads,
              prompt.size(), (long long)(newTokens - 1), loadS, prefillS,
              decodeS, prompt.size() / prefillS,
              newTokens > 1 ? (newTokens - 1) / decodeS : 0.0);
  if (!refLogits.empty()) {
    std::vector<float> ref(first.size());
    FILE *f = std::fopen(refLogits.c_str(), "rb");
    // A .npy file (ssmc-generate --logits): skip its header (magic, version,
    // little-endian header length: 2 bytes in version 1, 4 after).
    unsigned char magic[12] = {0};
    if (f && std::fread(magic, 1, 10, f) == 10 &&
        std::memcmp(magic, "\x93NUMPY", 6) == 0) {
      long len = magic[8] | (magic[9] << 8), start = 10;
      if (magic[6] >= 2 && std::fread(magic + 10, 1, 2, f) == 2) {
        len |= (long)magic[10] << 16 | (long)magic[11] << 24;
        start = 12;
      }
      std::fseek(f, start + len, SEEK_SET);
    } else if (f) {
      std::rewind(f);
    }
    if (!f || std::fread(ref.data(), 4, ref.size(), f) != ref.size())
      die("cannot read " + std::to_string(ref.size()) + " logits from " +
          refLogits);
    std::fclose(f);
    double maxErr = 0, maxRef = 0;
    for (size_t i = 0; i < ref.size(); ++i) {
      maxErr = std::max(maxErr, (double)std::fabs(first[i] - ref[i]));
      maxRef = std::max(maxRef, (double)std::fabs(ref[i]));
    }
    std::printf(", \"logit_max_abs_err\": %.6g, \"logit_rel_err\": %.6g, "
                "\"top1_match\": %s",
                maxErr, maxErr / std::max(maxRef, 1e-30),
                argmax(first) == argmax(ref) ? "true" : "false");
  }
  std::printf(", \"tokens\": [");
  for (size_t i = 0; i < out.size(); ++i)
    std::printf("%s%lld", i ? ", " : "", (long long)out[i]);
  std::printf("]}\n");
  ggml_backend_buffer_free(m.buf);
  ggml_free(m.ctx);
  ggml_backend_free(backend);
  return 0;
}
