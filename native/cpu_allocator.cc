// A caching CPU allocator for libtorch (the default; SIMCLR_MALLOC=glibc or =default turn it
// off), built like PyTorch's CUDA caching allocator. A training step allocates and frees the
// same activation sizes every step: after the first step no page is faulted in again and
// nothing fragments glibc's heap.
//
// Blocks of 1 MiB and more (rounded up to 64 KiB) are carved out of segments, each one
// anonymous mmap of its own. A request takes the smallest free block that fits (best fit) and
// splits off the rest when the rest is 1 MiB or more; a freed block merges with free
// neighbours of its segment. Splitting is what keeps memory low: a block freed early in the
// forward pass serves two smaller ones later, so the cache holds little beyond the step's peak
// (measured on traces of the step, BENCHMARKS.md "Peak RSS": free lists by exact size needed
// 1.25x the peak live bytes to stop missing; best fit needs 1.05x). Reserved bytes (all
// segments) are held under 1.05x the most ever live: a request that needs a new segment first
// unmaps wholly free segments, largest first, while over that bound. Segments are returned
// with munmap, so released memory leaves the process (freeing through glibc would not).
// Smaller blocks go to glibc (c10::alloc_cpu). One deleter serves both: libtorch checks it.
#include "common.h"
#include "torch_compat.h"

#include <c10/core/CPUAllocator.h>
#include <c10/core/impl/alloc_cpu.h>
#include <c10/util/Exception.h>

#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace simclr {
namespace {

constexpr size_t kMinCached = 1 << 20;  // smaller requests go to malloc; no smaller remainder is split off
constexpr size_t kRound = 1 << 16;      // large requests and segments are multiples of 64 KiB
constexpr double kBound = 1.05;         // reserved <= kBound x peak live, where a free segment allows it

// A piece of a segment, free or handed out. Blocks of one segment form a list in address order.
struct Block {
  char* ptr;
  size_t size;
  bool free;
  Block* prev;
  Block* next;
};

class CachingCpuAllocator final : public at::Allocator {
 public:
  at::DataPtr allocate(size_t n) SIMCLR_ALLOCATE_CONST override {
    if (n < kMinCached) {
      void* small = c10::alloc_cpu(n);
      return {small, small, &Delete, at::Device(at::DeviceType::CPU)};
    }
    TORCH_CHECK(n <= SIZE_MAX / 2, "CPU allocator: cannot allocate ", n, " bytes");
    size_t size = (n + kRound - 1) / kRound * kRound;
    std::lock_guard<std::mutex> lock(mu_);
    Block* block = TakeFree(size);
    if (block == nullptr) block = NewSegment(size);
    try {
      live_.emplace(block->ptr, block);
    } catch (...) {  // out of memory for the map's node: the block goes back to the cache
      FreeBlock(block);
      throw;
    }
    live_bytes_ += block->size;
    if (live_bytes_ > stats_.peak_live) stats_.peak_live = live_bytes_;
    if (trace_ != nullptr) std::fprintf(trace_, "a %zu %p\n", n, static_cast<void*>(block->ptr));
    return {block->ptr, block->ptr, &Delete, at::Device(at::DeviceType::CPU)};
  }

  at::DeleterFnPtr raw_deleter() const override { return &Delete; }

  // Pure virtual in 2.x (see torch_compat.h); a plain method in 1.13.
  void copy_data(void* dest, const void* src, std::size_t count) const { std::memcpy(dest, src, count); }

  static void Delete(void* p);

  void Release(void* p) const {
    if (p == nullptr) return;
    std::unique_lock<std::mutex> lock(mu_);
    auto it = live_.find(p);
    if (it == live_.end()) {  // a small block: malloc's
      lock.unlock();
      c10::free_cpu(p);
      return;
    }
    Block* block = it->second;
    live_.erase(it);
    live_bytes_ -= block->size;
    if (trace_ != nullptr) std::fprintf(trace_, "f %p\n", p);
    FreeBlock(block);
  }

  CpuAllocatorStats Stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    CpuAllocatorStats s = stats_;
    s.live = live_bytes_;
    s.reserved = reserved_;
    return s;
  }

 private:
  // Puts a block back in the cache, merged with its free neighbours. Caller holds mu_.
  void FreeBlock(Block* block) const {
    block->free = true;
    if (block->next != nullptr && block->next->free) Merge(block, block->next);
    if (block->prev != nullptr && block->prev->free) {
      Block* prev = block->prev;
      Merge(prev, block);
      block = prev;
    }
    free_.emplace(Key(block), block);
  }

  using FreeKey = std::pair<size_t, uintptr_t>;  // best fit: smallest size, then lowest address
  static FreeKey Key(const Block* b) { return {b->size, reinterpret_cast<uintptr_t>(b->ptr)}; }

