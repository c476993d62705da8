//===- ModelReference.h - a double-precision Mamba forward pass -*- C++ -*-===//
//
// The forward passes of mamba_ssm checkpoints (Mamba-1 and Mamba-2) and of
// a Llama-layout Transformer, written as plain loops in
// double precision over the checkpoint's own tensors (token-major, one layer
// at a time, the scan run step by step): independent of the ssm program's
// stacking, channel-major layout and fused ops, so tests that compare the
// compiled model against it check the compiler and the weight loader.
//
//===----------------------------------------------------------------------===//

#ifndef SSMC_MODELREFERENCE_H
#define SSMC_MODELREFERENCE_H

#include "ssmc/Tensor.h"

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace ssmc::ref {

namespace detail {
inline std::vector<double> asDoubles(const OwnedTensor &t) {
  std::vector<double> v(t.numel());
  for (int64_t i = 0; i < t.numel(); ++i)
    v[i] = t.getAsDouble(i);
  return v;
}
inline double softplus(double x) {
  return x > 20 ? x : std::log1p(std::exp(x));
}
inline double silu(double x) { return x / (1 + std::exp(-x)); }
/// x * w / rms(x)
inline void rmsnorm(std::vector<double> &x, const std::vector<double> &w,
                    double eps) {
  double ss = 0;
  for (double v : x)
    ss += v * v;
  double r = 1 / std::sqrt(ss / x.size() + eps);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] *= r * w[i];
}
/// Rows of the embedding `embName` for `tokens`: the residual stream [L][Dm].
inline std::vector<std::vector<double>>
embed(const std::map<std::string, OwnedTensor> &w, const std::string &embName,
      const std::vector<int64_t> &tokens) {
  const OwnedTensor &e = w.at(embName);
  const int64_t Dm = e.shape()[1];
  std::vector<std::vector<double>> h(tokens.size(), std::vector<double>(Dm));
  for (size_t l = 0; l < tokens.size(); ++l)
    for (int64_t d = 0; d < Dm; ++d)
      h[l][d] = e.getAsDouble(tokens[l] * Dm + d);
  return h;
}

/// Final RMSNorm (`normName`) and the head: lm_head.weight when present,
/// else the embedding `embName` (tied).
inline std::vector<std::vector<double>>
headLogits(const std::map<std::string, OwnedTensor> &w,
           std::vector<std::vector<double>> h, const std::string &normName,
           const std::string &embName, double eps) {
  std::vector<double> normF = asDoubles(w.at(normName));
  const OwnedTensor &headT =
      w.count("lm_head.weight") ? w.at("lm_head.weight") : w.at(embName);
  std::vector<double> head = asDoubles(headT);
  const int64_t V = headT.shape()[0], Dm = headT.shape()[1];
  std::vector<std::vector<double>> logits(h.size(), std::vector<double>(V));
  for (size_t l = 0; l < h.size(); ++l) {
    rmsnorm(h[l], normF, eps);
    for (int64_t v = 0; v < V; ++v) {
      double s = 0;
      for (int64_t d = 0; d < Dm; ++d)
        s += head[v * Dm + d] * h[l][d];
      logits[l][v] = s;
    }
  }
  return logits;
}

inline std::string mambaEmbeddingName(const std::map<std::string, OwnedTensor> &w) {
  return w.count("backbone.embedding.weight") ? "backbone.embedding.weight"
                                              : "backbone.embeddings.weight";
}
} // namespace detail

