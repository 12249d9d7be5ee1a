// Native CPU kernels for ben-ssl's wasm backend, on oneDNN (the library PyTorch's CPU convolutions
// run on). Every function reads and writes float32 tensors in place, through typed-array views of
// the wasm heap handed in by the JS kernels, so no tensor is copied in or out. Primitives are
// created once per shape and cached; weights are reordered into the layout oneDNN picks on every
// call (they change every training step).
#include <node_api.h>
#include <omp.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "signals.h"

using dnnl::memory;
using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;

namespace {

dnnl::engine &eng() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}
dnnl::stream &strm() {
  static dnnl::stream s(eng());
  return s;
}

// ---- N-API helpers ----

#define NAPI_OK(call)                                            \
  do {                                                           \
    if ((call) != napi_ok) {                                     \
      napi_throw_error(env, nullptr, "ben_native: " #call);      \
      return nullptr;                                            \
    }                                                            \
  } while (0)

struct Args {
  napi_env env;
  std::vector<napi_value> v;
  bool ok = true;
  Args(napi_env e, napi_callback_info info, size_t n) : env(e), v(n) {
    size_t argc = n;
    if (napi_get_cb_info(e, info, &argc, v.data(), nullptr, nullptr) != napi_ok || argc < n) ok = false;
  }
  // Float32Array (or null/undefined -> nullptr).
  float *f32(size_t i) {
    napi_valuetype t;
    napi_typeof(env, v[i], &t);
    if (t == napi_null || t == napi_undefined) return nullptr;
    napi_typedarray_type tt;
    size_t len;
    void *data;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, v[i], &tt, &len, &data, &ab, &off) != napi_ok || tt != napi_float32_array) {
      ok = false;
      return nullptr;
    }
    return static_cast<float *>(data);
  }
  std::vector<int64_t> ints(size_t i) {
    napi_typedarray_type tt;
    size_t len;
    void *data;
    napi_value ab;
    size_t off;
    std::vector<int64_t> out;
    if (napi_get_typedarray_info(env, v[i], &tt, &len, &data, &ab, &off) != napi_ok || tt != napi_int32_array) {
      ok = false;
      return out;
    }
    const int32_t *p = static_cast<const int32_t *>(data);
    out.assign(p, p + len);
    return out;
  }
};

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// ---- convolution ----

// p: N IH IW IC OH OW OC KH KW SH SW DH DW PT PL PB PR [act hasBias]
struct ConvShape {
  memory::dims src, wei, dst, bias, strides, dil, padl, padr;
  explicit ConvShape(const std::vector<int64_t> &p)
      : src{p[0], p[3], p[1], p[2]},
        wei{p[6], p[3], p[7], p[8]},
        dst{p[0], p[6], p[4], p[5]},
        bias{p[6]},
        strides{p[9], p[10]},
        dil{p[11] - 1, p[12] - 1},
        padl{p[13], p[14]},
        padr{p[15], p[16]} {}
};

std::string keyOf(char kind, const std::vector<int64_t> &p) {
  std::string k(1, kind);
  for (auto x : p) k += std::to_string(x) + ",";
  return k;
}

dnnl::convolution_forward::primitive_desc fwdPd(const ConvShape &s, bool bias, int act) {
  memory::desc src(s.src, dt::f32, tag::nhwc), dst(s.dst, dt::f32, tag::nhwc);
  memory::desc wei(s.wei, dt::f32, tag::any);
  memory::desc b = bias ? memory::desc(s.bias, dt::f32, tag::x) : memory::desc();
  dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct, src, wei, b, dst,
                                    s.strides, s.dil, s.padl, s.padr);
  dnnl::primitive_attr attr;
  if (act == 1) {
    dnnl::post_ops po;
    po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(po);
  }
  return dnnl::convolution_forward::primitive_desc(d, attr, eng());
}

/** A cached primitive and the weights buffer in its own layout (with the reorder to/from ours). */
struct Entry {
  dnnl::primitive prim;
  memory::desc userWei, primWei, src, dst, bias;
  bool reorderWei = false;
  dnnl::reorder reorder;
  memory weiMem;  // primitive-layout weights (or weight gradient)
  std::string impl;
};

std::mutex cacheMutex;
std::unordered_map<std::string, std::unique_ptr<Entry>> cache;
bool verbose = false;

