// One generic entry point for every ATen operator: look the operator up once by name,
// then call it through the dispatcher's boxed interface, converting each JS argument to an
// IValue by the operator's schema. Autograd, autocast and device dispatch all happen inside
// the dispatcher, exactly as for a PyTorch call. See docs/native.md for why.
#include "common.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/function_schema.h>
#include <ATen/core/ivalue.h>

#include <memory>
#include <sstream>
#include <vector>

namespace simclr {
namespace {

enum class Kind { Tensor, Int, Float, Bool, Scalar, String, Device, Generator, List, Unsupported };

struct ArgSpec {
  std::string name;
  Kind kind = Kind::Unsupported;
  bool optional = false;
  Kind elem = Kind::Unsupported;   // element kind, for lists
  bool elem_optional = false;      // Tensor?[]
  int64_t fixed_size = -1;         // int[2]: a single number is repeated
  c10::optional<c10::IValue> default_value;
  std::string type_text;
};

struct OpEntry {
  c10::OperatorHandle handle;
  std::string label;
  std::vector<ArgSpec> args;
};

std::vector<std::unique_ptr<OpEntry>>& Registry() {
  static std::vector<std::unique_ptr<OpEntry>> ops;
  return ops;
}

Kind KindOf(const c10::TypePtr& type) {
  switch (type->kind()) {
    case c10::TypeKind::TensorType: return Kind::Tensor;
    case c10::TypeKind::IntType:
    case c10::TypeKind::SymIntType:
    case c10::TypeKind::ScalarTypeType:
    case c10::TypeKind::LayoutType:
    case c10::TypeKind::MemoryFormatType: return Kind::Int;
    case c10::TypeKind::FloatType:
    case c10::TypeKind::SymFloatType: return Kind::Float;
    case c10::TypeKind::BoolType: return Kind::Bool;
    case c10::TypeKind::NumberType: return Kind::Scalar;
    case c10::TypeKind::StringType: return Kind::String;
    case c10::TypeKind::DeviceObjType: return Kind::Device;
    case c10::TypeKind::GeneratorType: return Kind::Generator;
    case c10::TypeKind::ListType: return Kind::List;
    default: return Kind::Unsupported;
  }
}

ArgSpec SpecOf(const c10::Argument& arg) {
  ArgSpec spec;
  spec.name = arg.name();
  spec.type_text = arg.type()->str();
  spec.default_value = arg.default_value();
  c10::TypePtr type = arg.type();
  if (type->kind() == c10::TypeKind::OptionalType) {
    spec.optional = true;
    type = type->expectRef<c10::OptionalType>().getElementType();
  }
  spec.kind = KindOf(type);
  if (spec.kind == Kind::List) {
    c10::TypePtr elem = type->expectRef<c10::ListType>().getElementType();
    if (elem->kind() == c10::TypeKind::OptionalType) {
      spec.elem_optional = true;
      elem = elem->expectRef<c10::OptionalType>().getElementType();
    }
    spec.elem = KindOf(elem);
    if (arg.N()) spec.fixed_size = static_cast<int64_t>(*arg.N());
  }
  return spec;
}

[[noreturn]] void ArgError(const Napi::Env& env, const OpEntry& op, const ArgSpec& spec, const std::string& what) {
  throw Napi::TypeError::New(env, op.label + ": argument '" + spec.name + "' (" + spec.type_text + ") " + what);
}

const char* JsTypeName(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsNumber()) return "a number";
  if (v.IsBoolean()) return "a boolean";
  if (v.IsString()) return "a string";
  if (v.IsArray()) return "an array";
  return "an object";
}

int64_t ToInt(const Napi::Env& env, const OpEntry& op, const ArgSpec& spec, const Napi::Value& v) {
  if (!v.IsNumber()) ArgError(env, op, spec, std::string("expects an integer, got ") + JsTypeName(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<int64_t>(d))) ArgError(env, op, spec, "expects an integer, got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

const at::Tensor& TensorArg(const Napi::Env& env, const OpEntry& op, const ArgSpec& spec, const Napi::Value& v) {
  tensors::Lookup why;
  const at::Tensor* t = tensors::Find(v, &why);
  if (t == nullptr) {
    if (why == tensors::Lookup::kDisposed) ArgError(env, op, spec, "is a tensor that was disposed and cannot be used again");
    ArgError(env, op, spec, std::string("expects a Tensor, got ") + JsTypeName(v));
  }
  return *t;
}

c10::IValue ToListIValue(const Napi::Env& env, const OpEntry& op, const ArgSpec& spec, const Napi::Value& v) {
  if (spec.elem == Kind::Int && v.IsNumber() && spec.fixed_size > 0) {
    int64_t x = ToInt(env, op, spec, v);
    return c10::IValue(c10::List<int64_t>(std::vector<int64_t>(spec.fixed_size, x)));
  }
  if (!v.IsArray()) ArgError(env, op, spec, std::string("expects an array, got ") + JsTypeName(v));
  Napi::Array arr = v.As<Napi::Array>();
  uint32_t n = arr.Length();
  switch (spec.elem) {
    case Kind::Int: {
      c10::List<int64_t> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; i++) out.push_back(ToInt(env, op, spec, arr.Get(i)));
      return c10::IValue(std::move(out));
    }
    case Kind::Float: {
      c10::List<double> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; i++) {
        Napi::Value e = arr.Get(i);
        if (!e.IsNumber()) ArgError(env, op, spec, "expects numbers");
        out.push_back(e.As<Napi::Number>().DoubleValue());
      }
      return c10::IValue(std::move(out));
    }
    case Kind::Bool: {
      c10::List<bool> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; i++) {
        Napi::Value e = arr.Get(i);
        if (!e.IsBoolean()) ArgError(env, op, spec, "expects booleans");
        out.push_back(e.As<Napi::Boolean>().Value());
      }
      return c10::IValue(std::move(out));
    }
    case Kind::Tensor: {
      if (spec.elem_optional) {
        c10::List<c10::optional<at::Tensor>> out;
        out.reserve(n);
        for (uint32_t i = 0; i < n; i++) {
          Napi::Value e = arr.Get(i);
          if (e.IsNull() || e.IsUndefined()) out.push_back(c10::nullopt);
          else out.push_back(TensorArg(env, op, spec, e));
        }
        return c10::IValue(std::move(out));
      }
      c10::List<at::Tensor> out;
      out.reserve(n);
      for (uint32_t i = 0; i < n; i++) {
        out.push_back(TensorArg(env, op, spec, arr.Get(i)));
      }
      return c10::IValue(std::move(out));
    }
    default:
      ArgError(env, op, spec, "has a list type this binding does not convert");
  }
}