/// Logits [L][vocab] of a Mamba-1 checkpoint (mamba_ssm names, embedding
/// under `embedding` or `embeddings`, tied lm_head unless lm_head.weight is
/// present) on `tokens`.
inline std::vector<std::vector<double>>
mamba1Logits(const std::map<std::string, OwnedTensor> &w,
             const std::vector<int64_t> &tokens, double eps = 1e-5) {
  using namespace detail;
  auto get = [&](const std::string &n) { return asDoubles(w.at(n)); };
  const std::string embName = mambaEmbeddingName(w);
  const int64_t Dm = w.at(embName).shape()[1];
  const int64_t L = tokens.size();
  std::vector<std::vector<double>> h = embed(w, embName, tokens);

  for (int64_t layer = 0;; ++layer) {
    std::string p = "backbone.layers." + std::to_string(layer) + ".";
    if (!w.count(p + "mixer.in_proj.weight"))
      break;
    const int64_t E = w.at(p + "mixer.out_proj.weight").shape()[1];
    const int64_t N = w.at(p + "mixer.A_log").shape()[1];
    const int64_t R = w.at(p + "mixer.dt_proj.weight").shape()[1];
    const int64_t W = w.at(p + "mixer.conv1d.weight").shape()[2];
    auto normW = get(p + "norm.weight"), inProj = get(p + "mixer.in_proj.weight"),
         convW = get(p + "mixer.conv1d.weight"),
         convB = get(p + "mixer.conv1d.bias"),
         xProj = get(p + "mixer.x_proj.weight"),
         dtW = get(p + "mixer.dt_proj.weight"),
         dtB = get(p + "mixer.dt_proj.bias"), aLog = get(p + "mixer.A_log"),
         Dv = get(p + "mixer.D"), outProj = get(p + "mixer.out_proj.weight");
    // in_proj of the normed residual stream, token-major.
    std::vector<std::vector<double>> x(L, std::vector<double>(E)),
        z(L, std::vector<double>(E));
    for (int64_t l = 0; l < L; ++l) {
      std::vector<double> xn = h[l];
      rmsnorm(xn, normW, eps);
      for (int64_t o = 0; o < 2 * E; ++o) {
        double s = 0;
        for (int64_t k = 0; k < Dm; ++k)
          s += inProj[o * Dm + k] * xn[k];
        (o < E ? x[l][o] : z[l][o - E]) = s;
      }
    }
    std::vector<std::vector<double>> hs(E, std::vector<double>(N, 0.0));
    for (int64_t l = 0; l < L; ++l) {
      std::vector<double> xc(E);
      for (int64_t c = 0; c < E; ++c) {
        double s = convB[c];
        for (int64_t j = 0; j < W; ++j) {
          int64_t t = l - (W - 1) + j;
          if (t >= 0)
            s += convW[c * W + j] * x[t][c];
        }
        xc[c] = silu(s);
      }
      std::vector<double> dbl(R + 2 * N);
      for (int64_t r = 0; r < R + 2 * N; ++r) {
        double s = 0;
        for (int64_t c = 0; c < E; ++c)
          s += xProj[r * E + c] * xc[c];
        dbl[r] = s;
      }
      std::vector<double> y(E);
      for (int64_t c = 0; c < E; ++c) {
        double d = dtB[c];
        for (int64_t r = 0; r < R; ++r)
          d += dtW[c * R + r] * dbl[r];
        d = softplus(d);
        double yc = Dv[c] * xc[c];
        for (int64_t n = 0; n < N; ++n) {
          double A = -std::exp(aLog[c * N + n]);
          hs[c][n] = std::exp(d * A) * hs[c][n] + d * dbl[R + n] * xc[c];
          yc += dbl[R + N + n] * hs[c][n];
        }
        y[c] = yc * silu(z[l][c]);
      }
      for (int64_t m = 0; m < Dm; ++m) {
        double s = 0;
        for (int64_t c = 0; c < E; ++c)
          s += outProj[m * E + c] * y[c];
        h[l][m] += s;
      }
    }
  }
  return headLogits(w, std::move(h), "backbone.norm_f.weight", embName, eps);
}

