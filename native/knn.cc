// Exact top-k inner-product search on oneDNN's sgemm: float32 products of query blocks x reference
// blocks screen each query's best `K` candidates, which are rescored in float64 (the same sums, in
// the same order, as the JS reference kernel), so the result is the exact top k, ties to the lower
// reference index. The float32 error of a product is bounded by Cauchy-Schwarz,
//   |fl32(q.r) - q.r| <= gamma_d |q| |r|,   gamma_d = d u / (1 - d u),  u = 2^-24,
// so every reference that can be in the exact top k scores within 2 bounds of the k-th float32
// score; a query whose candidate list filled up above that line is searched exactly in full.
// Threads: OpenMP over query blocks (dynamic, so a core lost to another process only slows its own
// blocks); each thread calls sgemm single-threaded (oneDNN does not nest inside a parallel region).
#include <node_api.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "oneapi/dnnl/dnnl.h"
#include "napi-typed.h"
#include "signals.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace {

struct Exclusion {
  const int32_t *query;  // codes of the queries of this call
  const int32_t *ref;    // codes of all references
};

bool excluded(const std::vector<Exclusion> &ex, int64_t qi, int64_t rj) {
  for (const auto &e : ex)
    if (e.query[qi] == e.ref[rj]) return true;
  return false;
}

// Inserts (v, j) into the list sorted best first (equal scores keep the earlier entry).
template <typename T>
void insertSorted(T *sc, int32_t *ix, int K, T v, int32_t j) {
  int p = K - 1;
  while (p > 0 && sc[p - 1] < v) {
    sc[p] = sc[p - 1];
    ix[p] = ix[p - 1];
    p--;
  }
  sc[p] = v;
  ix[p] = j;
}

// The float64 inner product of two float32 rows, summed in index order (as the JS kernel does),
// rounded to float32.
float exactDot(const float *a, const float *b, int64_t d) {
  double acc = 0;
  for (int64_t t = 0; t < d; t++) acc += static_cast<double>(a[t]) * static_cast<double>(b[t]);
  return static_cast<float>(acc);
}

struct Search {
  const float *Q, *R;
  int64_t nq, nr, d;
  int k, K;
  std::vector<Exclusion> ex;
  double refNormMax;
  int32_t *outIdx;
  float *outSim;
};

// Exact search of one query over all references (the fallback).
void searchFull(const Search &s, int64_t qi) {
  int32_t *ix = s.outIdx + qi * s.k;
  float *sc = s.outSim + qi * s.k;
  std::fill(ix, ix + s.k, -1);
  std::fill(sc, sc + s.k, -std::numeric_limits<float>::infinity());
  const float *q = s.Q + qi * s.d;
  for (int64_t j = 0; j < s.nr; j++) {
    float v = exactDot(q, s.R + j * s.d, s.d);
    if (!(v > sc[s.k - 1]) || excluded(s.ex, qi, j)) continue;
    insertSorted(sc, ix, s.k, v, static_cast<int32_t>(j));
  }
}

// Rescores query qi's float32 candidates (sc/ix, K best first) exactly; returns false when the list
// may have dropped one (then the caller searches the query in full).
bool finish(const Search &s, int64_t qi, const float *sc, const int32_t *ix, std::vector<std::pair<float, int32_t>> &cand,
            int64_t &nCand) {
  const float *q = s.Q + qi * s.d;
  double qn = 0;
  for (int64_t t = 0; t < s.d; t++) qn += static_cast<double>(q[t]) * q[t];
  qn = std::sqrt(qn);
  const double u = std::ldexp(1.0, -24);
  const double du = (s.d + 2) * u;
  // Bound of the float32 product error plus the final rounding to float32, with a margin.
  const double bound = 1.25 * (du / (1 - du) + u) * qn * s.refNormMax + 1e-30;
  const double kth = ix[s.k - 1] >= 0 ? sc[s.k - 1] : -std::numeric_limits<double>::infinity();
  const double thr = kth - 2 * bound;
  if (ix[s.K - 1] >= 0 && sc[s.K - 1] >= thr) return false;
  cand.clear();
  for (int t = 0; t < s.K && ix[t] >= 0 && sc[t] >= thr; t++) cand.emplace_back(exactDot(q, s.R + int64_t(ix[t]) * s.d, s.d), ix[t]);
  nCand += static_cast<int64_t>(cand.size());
  std::sort(cand.begin(), cand.end(), [](const auto &a, const auto &b) { return a.first > b.first || (a.first == b.first && a.second < b.second); });
  int32_t *oi = s.outIdx + qi * s.k;
  float *os = s.outSim + qi * s.k;
  for (int t = 0; t < s.k; t++) {
    bool has = t < static_cast<int>(cand.size());
    oi[t] = has ? cand[t].second : -1;
    os[t] = has ? cand[t].first : -std::numeric_limits<float>::infinity();
  }
  return true;
}