c10::IValue ToIValue(const Napi::Env& env, const OpEntry& op, const ArgSpec& spec, const Napi::Value& v) {
  if (v.IsUndefined()) {
    if (spec.default_value) return *spec.default_value;
    if (spec.optional) return c10::IValue();
    ArgError(env, op, spec, "is required");
  }
  if (v.IsNull()) {
    if (spec.optional) return c10::IValue();
    ArgError(env, op, spec, "cannot be null");
  }
  switch (spec.kind) {
    case Kind::Tensor:
      return c10::IValue(TensorArg(env, op, spec, v));
    case Kind::Int:
      return c10::IValue(ToInt(env, op, spec, v));
    case Kind::Float:
      if (!v.IsNumber()) ArgError(env, op, spec, std::string("expects a number, got ") + JsTypeName(v));
      return c10::IValue(v.As<Napi::Number>().DoubleValue());
    case Kind::Bool:
      if (!v.IsBoolean()) ArgError(env, op, spec, std::string("expects a boolean, got ") + JsTypeName(v));
      return c10::IValue(v.As<Napi::Boolean>().Value());
    case Kind::Scalar: {
      // Like a Python literal: an integral number is an int Scalar (keeps integer tensors
      // integer), anything else a double.
      if (v.IsBoolean()) return c10::IValue(v.As<Napi::Boolean>().Value());
      if (!v.IsNumber()) ArgError(env, op, spec, std::string("expects a number, got ") + JsTypeName(v));
      double d = v.As<Napi::Number>().DoubleValue();
      if (std::isfinite(d) && d == static_cast<double>(static_cast<int64_t>(d)) && std::abs(d) < 9007199254740992.0) {
        return c10::IValue(static_cast<int64_t>(d));
      }
      return c10::IValue(d);
    }
    case Kind::String:
      if (!v.IsString()) ArgError(env, op, spec, std::string("expects a string, got ") + JsTypeName(v));
      return c10::IValue(v.As<Napi::String>().Utf8Value());
    case Kind::Device:
      if (!v.IsString()) ArgError(env, op, spec, std::string("expects a device string, got ") + JsTypeName(v));
      return Guard(env, op.label.c_str(), [&] { return c10::IValue(c10::Device(v.As<Napi::String>().Utf8Value())); });
    case Kind::Generator:
      ArgError(env, op, spec, "takes only null: the default generator is used");
    case Kind::List:
      return ToListIValue(env, op, spec, v);
    default:
      ArgError(env, op, spec, "has a type this binding does not convert");
  }
}

