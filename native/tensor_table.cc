// The table of tensors JS holds ids for, and the tensor reads that don't go through
// operators (shape, dtype, data, autograd state).
#include "common.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace simclr {
namespace tensors {
namespace {

// An id is generation * 2^24 + slot index, exact in a double up to 2^53.
constexpr double kSlotSpan = 16777216.0;  // 2^24 slots
constexpr uint32_t kMaxGeneration = (1u << 29) - 1;

struct Slot {
  at::Tensor tensor;
  uint32_t generation = 1;
  int64_t reported_bytes = 0;
};

std::vector<Slot> slots;
std::vector<uint32_t> free_slots;
int64_t live = 0;
// Whether JS has a tidy() scope open (src/tensor/scope.ts sets it). A tensor made inside a
// scope is freed when the scope ends, so V8 is not told about its bytes: only memory that the
// garbage collector is responsible for is reported (tensors made outside every scope, and
// those that leave one, through ReportToGc). Reporting a scope's intermediates made V8 run
// 2-3x more mark-compact collections in a training step (BENCHMARKS.md, "external memory").
bool scope_open = false;

// Bytes this tensor newly owns. A view shares its base's storage, so only a storage held by
// this tensor alone is reported to V8; it is a hint for the GC, not an exact account.
int64_t OwnedBytes(const at::Tensor& t) {
  if (!t.has_storage()) return 0;
  const auto& storage = t.storage();
  if (storage.use_count() != 1) return 0;
  return static_cast<int64_t>(storage.nbytes());
}

Slot* SlotOf(const Napi::Value& v, Lookup* why) {
  if (!v.IsNumber()) {
    *why = Lookup::kNotAnId;
    return nullptr;
  }
  double id = v.As<Napi::Number>().DoubleValue();
  if (!(id >= kSlotSpan) || id != static_cast<double>(static_cast<int64_t>(id))) {
    *why = Lookup::kNotAnId;
    return nullptr;
  }
  auto raw = static_cast<int64_t>(id);
  auto index = static_cast<size_t>(raw % static_cast<int64_t>(kSlotSpan));
  auto generation = static_cast<uint32_t>(raw / static_cast<int64_t>(kSlotSpan));
  if (index >= slots.size() || generation > slots[index].generation) {
    *why = Lookup::kNotAnId;
    return nullptr;
  }
  Slot& slot = slots[index];
  if (slot.generation != generation || !slot.tensor.defined()) {
    *why = Lookup::kDisposed;
    return nullptr;
  }
  *why = Lookup::kOk;
  return &slot;
}

}  // namespace

Napi::Value Add(const Napi::Env& env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  size_t index;
  if (!free_slots.empty()) {
    index = free_slots.back();
    free_slots.pop_back();
  } else {
    if (slots.size() >= static_cast<size_t>(kSlotSpan)) throw Napi::RangeError::New(env, "more than 16,777,216 live tensors");
    index = slots.size();
    slots.emplace_back();
  }
  Slot& slot = slots[index];
  slot.reported_bytes = scope_open ? 0 : OwnedBytes(t);
  slot.tensor = std::move(t);
  live++;
  if (slot.reported_bytes != 0) Napi::MemoryManagement::AdjustExternalMemory(env, slot.reported_bytes);
  return Napi::Number::New(env, static_cast<double>(slot.generation) * kSlotSpan + static_cast<double>(index));
}

const at::Tensor* Find(const Napi::Value& v, Lookup* why) {
  Slot* slot = SlotOf(v, why);
  return slot == nullptr ? nullptr : &slot->tensor;
}

const at::Tensor& Get(const Napi::Env& env, const Napi::Value& v, const char* what) {
  Lookup why;
  Slot* slot = SlotOf(v, &why);
  if (slot == nullptr) {
    if (why == Lookup::kDisposed) throw Napi::Error::New(env, std::string(what) + ": the tensor was disposed and cannot be used again");
    throw Napi::TypeError::New(env, std::string(what) + ": expected a tensor id");
  }
  return slot->tensor;
}

void Free(const Napi::Env& env, const Napi::Value& v) {
  Lookup why;
  Slot* slot = SlotOf(v, &why);
  if (slot == nullptr) return;
  slot->tensor = at::Tensor();
  if (slot->reported_bytes != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -slot->reported_bytes);
  slot->reported_bytes = 0;
  // A retired generation is never handed out again; past the last one the slot is dropped.
  if (slot->generation < kMaxGeneration) {
    slot->generation++;
    free_slots.push_back(static_cast<uint32_t>(slot - slots.data()));
  }
  live--;
}

int64_t LiveCount() { return live; }

void SetScopeOpen(bool open) { scope_open = open; }

void ReportToGc(const Napi::Env& env, const Napi::Value& v) {
  Lookup why;
  Slot* slot = SlotOf(v, &why);
  if (slot == nullptr || slot->reported_bytes != 0) return;
  slot->reported_bytes = OwnedBytes(slot->tensor);
  if (slot->reported_bytes != 0) Napi::MemoryManagement::AdjustExternalMemory(env, slot->reported_bytes);
}

}  // namespace tensors

