// The training kernels around the convolutions, on the addon's OpenMP threads (with the native
// engine the wasm backend runs single-threaded, so its own versions of these use one core): the
// fused BatchNorm training pair, the AdamW update, the ReLU gradient and the max-pool gradient.
// Each computes what its wasm kernel in src/engine/kernels/ computes (same formulas, per-channel
// sums in float64, elementwise work in float32), on typed-array views of the wasm heap.
#include <node_api.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "signals.h"

namespace {

// Below this many values a loop runs on the calling thread (waking the pool costs more).
constexpr int64_t kParallelMin = 1 << 15;

struct Call {
  napi_env env;
  std::vector<napi_value> v;
  bool ok = true;
  Call(napi_env e, napi_callback_info info, size_t n) : env(e), v(n) {
    size_t argc = n;
    if (napi_get_cb_info(e, info, &argc, v.data(), nullptr, nullptr) != napi_ok || argc < n) ok = false;
  }
  template <typename T>
  T *arr(size_t i, napi_typedarray_type want, size_t *len = nullptr) {
    napi_typedarray_type tt;
    size_t n;
    void *data;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v[i], &tt, &n, &data, &ab, &off) != napi_ok || tt != want) {
      ok = false;
      return nullptr;
    }
    if (len) *len = n;
    return static_cast<T *>(data);
  }
  float *f32(size_t i) { return arr<float>(i, napi_float32_array); }
  const double *f64(size_t i, size_t need) {
    size_t n = 0;
    const double *p = arr<double>(i, napi_float64_array, &n);
    if (p && n < need) ok = false;
    return p;
  }
  napi_value fail(const char *usage) {
    napi_throw_type_error(env, nullptr, usage);
    return nullptr;
  }
};

napi_value undef(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

int threadsFor(int64_t n) { return n >= kParallelMin ? omp_get_max_threads() : 1; }

// out1[c] = sum_i (u[i,c] - su[c]), out2[c] = sum_i (u[i,c] - su[c]) (v[i,c] - sv[c]), in float64,
// over n rows of C (row ranges per thread, then summed).
void moments(const float *u, const float *v, int64_t n, int64_t C, const float *su, const float *sv, double *out1, double *out2) {
  const int nt = threadsFor(n * C);
  std::vector<double> part(static_cast<size_t>(nt) * 2 * C, 0.0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    double *__restrict a = part.data() + static_cast<size_t>(t) * 2 * C, *__restrict b = a + C;
    const int64_t i0 = n * t / T, i1 = n * (t + 1) / T;
    for (int64_t i = i0; i < i1; i++) {
      const float *__restrict ur = u + i * C, *__restrict vr = v + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; c++) {
        const double du = static_cast<double>(ur[c]) - su[c];
        a[c] += du;
        b[c] += du * (static_cast<double>(vr[c]) - sv[c]);
      }
    }
  }
  for (int64_t c = 0; c < C; c++) out1[c] = out2[c] = 0;
  for (int t = 0; t < nt; t++) {
    const double *a = part.data() + static_cast<size_t>(t) * 2 * C, *b = a + C;
    for (int64_t c = 0; c < C; c++) out1[c] += a[c], out2[c] += b[c];
  }
}

// out[i,c] = P[c] u[i,c] + Q[c] v[i,c] + R[c] (float32); v may be null (Q ignored).
void affine(const float *u, const float *v, float *out, int64_t n, int64_t C, const float *P, const float *Q, const float *R) {
#pragma omp parallel for num_threads(threadsFor(n * C)) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float *__restrict ur = u + i * C;
    float *__restrict o = out + i * C;
    if (v) {
      const float *__restrict vr = v + i * C;
#pragma omp simd
      for (int64_t c = 0; c < C; c++) o[c] = P[c] * ur[c] + Q[c] * vr[c] + R[c];
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) o[c] = P[c] * ur[c] + R[c];
    }
  }
}

