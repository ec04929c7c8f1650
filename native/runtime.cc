// Process-wide state of libtorch: tensors from JS memory, grad mode, autocast, seeds and
// RNG state, threads, devices.
#include "common.h"
#include "torch_compat.h"

#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <ATen/autocast_mode.h>
#include <ATen/core/Generator.h>
#include <c10/core/GradMode.h>
#include <torch/csrc/api/include/torch/cuda.h>
#include <torch/csrc/api/include/torch/version.h>

#ifdef SIMCLR_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include <cstdlib>
#include <cstring>
#ifdef __GLIBC__
#include <dlfcn.h>
#include <malloc.h>
#endif
#include <mutex>

namespace simclr {
namespace {

Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  c10::GradMode::set_enabled(info[0].ToBoolean());
  return info.Env().Undefined();
}

Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), c10::GradMode::is_enabled());
}

// setAutocast(device: "cpu" | "cuda", enabled, dtype): mixed precision through libtorch's
// autocast dispatch key, as torch.autocast does.
Napi::Value SetAutocast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string device = info[0].As<Napi::String>().Utf8Value();
  bool enabled = info[1].ToBoolean();
  auto dtype = static_cast<at::ScalarType>(info[2].As<Napi::Number>().Int32Value());
  return Guard(env, "autocast", [&] {
    if (device != "cpu" && device != "cuda") {
      throw std::invalid_argument("autocast supports cpu and cuda, not " + device);
    }
    compat::SetAutocast(device, enabled, dtype);
    // Casts of weights are cached while autocast is on; drop them when it goes off.
    if (!enabled) at::autocast::clear_cache();
    return env.Undefined();
  });
}

Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  double seed = info[0].As<Napi::Number>().DoubleValue();
  at::manual_seed(static_cast<uint64_t>(seed));
  return info.Env().Undefined();
}

at::Generator DefaultGenerator(const std::string& device) {
  if (device == "cpu") return at::detail::getDefaultCPUGenerator();
  return at::globalContext().defaultGenerator(c10::Device(device));
}

// rngState(device) -> handle of a uint8 tensor; setRngState(device, handle).
Napi::Value RngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string device = info[0].As<Napi::String>().Utf8Value();
  return Guard(env, "rngState", [&] {
    at::Generator gen = DefaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    return tensors::Add(env, gen.get_state());
  });
}

Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string device = info[0].As<Napi::String>().Utf8Value();
  const at::Tensor& state = tensors::Get(env, info[1], "setRngState state");
  return Guard(env, "setRngState", [&] {
    at::Generator gen = DefaultGenerator(device);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
    return env.Undefined();
  });
}

Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int n = info[0].As<Napi::Number>().Int32Value();
  return Guard(env, "setNumThreads", [&] {
    at::set_num_threads(n);
    return env.Undefined();
  });
}

Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

// The caching CPU allocator's counters (bytes, counts), or null when another allocator is in use.
Napi::Value CpuAllocatorStatsValue(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CpuAllocatorStats s{};
  if (!CachingCpuAllocatorStats(&s)) return env.Null();
  Napi::Object o = Napi::Object::New(env);
  o.Set("liveBytes", static_cast<double>(s.live));
  o.Set("reservedBytes", static_cast<double>(s.reserved));
  o.Set("peakLiveBytes", static_cast<double>(s.peak_live));
  o.Set("peakReservedBytes", static_cast<double>(s.peak_reserved));
  o.Set("segmentsMapped", static_cast<double>(s.segments_mapped));
  o.Set("segmentsUnmapped", static_cast<double>(s.segments_unmapped));
  return o;
}

Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(torch::cuda::device_count()));
}

// cudaMemoryStats(device): the CUDA caching allocator's counters for one GPU (the AGGREGATE
// rows of torch.cuda.memory_stats()); null in a build without CUDA.
Napi::Value CudaMemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef SIMCLR_WITH_CUDA
  const auto device = static_cast<c10::DeviceIndex>(info[0].As<Napi::Number>().Int32Value());
  return Guard(env, "cudaMemoryStats", [&]() -> Napi::Value {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device);
    const auto all = static_cast<size_t>(c10::CachingAllocator::StatType::AGGREGATE);
    Napi::Object o = Napi::Object::New(env);
    o.Set("allocatedBytes", static_cast<double>(stats.allocated_bytes[all].current));
    o.Set("reservedBytes", static_cast<double>(stats.reserved_bytes[all].current));
    o.Set("peakAllocatedBytes", static_cast<double>(stats.allocated_bytes[all].peak));
    o.Set("peakReservedBytes", static_cast<double>(stats.reserved_bytes[all].peak));
    o.Set("numAllocRetries", static_cast<double>(stats.num_alloc_retries));
    return o;
  });
#else
  return env.Null();
#endif
}