namespace {

Napi::Array IntArray(Napi::Env env, at::IntArrayRef values) {
  Napi::Array out = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) out.Set(i, Napi::Number::New(env, static_cast<double>(values[i])));
  return out;
}

Napi::Value Dispose(const Napi::CallbackInfo& info) {
  tensors::Free(info.Env(), info[0]);
  return info.Env().Undefined();
}

Napi::Value IsLive(const Napi::CallbackInfo& info) {
  tensors::Lookup why;
  return Napi::Boolean::New(info.Env(), tensors::Find(info[0], &why) != nullptr);
}

Napi::Value Shape(const Napi::CallbackInfo& info) {
  return IntArray(info.Env(), tensors::Get(info.Env(), info[0], "shape").sizes());
}

Napi::Value Strides(const Napi::CallbackInfo& info) {
  return IntArray(info.Env(), tensors::Get(info.Env(), info[0], "strides").strides());
}

Napi::Value Dtype(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(tensors::Get(info.Env(), info[0], "dtype").scalar_type()));
}

Napi::Value Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tensors::Get(info.Env(), info[0], "device").device().str());
}

Napi::Value Numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(tensors::Get(info.Env(), info[0], "numel").numel()));
}

Napi::Value RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensors::Get(info.Env(), info[0], "requiresGrad").requires_grad());
}

Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensors::Get(env, info[0], "requiresGrad");
  bool flag = info[1].ToBoolean();
  return Guard(env, "requiresGrad", [&] {
    // set_requires_grad rejects integer tensors and non-leaves with libtorch's message.
    const_cast<at::Tensor&>(t).set_requires_grad(flag);
    return env.Undefined();
  });
}

Napi::Value IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensors::Get(info.Env(), info[0], "isLeaf").is_leaf());
}

Napi::Value Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensors::Get(env, info[0], "grad");
  return Guard(env, "grad", [&] { return tensors::Add(env, t.grad()); });
}

Napi::Value SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensors::Get(env, info[0], "grad");
  at::Tensor g;
  if (!info[1].IsNull() && !info[1].IsUndefined()) g = tensors::Get(env, info[1], "grad");
  return Guard(env, "grad", [&] {
    if (g.defined() && !g.sizes().equals(t.sizes())) throw std::invalid_argument("a gradient must have the tensor's shape");
    const_cast<at::Tensor&>(t).mutable_grad() = g;
    return env.Undefined();
  });
}

Napi::Value RetainGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensors::Get(env, info[0], "retainGrad");
  return Guard(env, "retainGrad", [&] {
    t.retain_grad();
    return env.Undefined();
  });
}

// backward(id, gradient id | null, retainGraph, createGraph)
Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensors::Get(env, info[0], "backward");
  at::Tensor grad;
  if (!info[1].IsNull() && !info[1].IsUndefined()) grad = tensors::Get(env, info[1], "backward gradient");
  bool retain = info[2].ToBoolean();
  bool create = info[3].ToBoolean();
  return Guard(env, "backward", [&] {
    t.backward(grad, retain, create);
    return env.Undefined();
  });
}

// A copy of the elements, contiguous and on the CPU, in the tensor's own dtype.
Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensors::Get(env, info[0], "data");
  return Guard(env, "data", [&] {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    size_t nbytes = c.numel() * c.element_size();
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, nbytes);
    if (nbytes > 0) std::memcpy(buffer.Data(), c.data_ptr(), nbytes);
    return buffer;
  });
}