  // The smallest free block of at least `size` bytes, split to `size` when the rest is large
  // enough to keep; nullptr when none fits. Caller holds mu_.
  Block* TakeFree(size_t size) const {
    auto it = free_.lower_bound({size, 0});
    if (it == free_.end()) return nullptr;
    Block* block = it->second;
    Block* rest = block->size - size >= kMinCached ? new Block{} : nullptr;  // may throw: before any change
    free_.erase(it);
    block->free = false;
    if (rest != nullptr) {
      *rest = Block{block->ptr + size, block->size - size, true, block, block->next};
      if (block->next != nullptr) block->next->prev = rest;
      block->next = rest;
      block->size = size;
      free_.emplace(Key(rest), rest);
    }
    return block;
  }

  // Absorbs `b` (free, just after `a`) into `a`. Caller holds mu_; `a` is not in free_ after.
  void Merge(Block* a, Block* b) const {
    free_.erase(Key(a));
    free_.erase(Key(b));
    a->size += b->size;
    a->next = b->next;
    if (b->next != nullptr) b->next->prev = a;
    delete b;
  }

  // A new segment of `size` bytes, handed out whole. Free segments are unmapped first while
  // the reserved bytes would exceed the bound, and all of them if mmap fails. Caller holds mu_.
  Block* NewSegment(size_t size) const {
    size_t peak = live_bytes_ + size > stats_.peak_live ? live_bytes_ + size : stats_.peak_live;
    size_t bound = static_cast<size_t>(kBound * static_cast<double>(peak));
    while (reserved_ + size > bound && UnmapLargestFreeSegment()) {
    }
    Block* block = new Block{nullptr, size, false, nullptr, nullptr};  // may throw: before the mapping
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      while (UnmapLargestFreeSegment()) {
      }
      p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    }
    if (p == MAP_FAILED) delete block;
    TORCH_CHECK(p != MAP_FAILED, "CPU allocator: not enough memory: tried to allocate ", size, " bytes (", live_bytes_,
                " bytes in use)");
    block->ptr = static_cast<char*>(p);
    reserved_ += size;
    stats_.segments_mapped += 1;
    if (reserved_ > stats_.peak_reserved) stats_.peak_reserved = reserved_;
    return block;
  }

  // Unmaps the largest segment with nothing handed out of it; false when there is none.
  bool UnmapLargestFreeSegment() const {
    for (auto it = free_.rbegin(); it != free_.rend(); ++it) {
      Block* b = it->second;
      if (b->prev != nullptr || b->next != nullptr) continue;  // part of a segment still in use
      free_.erase(std::next(it).base());
      munmap(b->ptr, b->size);
      reserved_ -= b->size;
      stats_.segments_unmapped += 1;
      delete b;
      return true;
    }
    return false;
  }

  // SIMCLR_ALLOC_TRACE=FILE: every large allocation ("a <bytes> <ptr>") and free ("f <ptr>"),
  // for bench/allocator-replay.ts, which replays a step through other allocator designs.
  std::FILE* trace_ = std::getenv("SIMCLR_ALLOC_TRACE") != nullptr ? std::fopen(std::getenv("SIMCLR_ALLOC_TRACE"), "w") : nullptr;
  mutable std::mutex mu_;
  mutable std::map<FreeKey, Block*> free_;
  mutable std::unordered_map<void*, Block*> live_;
  mutable size_t live_bytes_ = 0;
  mutable size_t reserved_ = 0;
  mutable CpuAllocatorStats stats_{};
};

CachingCpuAllocator* instance = nullptr;

void CachingCpuAllocator::Delete(void* p) { instance->Release(p); }

}  // namespace

// Installs the caching allocator (before any tensor exists) unless SIMCLR_MALLOC names another
// mode or glibc's own malloc variables are set (the user tunes malloc themselves).
// Once per process: the addon's init runs again in every worker thread that loads it, and a
// second instance would be handed the first one's blocks to free.
bool InstallCachingCpuAllocator() {
  static std::once_flag once;
  static bool installed = false;
  std::call_once(once, [] {
    const char* mode = std::getenv("SIMCLR_MALLOC");
    if (mode != nullptr && mode[0] != '\0' && std::strcmp(mode, "caching") != 0) return;
    if (std::getenv("MALLOC_MMAP_THRESHOLD_") != nullptr || std::getenv("MALLOC_TRIM_THRESHOLD_") != nullptr) return;
    instance = new CachingCpuAllocator();
    c10::SetCPUAllocator(instance, /*priority=*/1);
    installed = true;
  });
  return installed;
}

bool CachingCpuAllocatorStats(CpuAllocatorStats* out) {
  if (instance == nullptr) return false;
  *out = instance->Stats();
  return true;
}

}  // namespace simclr