// cudaResetPeakStats(device): torch.cuda.reset_peak_memory_stats. No-op without CUDA.
Napi::Value CudaResetPeakStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef SIMCLR_WITH_CUDA
  const auto device = static_cast<c10::DeviceIndex>(info[0].As<Napi::Number>().Int32Value());
  Guard(env, "cudaResetPeakStats", [&] { c10::cuda::CUDACachingAllocator::resetPeakStats(device); });
#endif
  return env.Undefined();
}

// cudaSynchronize(): waits for every kernel queued on the current GPU (torch.cuda.synchronize),
// so that a host clock times the GPU's work. No-op without CUDA.
Napi::Value CudaSynchronize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef SIMCLR_WITH_CUDA
  Guard(env, "cudaSynchronize", [] { torch::cuda::synchronize(); });
#endif
  return env.Undefined();
}

// cudaSyncDebugMode(level: 0 off | 1 warn | 2 error): torch.cuda.set_sync_debug_mode. At 2 an
// operation that makes the host wait for the GPU (item(), a device-to-host copy, nonzero...)
// throws "called a synchronizing CUDA operation", which is how `simclr bench --sync-check`
// finds whether a step synchronises. Returns the previous level; null without CUDA.
Napi::Value CudaSyncDebugMode(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
#ifdef SIMCLR_WITH_CUDA
  const int level = info[0].As<Napi::Number>().Int32Value();
  if (level < 0 || level > 2) throw Napi::RangeError::New(env, "cudaSyncDebugMode: level must be 0 (off), 1 (warn) or 2 (error)");
  auto& state = c10::cuda::warning_state();
  const int previous = static_cast<int>(state.get_sync_debug_mode());
  state.set_sync_debug_mode(static_cast<c10::cuda::SyncDebugMode>(level));
  return Napi::Number::New(env, previous);
#else
  return env.Null();
#endif
}

Napi::Value Version(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object v = Napi::Object::New(env);
  v.Set("torch", compat::TorchVersion());
  v.Set("parallel", at::get_parallel_info());
  // libtorch's build configuration, as torch.__config__.show() prints it (BLAS, oneDNN, CUDA, cuDNN...)
  v.Set("config", at::show_config());
  // The libtorch_cpu this process loaded (simclr doctor: where the engine was found).
  Dl_info where{};
  const void* symbol = reinterpret_cast<const void*>(&at::get_parallel_info);
  v.Set("library", dladdr(symbol, &where) != 0 && where.dli_fname != nullptr ? Napi::Value(Napi::String::New(env, where.dli_fname)) : env.Null());
  v.Set("cudaAvailable", torch::cuda::is_available());
  return v;
}

// glibc's malloc serves blocks above its mmap threshold (128 KB at first, growing to at most
// 32 MB as such blocks are freed) with fresh mmap'd pages, and gives the top of its heap back
// above the trim threshold: a training step allocates and frees the same activations every
// step, so it page-faults on every fresh page (measured: ~90,000 minor faults a step on the
// demo's step, ~20% of its time). Raising both to their maximum keeps freed activations in the
// heap for the next step; peak RSS is unchanged (the same blocks are reused). Skipped when
// the user set either through glibc's own variables. Used with SIMCLR_MALLOC=glibc; the default
// is now the caching allocator (cpu_allocator.cc), which avoids the heap fragmentation these
// settings cause (BENCHMARKS.md, peak RSS).
void TuneMalloc() {
#ifdef __GLIBC__
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) return;
  const char* mode = std::getenv("SIMCLR_MALLOC");
  if (mode == nullptr || std::strcmp(mode, "glibc") != 0) return;
  mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace

void InitRuntime(Napi::Env env, Napi::Object exports) {
  if (!InstallCachingCpuAllocator()) TuneMalloc();
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled, "setGradEnabled"));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled, "isGradEnabled"));
  exports.Set("setAutocast", Napi::Function::New(env, SetAutocast, "setAutocast"));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed, "manualSeed"));
  exports.Set("rngState", Napi::Function::New(env, RngState, "rngState"));
  exports.Set("setRngState", Napi::Function::New(env, SetRngState, "setRngState"));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads, "setNumThreads"));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads, "getNumThreads"));
  exports.Set("cpuAllocatorStats", Napi::Function::New(env, CpuAllocatorStatsValue, "cpuAllocatorStats"));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount, "cudaDeviceCount"));
  exports.Set("cudaMemoryStats", Napi::Function::New(env, CudaMemoryStats, "cudaMemoryStats"));
  exports.Set("cudaResetPeakStats", Napi::Function::New(env, CudaResetPeakStats, "cudaResetPeakStats"));
  exports.Set("cudaSynchronize", Napi::Function::New(env, CudaSynchronize, "cudaSynchronize"));
  exports.Set("cudaSyncDebugMode", Napi::Function::New(env, CudaSyncDebugMode, "cudaSyncDebugMode"));
  exports.Set("version", Napi::Function::New(env, Version, "version"));
}

}  // namespace simclr
