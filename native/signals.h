// Every addon entry point runs with the calling thread's signals blocked, and the OpenMP pool is
// created with them blocked (its threads inherit the mask), so no signal handler ever runs on a
// thread while it is inside oneDNN. oneDNN 2.6's JIT f32 GEMM kernels (dnnl_sgemm, and the
// "gemm:jit" convolution and matmul paths) point the stack pointer into a heap buffer while they
// run; a signal delivered then (a profiler's SIGPROF, SIGCHLD, SIGINT) pushes its frame there and
// corrupts the heap (a oneDNN bug, fixed upstream in 2026, still in Debian's 2.6). Blocked
// signals stay pending and are delivered when the call returns.
#pragma once
#include <node_api.h>
#include <pthread.h>
#include <signal.h>

namespace ben {

class SignalGuard {
 public:
  SignalGuard() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old_);
  }
  ~SignalGuard() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }
  SignalGuard(const SignalGuard &) = delete;
  SignalGuard &operator=(const SignalGuard &) = delete;

 private:
  sigset_t old_;
};

// Calls the napi_callback stored as the function's data with signals blocked.
inline napi_value guardedCall(napi_env env, napi_callback_info info) {
  void *data = nullptr;
  size_t argc = 0;
  if (napi_get_cb_info(env, info, &argc, nullptr, nullptr, &data) != napi_ok || !data) return nullptr;
  SignalGuard guard;
  return reinterpret_cast<napi_callback>(data)(env, info);
}

// exports[name] = cb, run through guardedCall.
inline bool exportGuarded(napi_env env, napi_value exports, const char *name, napi_callback cb) {
  napi_value fn;
  if (napi_create_function(env, name, NAPI_AUTO_LENGTH, guardedCall, reinterpret_cast<void *>(cb), &fn) != napi_ok) return false;
  return napi_set_named_property(env, exports, name, fn) == napi_ok;
}

}  // namespace ben