Entry *convEntry(char kind, const std::vector<int64_t> &p) {
  std::string key = keyOf(kind, p);
  std::lock_guard<std::mutex> lock(cacheMutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second.get();
  ConvShape s(p);
  int act = p.size() > 17 ? static_cast<int>(p[17]) : 0;
  bool hasBias = p.size() > 18 && p[18] != 0;
  auto e = std::make_unique<Entry>();
  e->userWei = memory::desc(s.wei, dt::f32, tag::hwio);
  if (kind == 'f') {
    auto pd = fwdPd(s, hasBias, act);
    e->prim = dnnl::convolution_forward(pd);
    e->primWei = pd.weights_desc();
    e->impl = pd.impl_info_str();
    e->reorderWei = e->primWei != e->userWei;
    if (e->reorderWei) {
      e->weiMem = memory(e->primWei, eng());
      e->reorder = dnnl::reorder(memory(e->userWei, eng(), DNNL_MEMORY_NONE), e->weiMem);
    }
  } else if (kind == 'd') {
    auto hint = fwdPd(s, false, 0);
    memory::desc dsrc(s.src, dt::f32, tag::nhwc), ddst(s.dst, dt::f32, tag::nhwc);
    memory::desc wei(s.wei, dt::f32, tag::any);
    dnnl::convolution_backward_data::desc d(dnnl::algorithm::convolution_direct, dsrc, wei, ddst, s.strides, s.dil, s.padl, s.padr);
    dnnl::convolution_backward_data::primitive_desc pd(d, eng(), hint);
    e->prim = dnnl::convolution_backward_data(pd);
    e->primWei = pd.weights_desc();
    e->impl = pd.impl_info_str();
    e->reorderWei = e->primWei != e->userWei;
    if (e->reorderWei) {
      e->weiMem = memory(e->primWei, eng());
      e->reorder = dnnl::reorder(memory(e->userWei, eng(), DNNL_MEMORY_NONE), e->weiMem);
    }
  } else {
    auto hint = fwdPd(s, false, 0);
    memory::desc src(s.src, dt::f32, tag::nhwc), ddst(s.dst, dt::f32, tag::nhwc);
    memory::desc dwei(s.wei, dt::f32, tag::any);
    dnnl::convolution_backward_weights::desc d(dnnl::algorithm::convolution_direct, src, dwei, ddst, s.strides, s.dil, s.padl,
                                               s.padr);
    dnnl::convolution_backward_weights::primitive_desc pd(d, eng(), hint);
    e->prim = dnnl::convolution_backward_weights(pd);
    e->primWei = pd.diff_weights_desc();
    e->impl = pd.impl_info_str();
    e->reorderWei = e->primWei != e->userWei;
    if (e->reorderWei) {
      e->weiMem = memory(e->primWei, eng());
      e->reorder = dnnl::reorder(e->weiMem, memory(e->userWei, eng(), DNNL_MEMORY_NONE));
    }
  }
  if (verbose) fprintf(stderr, "ben_native: conv %c %s -> %s\n", kind, key.c_str(), e->impl.c_str());
  Entry *raw = e.get();
  cache.emplace(key, std::move(e));
  return raw;
}

template <typename F>
napi_value guarded(napi_env env, F f) {
  try {
    return f();
  } catch (const dnnl::error &e) {
    napi_throw_error(env, nullptr, (std::string("oneDNN: ") + e.what()).c_str());
  } catch (const std::exception &e) {
    napi_throw_error(env, nullptr, (std::string("ben_native: ") + e.what()).c_str());
  }
  return nullptr;
}

// The user's HWIO weights as the primitive wants them: reordered into its own layout when it
// chose another one (forward and backward-data read them; backward-weights writes them).
static void bindWeights(Entry *e, memory &user, std::unordered_map<int, memory> &args) {
  if (e->reorderWei) {
    e->reorder.execute(strm(), user, e->weiMem);
    args[DNNL_ARG_WEIGHTS] = e->weiMem;
  } else {
    args[DNNL_ARG_WEIGHTS] = user;
  }
}

// convForward(params Int32Array, x, filter HWIO, bias|null, y)
napi_value ConvForward(napi_env env, napi_callback_info info) {
  Args a(env, info, 5);
  auto p = a.ints(0);
  float *x = a.f32(1), *w = a.f32(2), *b = a.f32(3), *y = a.f32(4);
  if (!a.ok || p.size() < 19 || !x || !w || !y) {
    napi_throw_type_error(env, nullptr, "convForward(params, x, filter, bias, y)");
    return nullptr;
  }
  if (p[18] && !b) p[18] = 0;
  return guarded(env, [&]() -> napi_value {
    Entry *e = convEntry('f', p);
    ConvShape s(p);
    memory src(memory::desc(s.src, dt::f32, tag::nhwc), eng(), x);
    memory dst(memory::desc(s.dst, dt::f32, tag::nhwc), eng(), y);
    memory user(e->userWei, eng(), w);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
    bindWeights(e, user, args);
    if (p[18]) args[DNNL_ARG_BIAS] = memory(memory::desc(s.bias, dt::f32, tag::x), eng(), b);
    e->prim.execute(strm(), args);
    strm().wait();
    return undefined(env);
  });
}

// convBackwardData(params, dy, filter HWIO, dx)
napi_value ConvBackwardData(napi_env env, napi_callback_info info) {
  Args a(env, info, 4);
  auto p = a.ints(0);
  float *dy = a.f32(1), *w = a.f32(2), *dx = a.f32(3);
  if (!a.ok || p.size() < 17 || !dy || !w || !dx) {
    napi_throw_type_error(env, nullptr, "convBackwardData(params, dy, filter, dx)");
    return nullptr;
  }
  p.resize(17);
  return guarded(env, [&]() -> napi_value {
    Entry *e = convEntry('d', p);
    ConvShape s(p);
    memory ddst(memory::desc(s.dst, dt::f32, tag::nhwc), eng(), dy);
    memory dsrc(memory::desc(s.src, dt::f32, tag::nhwc), eng(), dx);
    memory user(e->userWei, eng(), w);
    std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_SRC, dsrc}};
    bindWeights(e, user, args);
    e->prim.execute(strm(), args);
    strm().wait();
    return undefined(env);
  });
}

