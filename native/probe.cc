// Float64 kernels of the evaluation on the addon's OpenMP threads: the linear probe's objective
// (mean softmax cross-entropy + l2/2 |W|^2 and its gradient), which the L-BFGS fit of
// src/evaluation/linear-probe.ts evaluates a few hundred times per fit. Same formulas as
// logisticLossAndGradient there; sums are reassociated (vectorised, per-thread partials added in
// thread order), so results agree with it to rounding, not bit for bit.
#include <node_api.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "napi-typed.h"
#include "signals.h"

namespace {


__attribute__((target_clones("avx512f", "avx2", "default"))) void lossRows(const double *w, const double *z, const int32_t *y,
                                                                          int64_t i0, int64_t i1, int64_t d, int64_t C, double invN,
                                                                          double *grad, double *loss, double *logits) {
  const int64_t D = d + 1;
  double acc = 0;
  for (int64_t i = i0; i < i1; i++) {
    const double *__restrict zi = z + i * d;
    double mx = -INFINITY;
    for (int64_t c = 0; c < C; c++) {
      const double *__restrict wc = w + c * D;
      double s = 0;
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < d; j++) s += wc[j] * zi[j];
      s += wc[d];
      logits[c] = s;
      mx = std::max(mx, s);
    }
    double sum = 0;
    for (int64_t c = 0; c < C; c++) sum += std::exp(logits[c] - mx);
    const double lse = mx + std::log(sum);
    acc += lse - logits[y[i]];
    for (int64_t c = 0; c < C; c++) {
      const double g = (std::exp(logits[c] - lse) - (c == y[i] ? 1.0 : 0.0)) * invN;
      double *__restrict gc = grad + c * D;
#pragma omp simd
      for (int64_t j = 0; j < d; j++) gc[j] += g * zi[j];
      gc[d] += g;
    }
  }
  *loss = acc;
}

// logisticLoss(w [C (d+1)], z [n d], y Int32Array [n], grad [C (d+1)], params [n, d, C, l2]) -> loss
napi_value LogisticLoss(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value v[5];
  if (napi_get_cb_info(env, info, &argc, v, nullptr, nullptr) != napi_ok || argc < 5) {
    napi_throw_type_error(env, nullptr, "logisticLoss(w, z, y, grad, params)");
    return nullptr;
  }
  size_t lw, lz, ly, lg, lp;
  const double *w = ben::typedArg<double>(env, v[0], napi_float64_array, &lw);
  const double *z = ben::typedArg<double>(env, v[1], napi_float64_array, &lz);
  const int32_t *y = ben::typedArg<int32_t>(env, v[2], napi_int32_array, &ly);
  double *grad = ben::typedArg<double>(env, v[3], napi_float64_array, &lg);
  const double *p = ben::typedArg<double>(env, v[4], napi_float64_array, &lp);
  if (!w || !z || !y || !grad || !p || lp < 4) {
    napi_throw_type_error(env, nullptr, "logisticLoss(w, z, y, grad, params [n, d, C, l2])");
    return nullptr;
  }
  const int64_t n = static_cast<int64_t>(p[0]), d = static_cast<int64_t>(p[1]), C = static_cast<int64_t>(p[2]);
  const double l2 = p[3];
  const int64_t D = d + 1;
  if (n < 1 || d < 1 || C < 1 || lw < size_t(C * D) || lg < size_t(C * D) || lz < size_t(n * d) || ly < size_t(n)) {
    napi_throw_range_error(env, nullptr, "logisticLoss: array lengths do not match [n, d, C]");
    return nullptr;
  }
  for (int64_t i = 0; i < n; i++)
    if (y[i] < 0 || y[i] >= C) {
      napi_throw_range_error(env, nullptr, "logisticLoss: label out of range");
      return nullptr;
    }
  // Below about 1M multiply-adds one thread is faster than waking the pool.
  const int nt = n * d * C >= (1 << 20) ? std::max(1, omp_get_max_threads()) : 1;
  std::vector<double> part(static_cast<size_t>(nt) * C * D, 0.0), partLoss(nt, 0.0), logits(static_cast<size_t>(nt) * C);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t i0 = n * t / T, i1 = n * (t + 1) / T;
    lossRows(w, z, y, i0, i1, d, C, 1.0 / n, part.data() + static_cast<size_t>(t) * C * D, &partLoss[t], logits.data() + static_cast<size_t>(t) * C);
  }
  std::memcpy(grad, part.data(), sizeof(double) * C * D);
  double loss = partLoss[0];
  for (int t = 1; t < nt; t++) {
    const double *pt = part.data() + static_cast<size_t>(t) * C * D;
    for (int64_t k = 0; k < C * D; k++) grad[k] += pt[k];
    loss += partLoss[t];
  }
  loss /= n;
  for (int64_t c = 0; c < C; c++)
    for (int64_t j = 0; j < d; j++) {
      const double wv = w[c * D + j];
      loss += 0.5 * l2 * wv * wv;
      grad[c * D + j] += l2 * wv;
    }
  napi_value out;
  napi_create_double(env, loss, &out);
  return out;
}

}  // namespace

// Called from the addon's module init.
bool benRegisterProbe(napi_env env, napi_value exports) { return ben::exportGuarded(env, exports, "logisticLoss", LogisticLoss); }
