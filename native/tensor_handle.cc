// The JS handle that owns an at::Tensor, and the reads that don't go through operators.
#include "common.h"

#include <atomic>
#include <cstring>

namespace simclr {
namespace {

std::atomic<int64_t> live_handles{0};

// Marks JS objects made by this addon as tensor handles (random, fixed).
const napi_type_tag kHandleTag = {0x5a1c3f0e9b7d4a21ULL, 0x8e2f6c1d0b9a7354ULL};

struct AddonData {
  Napi::FunctionReference tensor_ctor;
};

// Bytes this tensor newly owns. A view shares its base's storage, so only a storage held by
// this tensor alone is reported to V8; it is a hint for the GC, not an exact account.
int64_t OwnedBytes(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return 0;
  const auto& storage = t.storage();
  if (storage.use_count() != 1) return 0;
  return static_cast<int64_t>(storage.nbytes());
}

}  // namespace

Napi::Function TensorHandle::Init(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "TensorHandle", {
      InstanceMethod<&TensorHandle::Dispose>("dispose"),
      InstanceMethod<&TensorHandle::IsDisposed>("isDisposed"),
      InstanceMethod<&TensorHandle::Shape>("shape"),
      InstanceMethod<&TensorHandle::Strides>("strides"),
      InstanceMethod<&TensorHandle::Dtype>("dtype"),
      InstanceMethod<&TensorHandle::Device>("device"),
      InstanceMethod<&TensorHandle::Numel>("numel"),
      InstanceMethod<&TensorHandle::RequiresGrad>("requiresGrad"),
      InstanceMethod<&TensorHandle::SetRequiresGrad>("setRequiresGrad"),
      InstanceMethod<&TensorHandle::IsLeaf>("isLeaf"),
      InstanceMethod<&TensorHandle::Grad>("grad"),
      InstanceMethod<&TensorHandle::SetGrad>("setGrad"),
      InstanceMethod<&TensorHandle::RetainGrad>("retainGrad"),
      InstanceMethod<&TensorHandle::Backward>("backward"),
      InstanceMethod<&TensorHandle::ToBuffer>("toBuffer"),
      InstanceMethod<&TensorHandle::Item>("item"),
      InstanceMethod<&TensorHandle::SameAs>("sameAs"),
  });
  auto* data = new AddonData();
  data->tensor_ctor = Napi::Persistent(ctor);
  env.SetInstanceData<AddonData>(data);
  return ctor;
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {
  napi_type_tag_object(info.Env(), info.This(), &kHandleTag);
}

TensorHandle::~TensorHandle() {
  if (tensor_.defined()) live_handles--;
}

void TensorHandle::Finalize(Napi::Env env) { Release(env); }

void TensorHandle::Release(Napi::Env env) {
  if (!tensor_.defined()) return;
  tensor_ = at::Tensor();
  live_handles--;
  if (reported_bytes_ != 0) {
    Napi::MemoryManagement::AdjustExternalMemory(env, -reported_bytes_);
    reported_bytes_ = 0;
  }
}

Napi::Value TensorHandle::Wrap(Napi::Env env, at::Tensor t) {
  if (!t.defined()) return env.Null();
  Napi::Object obj = env.GetInstanceData<AddonData>()->tensor_ctor.New({});
  TensorHandle* h = TensorHandle::Unwrap(obj);
  h->reported_bytes_ = OwnedBytes(t);
  h->tensor_ = std::move(t);
  live_handles++;
  if (h->reported_bytes_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, h->reported_bytes_);
  return obj;
}

TensorHandle* TensorHandle::Find(const Napi::Env& env, const Napi::Value& v) {
  if (!v.IsObject()) return nullptr;
  bool tagged = false;
  if (napi_check_object_type_tag(env, v, &kHandleTag, &tagged) != napi_ok || !tagged) return nullptr;
  TensorHandle* h = nullptr;
  if (napi_unwrap(env, v, reinterpret_cast<void**>(&h)) != napi_ok) return nullptr;
  return h;
}

const at::Tensor& TensorHandle::Get(const Napi::Env& env, const Napi::Value& v, const std::string& what) {
  TensorHandle* h = Find(env, v);
  if (h == nullptr) throw Napi::TypeError::New(env, what + " must be a Tensor");
  if (h->disposed()) throw Napi::Error::New(env, what + ": the tensor was disposed and cannot be used again");
  return h->tensor_;
}

int64_t TensorHandle::LiveCount() { return live_handles.load(); }

const at::Tensor& TensorHandle::Live(const Napi::Env& env) const {
  if (!tensor_.defined()) {
    throw Napi::Error::New(env, "the tensor was disposed and cannot be used again");
  }
  return tensor_;
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  Release(info.Env());
  return info.Env().Undefined();
}

Napi::Value TensorHandle::IsDisposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !tensor_.defined());
}

