// Entry point of the native addon: registers the tensor table, operators, runtime, color kernel, process groups and the profiler.
#include "common.h"

namespace simclr {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InitTensorApi(env, exports);
  InitOps(env, exports);
  InitRuntime(env, exports);
  InitColorKernel(env, exports);
  InitDist(env, exports);
  InitProfiler(env, exports);
  return exports;
}

}  // namespace simclr

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return simclr::Init(env, exports); }

NODE_API_MODULE(simclr_native, InitAddon)