/// Logits [L][vocab] of a Mamba-2 checkpoint (mamba_ssm `Mamba2` with the
/// gated RMSNorm, D per head, `nGroups` groups of B and C) on `tokens`.
inline std::vector<std::vector<double>>
mamba2Logits(const std::map<std::string, OwnedTensor> &w,
             const std::vector<int64_t> &tokens, int64_t nGroups = 1,
             double eps = 1e-5) {
  using namespace detail;
  auto get = [&](const std::string &n) { return asDoubles(w.at(n)); };
  const std::string embName = mambaEmbeddingName(w);
  const int64_t Dm = w.at(embName).shape()[1];
  const int64_t L = tokens.size();
  std::vector<std::vector<double>> h = embed(w, embName, tokens);

  for (int64_t layer = 0;; ++layer) {
    std::string p = "backbone.layers." + std::to_string(layer) + ".";
    if (!w.count(p + "mixer.in_proj.weight"))
      break;
    const int64_t E = w.at(p + "mixer.out_proj.weight").shape()[1];
    const int64_t H = w.at(p + "mixer.A_log").shape()[0];
    const int64_t P = E / H;
    const int64_t CD = w.at(p + "mixer.conv1d.weight").shape()[0];
    const int64_t W = w.at(p + "mixer.conv1d.weight").shape()[2];
    const int64_t G = nGroups, N = (CD - E) / 2 / G;
    const int64_t rows = w.at(p + "mixer.in_proj.weight").shape()[0];
    auto normW = get(p + "norm.weight"), inProj = get(p + "mixer.in_proj.weight"),
         convW = get(p + "mixer.conv1d.weight"),
         convB = get(p + "mixer.conv1d.bias"), dtBias = get(p + "mixer.dt_bias"),
         aLog = get(p + "mixer.A_log"), Dv = get(p + "mixer.D"),
         gateW = get(p + "mixer.norm.weight"),
         outProj = get(p + "mixer.out_proj.weight");
    std::vector<std::vector<double>> proj(L, std::vector<double>(rows));
    for (int64_t l = 0; l < L; ++l) {
      std::vector<double> xn = h[l];
      rmsnorm(xn, normW, eps);
      for (int64_t o = 0; o < rows; ++o) {
        double s = 0;
        for (int64_t k = 0; k < Dm; ++k)
          s += inProj[o * Dm + k] * xn[k];
        proj[l][o] = s;
      }
    }
    // state[head][p][n]
    std::vector<double> state(H * P * N, 0.0);
    for (int64_t l = 0; l < L; ++l) {
      // Causal conv over the x, B, C channels (rows [E, E + CD)).
      std::vector<double> xc(CD);
      for (int64_t c = 0; c < CD; ++c) {
        double s = convB[c];
        for (int64_t j = 0; j < W; ++j) {
          int64_t t = l - (W - 1) + j;
          if (t >= 0)
            s += convW[c * W + j] * proj[t][E + c];
        }
        xc[c] = silu(s);
      }
      const double *x = xc.data(), *B = x + E, *C = B + G * N;
      std::vector<double> y(E);
      for (int64_t hd = 0; hd < H; ++hd) {
        int64_t g = hd / (H / G);
        double dt = softplus(proj[l][E + CD + hd] + dtBias[hd]);
        double decay = std::exp(-dt * std::exp(aLog[hd]));
        for (int64_t pp = 0; pp < P; ++pp) {
          double xv = x[hd * P + pp], acc = Dv[hd] * xv;
          for (int64_t n = 0; n < N; ++n) {
            double &s = state[(hd * P + pp) * N + n];
            s = decay * s + dt * xv * B[g * N + n];
            acc += C[g * N + n] * s;
          }
          y[hd * P + pp] = acc;
        }
      }
      // Gate, then RMS-normalise each group of E / G channels.
      for (int64_t c = 0; c < E; ++c)
        y[c] *= silu(proj[l][c]);
      int64_t S = E / G;
      for (int64_t g = 0; g < G; ++g) {
        double ss = 0;
        for (int64_t c = g * S; c < (g + 1) * S; ++c)
          ss += y[c] * y[c];
        double r = 1 / std::sqrt(ss / S + eps);
        for (int64_t c = g * S; c < (g + 1) * S; ++c)
          y[c] *= r * gateW[c];
      }
      for (int64_t m = 0; m < Dm; ++m) {
        double s = 0;
        for (int64_t c = 0; c < E; ++c)
          s += outProj[m * E + c] * y[c];
        h[l][m] += s;
      }
    }
  }
  return headLogits(w, std::move(h), "backbone.norm_f.weight", embName, eps);
}

