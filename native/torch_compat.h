// Every difference between the libtorch versions this binding builds against (Debian's 1.13.1,
// pip's 2.x) is written here, and only here.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/version.h>

#include <string>

#define SIMCLR_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace c10d {
class ProcessGroup;
class Backend;
}  // namespace c10d

namespace simclr::compat {

// c10d 1.x: a process group is a c10d::ProcessGroup (ProcessGroupGloo derives from it).
// 2.x: ProcessGroup became a front end over backends, and ProcessGroupGloo/NCCL are Backends.
#if SIMCLR_TORCH_AT_LEAST(2, 0)
using Group = c10d::Backend;
#else
using Group = c10d::ProcessGroup;
#endif

// Autocast on/off and its dtype for "cpu" or "cuda". 2.4 replaced the per-device setters with
// ones that take the device type.
inline void SetAutocast(const std::string& device, bool enabled, at::ScalarType dtype) {
#if SIMCLR_TORCH_AT_LEAST(2, 4)
  const at::DeviceType type = device == "cpu" ? at::kCPU : at::kCUDA;
  at::autocast::set_autocast_dtype(type, dtype);
  at::autocast::set_autocast_enabled(type, enabled);
#else
  if (device == "cpu") {
    at::autocast::set_autocast_cpu_dtype(dtype);
    at::autocast::set_cpu_enabled(enabled);
  } else {
    at::autocast::set_autocast_gpu_dtype(dtype);
    at::autocast::set_enabled(enabled);
  }
#endif
}

// c10::Allocator::allocate is const in 1.13 and not in 2.x (upstream changed it in 2.3, together
// with adding the pure virtual copy_data, which the allocator defines for both).
#if SIMCLR_TORCH_AT_LEAST(2, 3)
#define SIMCLR_ALLOCATE_CONST
#else
#define SIMCLR_ALLOCATE_CONST const
#endif

inline std::string TorchVersion() {
  return std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." + std::to_string(TORCH_VERSION_PATCH);
}

}  // namespace simclr::compat