// convBackwardWeights(params, x, dy, dw HWIO)
napi_value ConvBackwardWeights(napi_env env, napi_callback_info info) {
  Args a(env, info, 4);
  auto p = a.ints(0);
  float *x = a.f32(1), *dy = a.f32(2), *dw = a.f32(3);
  if (!a.ok || p.size() < 17 || !x || !dy || !dw) {
    napi_throw_type_error(env, nullptr, "convBackwardWeights(params, x, dy, dw)");
    return nullptr;
  }
  p.resize(17);
  return guarded(env, [&]() -> napi_value {
    Entry *e = convEntry('w', p);
    ConvShape s(p);
    memory src(memory::desc(s.src, dt::f32, tag::nhwc), eng(), x);
    memory ddst(memory::desc(s.dst, dt::f32, tag::nhwc), eng(), dy);
    memory user(e->userWei, eng(), dw);
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}};
    args[DNNL_ARG_DIFF_WEIGHTS] = e->reorderWei ? e->weiMem : user;
    e->prim.execute(strm(), args);
    if (e->reorderWei) e->reorder.execute(strm(), e->weiMem, user);
    strm().wait();
    return undefined(env);
  });
}

// ---- matmul ----

struct MatEntry {
  dnnl::matmul prim;
  memory::desc a, b, c, bias;
};
std::unordered_map<std::string, std::unique_ptr<MatEntry>> matCache;

// matMul(params [batchA batchB M K N transA transB act hasBias], a, b, bias|null, c): c[bt, M, N]
// = op(a)[ba, M, K] x op(b)[bb, K, N] (+ bias[N], relu), with a batch of 1 broadcast.
napi_value MatMul(napi_env env, napi_callback_info info) {
  Args a(env, info, 5);
  auto p = a.ints(0);
  float *A = a.f32(1), *B = a.f32(2), *bias = a.f32(3), *C = a.f32(4);
  if (!a.ok || p.size() < 9 || !A || !B || !C) {
    napi_throw_type_error(env, nullptr, "matMul(params, a, b, bias, c)");
    return nullptr;
  }
  if (p[8] && !bias) p[8] = 0;
  return guarded(env, [&]() -> napi_value {
    std::string key = keyOf('m', p);
    MatEntry *e;
    {
      std::lock_guard<std::mutex> lock(cacheMutex);
      auto it = matCache.find(key);
      if (it != matCache.end()) {
        e = it->second.get();
      } else {
        int64_t ba = p[0], bb = p[1], M = p[2], K = p[3], N = p[4];
        int64_t bt = std::max(ba, bb);
        auto ne = std::make_unique<MatEntry>();
        // Transposes as strides: a stored [ba, K, M] read as [ba, M, K].
        ne->a = p[5] ? memory::desc({ba, M, K}, dt::f32, memory::dims{M * K, 1, M})
                     : memory::desc({ba, M, K}, dt::f32, memory::dims{M * K, K, 1});
        ne->b = p[6] ? memory::desc({bb, K, N}, dt::f32, memory::dims{K * N, 1, K})
                     : memory::desc({bb, K, N}, dt::f32, memory::dims{K * N, N, 1});
        ne->c = memory::desc({bt, M, N}, dt::f32, tag::abc);
        if (p[8]) ne->bias = memory::desc({1, 1, N}, dt::f32, tag::abc);
        dnnl::primitive_attr attr;
        if (p[7] == 1) {
          dnnl::post_ops po;
          po.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
          attr.set_post_ops(po);
        }
        dnnl::matmul::desc d = p[8] ? dnnl::matmul::desc(ne->a, ne->b, ne->bias, ne->c) : dnnl::matmul::desc(ne->a, ne->b, ne->c);
        dnnl::matmul::primitive_desc pd(d, attr, eng());
        ne->prim = dnnl::matmul(pd);
        if (verbose) fprintf(stderr, "ben_native: matmul %s -> %s\n", key.c_str(), pd.impl_info_str());
        e = ne.get();
        matCache.emplace(key, std::move(ne));
      }
    }
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(e->a, eng(), A)},
                                         {DNNL_ARG_WEIGHTS, memory(e->b, eng(), B)},
                                         {DNNL_ARG_DST, memory(e->c, eng(), C)}};
    if (p[8]) args[DNNL_ARG_BIAS] = memory(e->bias, eng(), bias);
    e->prim.execute(strm(), args);
    strm().wait();
    return undefined(env);
  });
}