static Napi::Array IntArray(Napi::Env env, at::IntArrayRef values) {
  Napi::Array out = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) out.Set(i, Napi::Number::New(env, static_cast<double>(values[i])));
  return out;
}

Napi::Value TensorHandle::Shape(const Napi::CallbackInfo& info) { return IntArray(info.Env(), Live(info.Env()).sizes()); }

Napi::Value TensorHandle::Strides(const Napi::CallbackInfo& info) { return IntArray(info.Env(), Live(info.Env()).strides()); }

Napi::Value TensorHandle::Dtype(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<int>(Live(info.Env()).scalar_type()));
}

Napi::Value TensorHandle::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), Live(info.Env()).device().str());
}

Napi::Value TensorHandle::Numel(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Live(info.Env()).numel()));
}

Napi::Value TensorHandle::RequiresGrad(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Live(info.Env()).requires_grad());
}

Napi::Value TensorHandle::SetRequiresGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = Live(env);
  bool flag = info[0].ToBoolean();
  return Guard(env, "requiresGrad", [&] {
    // set_requires_grad rejects integer tensors and non-leaves with libtorch's message.
    const_cast<at::Tensor&>(t).set_requires_grad(flag);
    return env.Undefined();
  });
}

Napi::Value TensorHandle::IsLeaf(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), Live(info.Env()).is_leaf());
}

Napi::Value TensorHandle::Grad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = Live(env);
  return Guard(env, "grad", [&] { return Wrap(env, t.grad()); });
}

Napi::Value TensorHandle::SetGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = Live(env);
  at::Tensor g;
  if (!info[0].IsNull() && !info[0].IsUndefined()) g = Get(env, info[0], "grad");
  return Guard(env, "grad", [&] {
    if (g.defined() && !g.sizes().equals(t.sizes())) {
      throw std::invalid_argument("a gradient must have the tensor's shape");
    }
    const_cast<at::Tensor&>(t).mutable_grad() = g;
    return env.Undefined();
  });
}

Napi::Value TensorHandle::RetainGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = Live(env);
  return Guard(env, "retainGrad", [&] {
    t.retain_grad();
    return env.Undefined();
  });
}

// backward(gradient | null, retainGraph, createGraph)
Napi::Value TensorHandle::Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = Live(env);
  at::Tensor grad;
  if (info.Length() > 0 && !info[0].IsNull() && !info[0].IsUndefined()) grad = Get(env, info[0], "backward gradient");
  bool retain = info.Length() > 1 && info[1].ToBoolean();
  bool create = info.Length() > 2 && info[2].ToBoolean();
  return Guard(env, "backward", [&] {
    t.backward(grad, retain, create);
    return env.Undefined();
  });
}

// A copy of the elements, contiguous and on the CPU, in the tensor's own dtype.
Napi::Value TensorHandle::ToBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = Live(env);
  return Guard(env, "data", [&] {
    at::Tensor c = t.detach().to(at::kCPU).contiguous();
    size_t nbytes = c.numel() * c.element_size();
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, nbytes);
    if (nbytes > 0) std::memcpy(buffer.Data(), c.data_ptr(), nbytes);
    return buffer;
  });
}

Napi::Value TensorHandle::Item(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& t = Live(env);
  return Guard(env, "item", [&]() -> Napi::Value {
    at::Scalar s = t.item();
    if (s.isBoolean()) return Napi::Boolean::New(env, s.toBool());
    return Napi::Number::New(env, s.toDouble());
  });
}

// Whether two handles hold the same tensor object (in-place results, aliases).
Napi::Value TensorHandle::SameAs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& a = Live(env);
  const at::Tensor& b = Get(env, info[0], "other");
  return Napi::Boolean::New(env, a.is_same(b));
}

}  // namespace simclr