Napi::Value FromIValue(const Napi::Env& env, c10::IValue&& v) {
  if (v.isTensor()) return tensors::Add(env, std::move(v).toTensor());
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(i, tensors::Add(env, list.get(i)));
    return out;
  }
  if (v.isIntList()) {
    auto list = v.toIntList();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); i++) out.Set(i, Napi::Number::New(env, static_cast<double>(list.get(i))));
    return out;
  }
  if (v.isTuple()) {
    auto elements = v.toTupleRef().elements();
    Napi::Array out = Napi::Array::New(env, elements.size());
    for (size_t i = 0; i < elements.size(); i++) out.Set(i, FromIValue(env, c10::IValue(elements[i])));
    return out;
  }
  std::ostringstream s;
  s << "an operator returned a value of type " << v.tagKind() << " that this binding does not convert";
  throw Napi::Error::New(env, s.str());
}

OpEntry& EntryAt(const Napi::Env& env, const Napi::Value& id) {
  auto& ops = Registry();
  if (!id.IsNumber()) throw Napi::TypeError::New(env, "operator id must be a number");
  uint32_t i = id.As<Napi::Number>().Uint32Value();
  if (i >= ops.size()) throw Napi::RangeError::New(env, "unknown operator id " + std::to_string(i));
  return *ops[i];
}

// opHandle(name, overload) -> id. Throws if libtorch has no such operator.
Napi::Value OpHandle(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].As<Napi::String>().Utf8Value();
  std::string overload = info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "";
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) {
    throw Napi::Error::New(env, "libtorch has no operator " + name + (overload.empty() ? "" : "." + overload));
  }
  auto entry = std::make_unique<OpEntry>(OpEntry{*handle, name + (overload.empty() ? "" : "." + overload), {}});
  for (const auto& arg : handle->schema().arguments()) entry->args.push_back(SpecOf(arg));
  auto& ops = Registry();
  ops.push_back(std::move(entry));
  return Napi::Number::New(env, static_cast<double>(ops.size() - 1));
}

// Pushes info[1..] onto a stack by the schema and calls the operator.
void Invoke(const Napi::CallbackInfo& info, OpEntry& op, torch::jit::Stack& stack) {
  Napi::Env env = info.Env();
  size_t given = info.Length() - 1;
  if (given > op.args.size()) {
    throw Napi::TypeError::New(env, op.label + " takes " + std::to_string(op.args.size()) + " arguments, got " + std::to_string(given));
  }
  stack.reserve(op.args.size());
  for (size_t i = 0; i < op.args.size(); i++) {
    stack.push_back(ToIValue(env, op, op.args[i], i < given ? info[i + 1] : env.Undefined()));
  }
  Guard(env, op.label.c_str(), [&] {
    op.handle.callBoxed(&stack);
    return 0;
  });
}

// callOp(id, ...args) -> the result: a tensor id, a number, an array for several results.
Napi::Value CallOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpEntry& op = EntryAt(env, info[0]);
  torch::jit::Stack stack;
  Invoke(info, op, stack);
  if (stack.size() == 1) return FromIValue(env, std::move(stack[0]));
  if (stack.empty()) return env.Undefined();
  Napi::Array out = Napi::Array::New(env, stack.size());
  for (size_t i = 0; i < stack.size(); i++) out.Set(i, FromIValue(env, std::move(stack[i])));
  return out;
}

// callOpDiscard(id, ...args): for in-place operators, whose result aliases an argument.
Napi::Value CallOpDiscard(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  OpEntry& op = EntryAt(env, info[0]);
  torch::jit::Stack stack;
  Invoke(info, op, stack);
  return env.Undefined();
}

Napi::Value OpSchema(const Napi::CallbackInfo& info) {
  std::ostringstream s;
  s << EntryAt(info.Env(), info[0]).handle.schema();
  return Napi::String::New(info.Env(), s.str());
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) {
  exports.Set("opHandle", Napi::Function::New(env, OpHandle, "opHandle"));
  exports.Set("callOp", Napi::Function::New(env, CallOp, "callOp"));
  exports.Set("callOpDiscard", Napi::Function::New(env, CallOpDiscard, "callOpDiscard"));
  exports.Set("opSchema", Napi::Function::New(env, OpSchema, "opSchema"));
}

}  // namespace simclr