/// Logits [L][vocab] of a Llama-layout Transformer checkpoint (RMSNorm, RoPE
/// with the rotate-half pairing, grouped-query causal attention, SwiGLU) on
/// `tokens`, with `heads` query heads and `kvHeads` KV heads.
inline std::vector<std::vector<double>>
transformerLogits(const std::map<std::string, OwnedTensor> &w,
                  const std::vector<int64_t> &tokens, int64_t heads,
                  int64_t kvHeads, double ropeTheta = 10000.0,
                  double eps = 1e-5) {
  using namespace detail;
  auto get = [&](const std::string &n) { return asDoubles(w.at(n)); };
  const std::string embName = "model.embed_tokens.weight";
  const int64_t Dm = w.at(embName).shape()[1];
  const int64_t L = tokens.size();
  std::vector<std::vector<double>> h = embed(w, embName, tokens);
  auto matvec = [](const std::vector<double> &W, const std::vector<double> &x,
                   int64_t rows) {
    int64_t cols = x.size();
    std::vector<double> y(rows, 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c)
        y[r] += W[r * cols + c] * x[c];
    return y;
  };
  for (int64_t layer = 0;; ++layer) {
    std::string p = "model.layers." + std::to_string(layer) + ".";
    if (!w.count(p + "self_attn.q_proj.weight"))
      break;
    const int64_t q = w.at(p + "self_attn.q_proj.weight").shape()[0];
    const int64_t d = q / heads, kv = kvHeads * d;
    const int64_t F = w.at(p + "mlp.gate_proj.weight").shape()[0];
    auto inNorm = get(p + "input_layernorm.weight"),
         postNorm = get(p + "post_attention_layernorm.weight"),
         Wq = get(p + "self_attn.q_proj.weight"),
         Wk = get(p + "self_attn.k_proj.weight"),
         Wv = get(p + "self_attn.v_proj.weight"),
         Wo = get(p + "self_attn.o_proj.weight"),
         Wg = get(p + "mlp.gate_proj.weight"), Wu = get(p + "mlp.up_proj.weight"),
         Wd = get(p + "mlp.down_proj.weight");
    auto rope = [&](std::vector<double> &x, int64_t nHeads, int64_t pos) {
      for (int64_t hd = 0; hd < nHeads; ++hd)
        for (int64_t i = 0; i < d / 2; ++i) {
          double ang = pos * std::pow(ropeTheta, -2.0 * i / d);
          double a = x[hd * d + i], b = x[hd * d + i + d / 2];
          x[hd * d + i] = a * std::cos(ang) - b * std::sin(ang);
          x[hd * d + i + d / 2] = b * std::cos(ang) + a * std::sin(ang);
        }
    };
    std::vector<std::vector<double>> Q(L), K(L), Vv(L);
    for (int64_t l = 0; l < L; ++l) {
      std::vector<double> xn = h[l];
      rmsnorm(xn, inNorm, eps);
      Q[l] = matvec(Wq, xn, q);
      K[l] = matvec(Wk, xn, kv);
      Vv[l] = matvec(Wv, xn, kv);
      rope(Q[l], heads, l);
      rope(K[l], kvHeads, l);
    }
    for (int64_t l = 0; l < L; ++l) {
      std::vector<double> o(q, 0.0);
      for (int64_t hd = 0; hd < heads; ++hd) {
        int64_t g = hd / (heads / kvHeads);
        std::vector<double> s(l + 1);
        double top = -INFINITY;
        for (int64_t j = 0; j <= l; ++j) {
          double dot = 0;
          for (int64_t i = 0; i < d; ++i)
            dot += Q[l][hd * d + i] * K[j][g * d + i];
          s[j] = dot / std::sqrt(double(d));
          top = std::max(top, s[j]);
        }
        double sum = 0;
        for (int64_t j = 0; j <= l; ++j)
          sum += s[j] = std::exp(s[j] - top);
        for (int64_t j = 0; j <= l; ++j)
          for (int64_t i = 0; i < d; ++i)
            o[hd * d + i] += s[j] / sum * Vv[j][g * d + i];
      }
      std::vector<double> attn = matvec(Wo, o, Dm);
      for (int64_t m = 0; m < Dm; ++m)
        h[l][m] += attn[m];
      std::vector<double> xn = h[l];
      rmsnorm(xn, postNorm, eps);
      std::vector<double> g = matvec(Wg, xn, F), u = matvec(Wu, xn, F);
      for (int64_t f = 0; f < F; ++f)
        g[f] = silu(g[f]) * u[f];
      std::vector<double> down = matvec(Wd, g, Dm);
      for (int64_t m = 0; m < Dm; ++m)
        h[l][m] += down[m];
    }
  }
  return headLogits(w, std::move(h), "model.norm.weight", embName, eps);
}

} // namespace ssmc::ref

#endif // SSMC_MODELREFERENCE_H