// fromBuffer(bytes: typed array, shape: number[], dtype: number) -> id. Copies, so a later
// change to the JS array never changes the tensor behind autograd's back.
Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw Napi::TypeError::New(env, "fromBuffer: data must be a typed array");
  Napi::TypedArray data = info[0].As<Napi::TypedArray>();
  Napi::Array shape_js = info[1].As<Napi::Array>();
  std::vector<int64_t> shape(shape_js.Length());
  for (uint32_t i = 0; i < shape_js.Length(); i++) shape[i] = shape_js.Get(i).As<Napi::Number>().Int64Value();
  auto dtype = static_cast<at::ScalarType>(info[2].As<Napi::Number>().Int32Value());
  return Guard(env, "fromBuffer", [&] {
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(dtype));
    size_t nbytes = t.numel() * t.element_size();
    if (nbytes != data.ByteLength()) {
      throw std::invalid_argument("shape [" + c10::Join(", ", shape) + "] of " + std::string(c10::toString(dtype)) + " needs " +
                                  std::to_string(nbytes) + " bytes, the data has " + std::to_string(data.ByteLength()));
    }
    auto* src = static_cast<uint8_t*>(data.ArrayBuffer().Data()) + data.ByteOffset();
    if (nbytes > 0) std::memcpy(t.data_ptr(), src, nbytes);
    return tensors::Add(env, std::move(t));
  });
}

// adviseStorage(id, advice): madvise(2) over the pages of the tensor's whole storage, for a
// memory-mapped tensor (mapFile). advice: 0 normal, 1 random (no read-around on a fault),
// 2 sequential, 3 will need (read ahead now). A storage that is not page-backed memory is an
// error from madvise, passed on.
Napi::Value AdviseStorage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensors::Get(env, info[0], "adviseStorage");
  int which = info[1].As<Napi::Number>().Int32Value();
  return Guard(env, "adviseStorage", [&] {
    static const int kAdvice[] = {MADV_NORMAL, MADV_RANDOM, MADV_SEQUENTIAL, MADV_WILLNEED};
    if (which < 0 || which > 3) throw std::invalid_argument("advice must be 0-3");
    if (!t.has_storage() || t.storage().nbytes() == 0) return env.Undefined();
    auto page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    auto begin = reinterpret_cast<uintptr_t>(t.storage().data());
    auto end = begin + t.storage().nbytes();
    begin &= ~(page - 1);
    if (madvise(reinterpret_cast<void*>(begin), end - begin, kAdvice[which]) != 0) {
      throw std::runtime_error(std::string("madvise: ") + std::strerror(errno));
    }
    return env.Undefined();
  });
}

Napi::Value Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = tensors::Get(env, info[0], "item");
  return Guard(env, "item", [&]() -> Napi::Value {
    at::Scalar s = t.item();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    return Napi::Number::New(env, s.toDouble());
  });
}

Napi::Value SetScopeOpenFn(const Napi::CallbackInfo& info) {
  tensors::SetScopeOpen(info[0].ToBoolean().Value());
  return info.Env().Undefined();
}

Napi::Value ReportToGcFn(const Napi::CallbackInfo& info) {
  tensors::ReportToGc(info.Env(), info[0]);
  return info.Env().Undefined();
}

// V8's running total of external memory reported through AdjustExternalMemory (by every
// addon; ArrayBuffers are counted elsewhere), for tests of what the table reports.
Napi::Value ExternalMemory(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Napi::MemoryManagement::AdjustExternalMemory(info.Env(), 0)));
}

Napi::Value LiveTensors(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(tensors::LiveCount()));
}

}  // namespace

void InitTensorApi(Napi::Env env, Napi::Object exports) {
  auto add = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) {
    exports.Set(name, Napi::Function::New(env, fn, name));
  };
  add("dispose", Dispose);
  add("setScopeOpen", SetScopeOpenFn);
  add("reportToGc", ReportToGcFn);
  add("externalMemory", ExternalMemory);
  add("isLive", IsLive);
  add("shape", Shape);
  add("strides", Strides);
  add("dtype", Dtype);
  add("device", Device);
  add("numel", Numel);
  add("requiresGrad", RequiresGrad);
  add("setRequiresGrad", SetRequiresGrad);
  add("isLeaf", IsLeaf);
  add("grad", Grad);
  add("setGrad", SetGrad);
  add("retainGrad", RetainGrad);
  add("backward", Backward);
  add("toBuffer", ToBuffer);
  add("fromBuffer", FromBuffer);
  add("item", Item);
  add("adviseStorage", AdviseStorage);
  add("liveTensors", LiveTensors);
}

}  // namespace simclr
