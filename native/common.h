// Shared helpers for the libtorch binding: exception translation and the tensor handle.
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

// A JS object that owns one at::Tensor. dispose() releases it at once; the object's
// finalizer releases it if JS forgot to (a safety net, not the normal path).
class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  // Wraps `t` in a new JS handle. An undefined tensor becomes null.
  static Napi::Value Wrap(Napi::Env env, at::Tensor t);
  // The tensor behind a JS value; throws a JS TypeError naming `what` if it is not a live handle.
  static const at::Tensor& Get(const Napi::Env& env, const Napi::Value& v, const std::string& what);
  // The handle behind a JS value, or nullptr if it is not one (checked by type tag, so an
  // object wrapped by another addon is never misread).
  static TensorHandle* Find(const Napi::Env& env, const Napi::Value& v);
  bool disposed() const { return !tensor_.defined(); }
  const at::Tensor& tensor() const { return tensor_; }
  static int64_t LiveCount();

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;
  void Finalize(Napi::Env env) override;

 private:
  void Release(Napi::Env env);

  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value IsDisposed(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value Strides(const Napi::CallbackInfo& info);
  Napi::Value Dtype(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value Numel(const Napi::CallbackInfo& info);
  Napi::Value RequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value SetRequiresGrad(const Napi::CallbackInfo& info);
  Napi::Value IsLeaf(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value SetGrad(const Napi::CallbackInfo& info);
  Napi::Value RetainGrad(const Napi::CallbackInfo& info);
  Napi::Value Backward(const Napi::CallbackInfo& info);
  Napi::Value ToBuffer(const Napi::CallbackInfo& info);
  Napi::Value Item(const Napi::CallbackInfo& info);
  Napi::Value SameAs(const Napi::CallbackInfo& info);

  const at::Tensor& Live(const Napi::Env& env) const;

  at::Tensor tensor_;
  int64_t reported_bytes_ = 0;
};

// Registration functions of the other translation units.
void InitOps(Napi::Env env, Napi::Object exports);
void InitRuntime(Napi::Env env, Napi::Object exports);

}  // namespace simclr