// bnTrain(x, gamma, beta, y, mean, variance, invStd, params [n, C, epsilon]): moments around the
// first row (so E[(x-k)^2] - E[x-k]^2 cancels no large mean), then y = gamma (x - mean) invStd + beta.
napi_value BnTrain(napi_env env, napi_callback_info info) {
  Call a(env, info, 8);
  float *x = a.f32(0), *g = a.f32(1), *b = a.f32(2), *y = a.f32(3), *mean = a.f32(4), *var = a.f32(5), *inv = a.f32(6);
  const double *p = a.f64(7, 3);
  if (!a.ok) return a.fail("bnTrain(x, gamma, beta, y, mean, variance, invStd, [n, C, epsilon])");
  const int64_t n = static_cast<int64_t>(p[0]), C = static_cast<int64_t>(p[1]);
  const double eps = p[2];
  if (n < 1 || C < 1) return undef(env);
  std::vector<float> shift(x, x + C), P(C), R(C);
  std::vector<double> sum(C), sq(C);
  moments(x, x, n, C, shift.data(), shift.data(), sum.data(), sq.data());
  for (int64_t c = 0; c < C; c++) {
    const double m = sum[c] / n;
    mean[c] = static_cast<float>(shift[c] + m);
    var[c] = static_cast<float>(std::max(0.0, sq[c] / n - m * m));
    inv[c] = static_cast<float>(1 / std::sqrt(static_cast<double>(var[c]) + eps));
    P[c] = g[c] * inv[c];
    R[c] = static_cast<float>(b[c] - static_cast<double>(mean[c]) * P[c]);
  }
  affine(x, nullptr, y, n, C, P.data(), nullptr, R.data());
  return undef(env);
}

// bnTrainGrad(dy, x, mean, invStd, gamma, dx, dgamma, dbeta, params [n, C]):
// dx = gamma invStd / n (n dy - sum dy - xhat sum(dy xhat)), dgamma = sum(dy xhat), dbeta = sum dy.
napi_value BnTrainGrad(napi_env env, napi_callback_info info) {
  Call a(env, info, 9);
  float *dy = a.f32(0), *x = a.f32(1), *mean = a.f32(2), *inv = a.f32(3), *g = a.f32(4), *dx = a.f32(5), *dg = a.f32(6), *db = a.f32(7);
  const double *p = a.f64(8, 2);
  if (!a.ok) return a.fail("bnTrainGrad(dy, x, mean, invStd, gamma, dx, dgamma, dbeta, [n, C])");
  const int64_t n = static_cast<int64_t>(p[0]), C = static_cast<int64_t>(p[1]);
  if (n < 1 || C < 1) return undef(env);
  std::vector<float> zero(C, 0.f), A(C), Q(C), R(C);
  std::vector<double> sdy(C), sdyxc(C);
  moments(dy, x, n, C, zero.data(), mean, sdy.data(), sdyxc.data());
  for (int64_t c = 0; c < C; c++) {
    const double sdyx = sdyxc[c] * inv[c];
    db[c] = static_cast<float>(sdy[c]);
    dg[c] = static_cast<float>(sdyx);
    // dx = k dy + cc x + bc, k = gamma invStd (as the wasm kernel folds it).
    const double k = static_cast<double>(g[c]) * inv[c];
    const double t = (k * inv[c] * sdyx) / n;
    A[c] = static_cast<float>(k);
    Q[c] = static_cast<float>(-t);
    R[c] = static_cast<float>(-(k * sdy[c]) / n + mean[c] * t);
  }
  affine(dy, x, dx, n, C, A.data(), Q.data(), R.data());
  return undef(env);
}

// adamUpdate(p, g, m, v, po, mo, vo, params [n, beta1, beta2, stepSize, epsHat, decay]):
// m' = b1 m + (1-b1) g, v' = b2 v + (1-b2) g^2, p' = (1-decay) p - stepSize m' / (sqrt(v') + epsHat).
napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  Call a(env, info, 8);
  float *P = a.f32(0), *G = a.f32(1), *M = a.f32(2), *V = a.f32(3), *po = a.f32(4), *mo = a.f32(5), *vo = a.f32(6);
  const double *q = a.f64(7, 6);
  if (!a.ok) return a.fail("adamUpdate(p, g, m, v, po, mo, vo, [n, beta1, beta2, stepSize, epsHat, decay])");
  const int64_t n = static_cast<int64_t>(q[0]);
  const float b1 = static_cast<float>(q[1]), b2 = static_cast<float>(q[2]), step = static_cast<float>(q[3]), eps = static_cast<float>(q[4]);
  const float c1 = static_cast<float>(1 - q[1]), c2 = static_cast<float>(1 - q[2]), keep = static_cast<float>(1 - q[5]);
#pragma omp parallel for simd num_threads(threadsFor(n)) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float gi = G[i];
    const float mi = b1 * M[i] + c1 * gi;
    const float vi = b2 * V[i] + c2 * gi * gi;
    mo[i] = mi;
    vo[i] = vi;
    po[i] = keep * P[i] - step * mi / (std::sqrt(vi) + eps);
  }
  return undef(env);
}

