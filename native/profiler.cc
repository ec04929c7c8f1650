// libtorch's operator profiler (the legacy, thread-local one that torch.autograd.profiler
// wraps), reduced to a table: for every operator name, its calls, total and self CPU time.
// profilerStart() turns it on for this thread (and at::launch tasks; the autograd engine's
// CPU work runs on the calling thread); profilerStop() turns it off and returns the table.
#include "common.h"

#include <torch/csrc/autograd/profiler_legacy.h>

#include <map>
#include <string>
#include <vector>

namespace simclr {
namespace {

namespace prof = torch::autograd::profiler;

// With shapes (the first argument true), each row is an operator at one set of input shapes.
bool with_shapes = false;

Napi::Value ProfilerStart(const Napi::CallbackInfo& info) {
  with_shapes = info.Length() > 0 && info[0].ToBoolean().Value();
  prof::enableProfilerLegacy(torch::profiler::impl::ProfilerConfig(torch::profiler::impl::ProfilerState::CPU, with_shapes));
  return info.Env().Undefined();
}

// " [512, 16, 28, 28] [16]": the shapes of an operator's tensor inputs ([] for a scalar or none).
std::string ShapesText(const std::vector<std::vector<int64_t>>& shapes) {
  std::string out;
  for (const auto& shape : shapes) {
    out += " [";
    for (size_t i = 0; i < shape.size(); i++) out += (i > 0 ? ", " : "") + std::to_string(shape[i]);
    out += "]";
  }
  return out;
}

struct Totals {
  int64_t calls = 0;
  double total_us = 0;
  double self_us = 0;
};

Napi::Value ProfilerStop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  prof::thread_event_lists lists = prof::disableProfilerLegacy();
  std::map<std::string, Totals> table;
  for (const auto& events : lists) {
    // Ranges nest on a thread: a stack pairs each push with its pop; a range's self time is
    // its elapsed time less its children's.
    struct Open {
      const prof::LegacyEvent* push;
      double children_us;
    };
    std::vector<Open> stack;
    for (const auto& e : events) {
      if (e.kind() == prof::EventKind::PushRange) {
        stack.push_back({&e, 0.0});
      } else if (e.kind() == prof::EventKind::PopRange && !stack.empty()) {
        Open open = stack.back();
        stack.pop_back();
        const double elapsed = open.push->cpuElapsedUs(e);
        Totals& t = table[with_shapes ? open.push->name() + ShapesText(open.push->shapes()) : std::string(open.push->name())];
        t.calls++;
        t.total_us += elapsed;
        t.self_us += elapsed - open.children_us;
        if (!stack.empty()) stack.back().children_us += elapsed;
      }
    }
  }
  Napi::Array out = Napi::Array::New(env, table.size());
  uint32_t i = 0;
  for (const auto& [name, t] : table) {
    Napi::Object row = Napi::Object::New(env);
    row.Set("name", name);
    row.Set("calls", Napi::Number::New(env, static_cast<double>(t.calls)));
    row.Set("totalUs", Napi::Number::New(env, t.total_us));
    row.Set("selfUs", Napi::Number::New(env, t.self_us));
    out.Set(i++, row);
  }
  return out;
}

}  // namespace

void InitProfiler(Napi::Env env, Napi::Object exports) {
  exports.Set("profilerStart", Napi::Function::New(env, ProfilerStart, "profilerStart"));
  exports.Set("profilerStop", Napi::Function::New(env, ProfilerStop, "profilerStop"));
}

}  // namespace simclr
