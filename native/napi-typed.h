// The data of a typed-array argument, checked for its element type (nullptr when it is not one).
#pragma once
#include <node_api.h>

#include <cstddef>

namespace ben {

template <typename T>
T *typedArg(napi_env env, napi_value v, napi_typedarray_type want, size_t *len) {
  napi_typedarray_type tt;
  void *data;
  napi_value ab;
  size_t off;
  if (napi_get_typedarray_info(env, v, &tt, len, &data, &ab, &off) != napi_ok || tt != want) return nullptr;
  return static_cast<T *>(data);
}

}  // namespace ben