// reluGrad(dy, x, dx, [n]): dx = x > 0 ? dy : 0.
napi_value ReluGrad(napi_env env, napi_callback_info info) {
  Call a(env, info, 4);
  float *dy = a.f32(0), *x = a.f32(1), *dx = a.f32(2);
  const double *q = a.f64(3, 1);
  if (!a.ok) return a.fail("reluGrad(dy, x, dx, [n])");
  const int64_t n = static_cast<int64_t>(q[0]);
  // Both loads unconditional, so that the select vectorises (a branch mispredicts on half the values).
#pragma omp parallel for simd num_threads(threadsFor(n)) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float g = dy[i];
    dx[i] = x[i] > 0 ? g : 0.f;
  }
  return undef(env);
}

// One image of maxPoolGrad, channels in blocks of kPoolBlock: the running maximum and its position
// per channel are selects, not branches, so the window scan vectorises.
constexpr int64_t kPoolBlock = 64;
__attribute__((target_clones("avx512f", "avx2", "default"))) void maxPoolGradImage(
    const float *x, const float *dy, float *dx, int64_t H, int64_t W, int64_t C, int64_t Ho, int64_t Wo, int64_t KH, int64_t KW,
    int64_t sh, int64_t sw, int64_t pT, int64_t pL) {
  float best[kPoolBlock];
  int32_t at[kPoolBlock];
  for (int64_t oh = 0; oh < Ho; oh++) {
    const int64_t h0 = std::max<int64_t>(0, oh * sh - pT), h1 = std::min(H, oh * sh - pT + KH);
    for (int64_t ow = 0; ow < Wo; ow++) {
      const int64_t w0 = std::max<int64_t>(0, ow * sw - pL), w1 = std::min(W, ow * sw - pL + KW);
      const float *g = dy + (oh * Wo + ow) * C;
      for (int64_t c0 = 0; c0 < C; c0 += kPoolBlock) {
        const int64_t cn = std::min(kPoolBlock, C - c0);
        for (int64_t c = 0; c < cn; c++) best[c] = -std::numeric_limits<float>::infinity(), at[c] = -1;
        for (int64_t h = h0; h < h1; h++)
          for (int64_t w = w0; w < w1; w++) {
            const int32_t pos = static_cast<int32_t>(h * W + w);
            const float *__restrict xr = x + pos * C + c0;
#pragma omp simd
            for (int64_t c = 0; c < cn; c++) {
              const bool gt = xr[c] > best[c];  // strict: the first maximum in row-major order wins
              best[c] = gt ? xr[c] : best[c];
              at[c] = gt ? pos : at[c];
            }
          }
        for (int64_t c = 0; c < cn; c++)
          if (at[c] >= 0) dx[at[c] * C + c0 + c] += g[c0 + c];
      }
    }
  }
}

// maxPoolGrad(x, dy, dx, [B H W C Ho Wo KH KW sh sw pT pL]): NHWC; each window's first maximum in
// row-major order (as tfjs's cpu backend picks it) receives the window's dy. One image per task
// (windows overlap within an image only).
napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  Call a(env, info, 4);
  float *x = a.f32(0), *dy = a.f32(1), *dx = a.f32(2);
  const double *q = a.f64(3, 12);
  if (!a.ok) return a.fail("maxPoolGrad(x, dy, dx, [B H W C Ho Wo KH KW sh sw pT pL])");
  int64_t d[12];
  for (int i = 0; i < 12; i++) d[i] = static_cast<int64_t>(q[i]);
  const int64_t B = d[0], H = d[1], W = d[2], C = d[3], Ho = d[4], Wo = d[5], KH = d[6], KW = d[7], sh = d[8], sw = d[9], pT = d[10], pL = d[11];
  std::memset(dx, 0, sizeof(float) * B * H * W * C);
#pragma omp parallel for num_threads(threadsFor(B * H * W * C)) schedule(static)
  for (int64_t b = 0; b < B; b++) maxPoolGradImage(x + b * H * W * C, dy + b * Ho * Wo * C, dx + b * H * W * C, H, W, C, Ho, Wo, KH, KW, sh, sw, pT, pL);
  return undef(env);
}

}  // namespace

// Called from the addon's module init.
bool benRegisterTraining(napi_env env, napi_value exports) {
  struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"bnTrain", BnTrain}, {"bnTrainGrad", BnTrainGrad}, {"adamUpdate", AdamUpdate}, {"reluGrad", ReluGrad}, {"maxPoolGrad", MaxPoolGrad}};
  for (auto &f : fns)
    if (!ben::exportGuarded(env, exports, f.name, f.cb)) return false;
  return true;
}