// Merges one row of float32 scores (references r0 .. r0+nb) into query qi's candidate list.
void selectRow(const Search &s, int64_t qi, const float *row, int64_t nb, int64_t r0, float *sc, int32_t *ix) {
  float thr = sc[s.K - 1];
  int64_t j = 0;
#if defined(__SSE2__)
  // Almost every score is below the threshold: test 8 at a time.
  for (; j + 8 <= nb; j += 8) {
    __m128 t = _mm_set1_ps(thr);
    __m128 hit = _mm_or_ps(_mm_cmpgt_ps(_mm_loadu_ps(row + j), t), _mm_cmpgt_ps(_mm_loadu_ps(row + j + 4), t));
    if (!_mm_movemask_ps(hit)) continue;
    for (int64_t c = j; c < j + 8; c++) {
      float v = row[c];
      if (!(v > thr) || excluded(s.ex, qi, r0 + c)) continue;
      insertSorted(sc, ix, s.K, v, static_cast<int32_t>(r0 + c));
      thr = sc[s.K - 1];
    }
  }
#endif
  for (; j < nb; j++) {
    float v = row[j];
    if (!(v > thr) || excluded(s.ex, qi, r0 + j)) continue;
    insertSorted(sc, ix, s.K, v, static_cast<int32_t>(r0 + j));
    thr = sc[s.K - 1];
  }
}

// Returns the number of fallbacks and of rescored candidates; throws a message on an sgemm error.
std::pair<int64_t, int64_t> search(const Search &s, int64_t bq, int64_t br, int threads, std::string &error) {
  const int64_t nBlocks = (s.nq + bq - 1) / bq;
  int64_t fallbacks = 0, nCand = 0;
#pragma omp parallel num_threads(threads) reduction(+ : fallbacks, nCand)
  {
    std::vector<float> S(bq * std::min(br, s.nr));
    std::vector<float> sc(bq * s.K);
    std::vector<int32_t> ix(bq * s.K);
    std::vector<std::pair<float, int32_t>> cand;
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < nBlocks; b++) {
      const int64_t a0 = b * bq, m = std::min(bq, s.nq - a0);
      std::fill(sc.begin(), sc.end(), -std::numeric_limits<float>::infinity());
      std::fill(ix.begin(), ix.end(), -1);
      bool failed = false;
      for (int64_t r0 = 0; r0 < s.nr && !failed; r0 += br) {
        const int64_t nb = std::min(br, s.nr - r0);
        // S[m, nb] = Q[a0 .. a0+m] x R[r0 .. r0+nb]^T (row-major).
        if (dnnl_sgemm('N', 'T', m, nb, s.d, 1.f, s.Q + a0 * s.d, s.d, s.R + r0 * s.d, s.d, 0.f, S.data(), nb) != dnnl_success) {
#pragma omp critical
          error = "dnnl_sgemm failed";
          failed = true;
          break;
        }
        for (int64_t i = 0; i < m; i++) selectRow(s, a0 + i, S.data() + i * nb, nb, r0, sc.data() + i * s.K, ix.data() + i * s.K);
      }
      if (failed) continue;
      for (int64_t i = 0; i < m; i++) {
        if (!finish(s, a0 + i, sc.data() + i * s.K, ix.data() + i * s.K, cand, nCand)) {
          fallbacks++;
          searchFull(s, a0 + i);
        }
      }
    }
  }
  return {fallbacks, nCand};
}

