// A caching CPU allocator for libtorch (the default; SIMCLR_MALLOC=glibc or =default turn it
// off): blocks of 1 MiB and more are kept on free lists by size and handed out again to a
// request of the same size, the way PyTorch's CUDA allocator works. A training step allocates the same activation
// sizes every step, so after the first step nothing is page-faulted in again and nothing
// fragments glibc's heap. Live plus cached bytes are held under 1.25x the most ever live: a
// miss beyond that frees cached blocks (largest first) before allocating.
#include "common.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace simclr {
namespace {

constexpr size_t kMinCached = 1 << 20;
constexpr size_t kRound = 1 << 16;

class CachingCpuAllocator final : public at::Allocator {
 public:
  at::DataPtr allocate(size_t n) const override {
    if (n < kMinCached) {
      void* small = c10::alloc_cpu(n);
      return {small, small, &Delete, at::Device(at::DeviceType::CPU)};
    }
    size_t size = (n + kRound - 1) / kRound * kRound;
    void* p = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        p = it->second.back();
        it->second.pop_back();
        cached_ -= size;
      } else {
        size_t bound = peak_live_ + peak_live_ / 4;
        while (cached_ > 0 && live_ + cached_ + size > bound) EvictOne();
      }
      live_ += size;
      if (live_ > peak_live_) peak_live_ = live_;
    }
    if (p == nullptr) {
      try {
        p = c10::alloc_cpu(size);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu_);
        while (cached_ > 0) EvictOne();
        p = c10::alloc_cpu(size);  // throws again if memory is truly short
      }
      std::lock_guard<std::mutex> lock(mu_);
      sizes_[p] = size;
    }
    return {p, p, &Delete, at::Device(at::DeviceType::CPU)};
  }

  at::DeleterFnPtr raw_deleter() const override { return &Delete; }

  static void Delete(void* p);

 private:
  // Frees one cached block (of the largest cached size). Caller holds mu_.
  void EvictOne() const {
    auto victim = free_.end();
    for (auto it = free_.begin(); it != free_.end(); ++it) {
      if (!it->second.empty() && (victim == free_.end() || it->first > victim->first)) victim = it;
    }
    if (victim == free_.end()) return;
    void* p = victim->second.back();
    victim->second.pop_back();
    cached_ -= victim->first;
    sizes_.erase(p);
    c10::free_cpu(p);
  }

 public:
  void Release(void* p) const {
    if (p == nullptr) return;
    std::unique_lock<std::mutex> lock(mu_);
    auto it = sizes_.find(p);
    if (it == sizes_.end()) {  // a small block: not cached
      lock.unlock();
      c10::free_cpu(p);
      return;
    }
    size_t size = it->second;
    live_ -= size;
    free_[size].push_back(p);
    cached_ += size;
  }

 private:
  mutable std::mutex mu_;
  mutable std::unordered_map<size_t, std::vector<void*>> free_;
  mutable std::unordered_map<void*, size_t> sizes_;
  mutable size_t live_ = 0;
  mutable size_t cached_ = 0;
  mutable size_t peak_live_ = 0;
};

CachingCpuAllocator* instance = nullptr;

void CachingCpuAllocator::Delete(void* p) { instance->Release(p); }

}  // namespace

// Installs the caching allocator (before any tensor exists) unless SIMCLR_MALLOC names another
// mode or glibc's own malloc variables are set (the user tunes malloc themselves).
bool InstallCachingCpuAllocator() {
  const char* mode = std::getenv("SIMCLR_MALLOC");
  if (mode != nullptr && mode[0] != '\0' && std::strcmp(mode, "caching") != 0) return false;
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) return false;
  instance = new CachingCpuAllocator();
  c10::SetCPUAllocator(instance, /*priority=*/1);
  return true;
}

}  // namespace simclr
