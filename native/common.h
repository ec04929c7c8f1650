// Shared helpers for the libtorch binding: exception translation and the tensor table.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>

#include <string>

namespace simclr {

// Runs `body`, turning libtorch and C++ exceptions into JS errors. libtorch's c10::Error
// carries a C++ backtrace in what(); users get the message without it.
template <typename F>
auto Guard(const Napi::Env& env, const char* where, F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Napi::Error::New(env, std::string(where) + ": " + e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string(where) + ": " + e.what());
  }
}

// JS refers to tensors by number: an id names a slot of this table and the slot's
// generation, so an id of a freed tensor never reaches a later tensor in the same slot
// (it is reported as disposed instead). Plain numbers cost JS nothing to create or pass,
// and need no per-object finalizer (see docs/native.md).
namespace tensors {

// Stores `t` and returns its id as a JS number; an undefined tensor becomes null.
Napi::Value Add(const Napi::Env& env, at::Tensor t);

enum class Lookup { kOk, kNotAnId, kDisposed };

// The tensor behind `v`, or nullptr with the reason in `why`.
const at::Tensor* Find(const Napi::Value& v, Lookup* why);

// The tensor behind `v`; throws a JS error naming `what` if `v` is not a live id.
const at::Tensor& Get(const Napi::Env& env, const Napi::Value& v, const char* what);

// Frees the slot of `v` (no-op for an id already freed).
void Free(const Napi::Env& env, const Napi::Value& v);

int64_t LiveCount();
// See scope_open in tensor_table.cc: whether new tensors' bytes are reported to V8.
void SetScopeOpen(bool open);
// Reports a tensor that left its scope (now the GC's to free) to V8, once.
void ReportToGc(const Napi::Env& env, const Napi::Value& v);

}  // namespace tensors

// cpu_allocator.cc: installs the caching CPU allocator (the default); false when SIMCLR_MALLOC
// or glibc's MALLOC_* variables ask for another allocator.
bool InstallCachingCpuAllocator();

// The caching allocator's counters, in bytes of blocks of 1 MiB and more (smaller ones are malloc's).
struct CpuAllocatorStats {
  size_t live;               // handed out now
  size_t reserved;           // mapped now (handed out, or cached in segments)
  size_t peak_live;
  size_t peak_reserved;
  size_t segments_mapped;    // mmap calls so far: a steady training step adds none
  size_t segments_unmapped;  // segments given back to the system
};
// Fills `out`; false when the caching allocator is not installed.
bool CachingCpuAllocatorStats(CpuAllocatorStats* out);

// Registration functions of the translation units.
void InitTensorApi(Napi::Env env, Napi::Object exports);
void InitOps(Napi::Env env, Napi::Object exports);
void InitRuntime(Napi::Env env, Napi::Object exports);
void InitColorKernel(Napi::Env env, Napi::Object exports);
void InitDist(Napi::Env env, Napi::Object exports);
void InitProfiler(Napi::Env env, Napi::Object exports);

}  // namespace simclr