// ---- info and threads ----

const char *isaName(dnnl::cpu_isa isa) {
  switch (isa) {
    case dnnl::cpu_isa::avx512_core_amx: return "AVX-512 (AMX)";
    case dnnl::cpu_isa::avx512_core_bf16: return "AVX-512 (BF16)";
    case dnnl::cpu_isa::avx512_core_vnni: return "AVX-512 (VNNI)";
    case dnnl::cpu_isa::avx512_core: return "AVX-512";
    case dnnl::cpu_isa::avx2_vnni: return "AVX2 (VNNI)";
    case dnnl::cpu_isa::avx2: return "AVX2";
    case dnnl::cpu_isa::avx: return "AVX";
    case dnnl::cpu_isa::sse41: return "SSE4.1";
    default: return "unknown";
  }
}

napi_value Info(napi_env env, napi_callback_info) {
  const dnnl_version_t *v = dnnl_version();
  std::string ver = std::to_string(v->major) + "." + std::to_string(v->minor) + "." + std::to_string(v->patch);
  napi_value o, s1, s2, n;
  NAPI_OK(napi_create_object(env, &o));
  NAPI_OK(napi_create_string_utf8(env, ver.c_str(), NAPI_AUTO_LENGTH, &s1));
  NAPI_OK(napi_set_named_property(env, o, "version", s1));
  NAPI_OK(napi_create_string_utf8(env, isaName(dnnl::get_effective_cpu_isa()), NAPI_AUTO_LENGTH, &s2));
  NAPI_OK(napi_set_named_property(env, o, "isa", s2));
  NAPI_OK(napi_create_int32(env, omp_get_max_threads(), &n));
  NAPI_OK(napi_set_named_property(env, o, "threads", n));
  return o;
}

// setThreads(n): the OpenMP pool oneDNN runs on.
napi_value SetThreads(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  int32_t n = 0;
  if (!a.ok || napi_get_value_int32(env, a.v[0], &n) != napi_ok || n < 1) {
    napi_throw_type_error(env, nullptr, "setThreads(n >= 1)");
    return nullptr;
  }
  omp_set_num_threads(n);
  return undefined(env);
}

napi_value SetVerbose(napi_env env, napi_callback_info info) {
  Args a(env, info, 1);
  bool b = false;
  if (a.ok) napi_get_value_bool(env, a.v[0], &b);
  verbose = b;
  return undefined(env);
}

}  // namespace

bool benRegisterKnn(napi_env env, napi_value exports);       // knn.cc
bool benRegisterTraining(napi_env env, napi_value exports);  // train.cc
bool benRegisterProbe(napi_env env, napi_value exports);     // probe.cc

NAPI_MODULE_INIT() {
  struct {
    const char *name;
    napi_callback cb;
  } fns[] = {{"convForward", ConvForward},   {"convBackwardData", ConvBackwardData}, {"convBackwardWeights", ConvBackwardWeights},
             {"matMul", MatMul},             {"info", Info},                         {"setThreads", SetThreads},
             {"setVerbose", SetVerbose}};
  for (auto &f : fns)
    if (!ben::exportGuarded(env, exports, f.name, f.cb)) return nullptr;
  {
    // Start the OpenMP pool now, with signals blocked, so that its threads never take one.
    ben::SignalGuard guard;
#pragma omp parallel
    { (void)omp_get_thread_num(); }
  }
  if (!benRegisterKnn(env, exports) || !benRegisterTraining(env, exports) || !benRegisterProbe(env, exports)) return nullptr;
  return exports;
}