// knnSearch(queries Float32Array [nq, d], refs Float32Array [nr, d], params Float64Array
// [d, k, K, blockQueries, blockRefs, threads, refNormMax], excludeQuery Int32Array[], excludeRef
// Int32Array[], outIdx Int32Array [nq, k], outSim Float32Array [nq, k]) -> [fallbacks, candidates]
napi_value KnnSearch(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value v[7];
  auto fail = [&](const char *msg) -> napi_value {
    napi_throw_type_error(env, nullptr, msg);
    return nullptr;
  };
  const char *usage = "knnSearch(queries, refs, params, excludeQuery[], excludeRef[], outIdx, outSim)";
  if (napi_get_cb_info(env, info, &argc, v, nullptr, nullptr) != napi_ok || argc < 7) return fail(usage);
  size_t lq, lr, lp, li, ls;
  const float *Q = ben::typedArg<float>(env, v[0], napi_float32_array, &lq);
  const float *R = ben::typedArg<float>(env, v[1], napi_float32_array, &lr);
  const double *p = ben::typedArg<double>(env, v[2], napi_float64_array, &lp);
  int32_t *outIdx = ben::typedArg<int32_t>(env, v[5], napi_int32_array, &li);
  float *outSim = ben::typedArg<float>(env, v[6], napi_float32_array, &ls);
  if (!Q || !R || !p || lp < 7 || !outIdx || !outSim) return fail(usage);
  Search s;
  s.d = static_cast<int64_t>(p[0]);
  s.k = static_cast<int>(p[1]);
  s.K = std::max(s.k, static_cast<int>(p[2]));
  const int64_t bq = std::max<int64_t>(1, static_cast<int64_t>(p[3])), br = std::max<int64_t>(1, static_cast<int64_t>(p[4]));
  const int threads = std::max(1, static_cast<int>(p[5]));
  s.refNormMax = p[6];
  if (s.d < 1 || s.k < 1 || lq % s.d || lr % s.d) return fail("knnSearch: row lengths do not divide by d");
  s.nq = static_cast<int64_t>(lq) / s.d;
  s.nr = static_cast<int64_t>(lr) / s.d;
  if (li < size_t(s.nq * s.k) || ls < size_t(s.nq * s.k)) return fail("knnSearch: outputs shorter than nq * k");
  s.Q = Q;
  s.R = R;
  s.outIdx = outIdx;
  s.outSim = outSim;
  uint32_t ne = 0, ne2 = 0;
  napi_get_array_length(env, v[3], &ne);
  napi_get_array_length(env, v[4], &ne2);
  if (ne != ne2) return fail("knnSearch: excludeQuery and excludeRef differ in length");
  for (uint32_t e = 0; e < ne; e++) {
    napi_value a, b;
    napi_get_element(env, v[3], e, &a);
    napi_get_element(env, v[4], e, &b);
    size_t la, lb;
    const int32_t *qa = ben::typedArg<int32_t>(env, a, napi_int32_array, &la);
    const int32_t *rb = ben::typedArg<int32_t>(env, b, napi_int32_array, &lb);
    if (!qa || !rb || la < size_t(s.nq) || lb < size_t(s.nr)) return fail("knnSearch: exclusion codes must be Int32Arrays of nq / nr");
    s.ex.push_back({qa, rb});
  }
  std::string error;
  std::pair<int64_t, int64_t> r{0, 0};
  if (s.nq > 0 && s.nr > 0) r = search(s, bq, br, threads, error);
  else {
    std::fill(outIdx, outIdx + s.nq * s.k, -1);
    std::fill(outSim, outSim + s.nq * s.k, -std::numeric_limits<float>::infinity());
  }
  if (!error.empty()) {
    napi_throw_error(env, nullptr, ("ben_native: " + error).c_str());
    return nullptr;
  }
  napi_value out, x, y;
  napi_create_array_with_length(env, 2, &out);
  napi_create_double(env, static_cast<double>(r.first), &x);
  napi_create_double(env, static_cast<double>(r.second), &y);
  napi_set_element(env, out, 0, x);
  napi_set_element(env, out, 1, y);
  return out;
}

}  // namespace

// Called from the addon's module init.
bool benRegisterKnn(napi_env env, napi_value exports) {
  return ben::exportGuarded(env, exports, "knnSearch", KnnSearch);
}
