// Process groups: libtorch's own distributed engine (c10d), as torch.distributed uses it.
// Rendezvous through c10d's TCPStore (rank 0 serves it), collectives through
// ProcessGroupGloo on the CPU, or ProcessGroupNCCL when this libtorch was built with it
// (SIMCLR_WITH_NCCL, set by CMakeLists.txt). Nothing here implements transport: it keeps a
// table of groups and pending works, and two autograd functions DDP-style training needs:
//   distAllGatherGrad   all-gather along dim 0 whose backward sums the gradient over ranks
//                       and returns this rank's slice (SimCLR's gathered negatives)
//   distSyncBatchNorm   batch norm over the global batch (SimCLR section 2.2, "Global BN")
// Every wait has the group's timeout, so a dead or hung rank is an error here, never a hang.
#include "common.h"
#include "torch_compat.h"

#include <torch/csrc/autograd/custom_function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
// The group, work and options types; the Gloo and NCCL headers below include it too, but a
// build with neither (a pip wheel without Gloo's headers) needs it on its own.
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#ifdef SIMCLR_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#ifdef SIMCLR_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace simclr {
namespace {

using compat::Group;

struct GroupEntry {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Group> group;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{60000};
  std::string backend;
  std::string device = "cpu";  // where the group's own small tensors go (barrier)
};

std::vector<std::unique_ptr<GroupEntry>>& Groups() {
  static std::vector<std::unique_ptr<GroupEntry>> groups;
  return groups;
}

GroupEntry& GroupById(int64_t id);

GroupEntry& GroupOf(const Napi::Env& env, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "process group id must be a number");
  return GroupById(v.As<Napi::Number>().Int64Value());
}

GroupEntry& GroupById(int64_t id) {
  auto& groups = Groups();
  TORCH_CHECK(id >= 0 && id < static_cast<int64_t>(groups.size()) && groups[id], "process group ", id, " does not exist (destroyed?)");
  return *groups[id];
}

// One line for the user: c10's C++ backtrace only with SIMCLR_DEBUG set (docs/distributed.md).
std::string Reason(const std::exception& e) {
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  if (c10 == nullptr || std::getenv("SIMCLR_DEBUG") != nullptr) return e.what();
  std::string text = c10->what_without_backtrace();
  return text.substr(0, text.find('\n'));
}

void Wait(GroupEntry& g, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait(g.timeout);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string(what) + " on rank " + std::to_string(g.rank) + " of " + std::to_string(g.size) + " failed or timed out after " +
                             std::to_string(g.timeout.count()) + " ms (is another rank dead or stuck?): " + Reason(e));
  }
}

bool IsLoopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

// distInit({ host, port, rank, size, timeoutMs, backend, isServer }) -> group id. The store's
// server is rank 0, unless a launcher already serves it (torchrun's agent: isServer false on
// every rank); the call returns once every rank has joined (or throws after timeoutMs).
Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distInit", [&]() -> Napi::Value {
    if (!info[0].IsObject()) throw Napi::TypeError::New(env, "distInit takes an options object");
    auto o = info[0].As<Napi::Object>();
    auto entry = std::make_unique<GroupEntry>();
    const std::string host = o.Get("host").As<Napi::String>().Utf8Value();
    const int port = o.Get("port").As<Napi::Number>().Int32Value();
    entry->rank = o.Get("rank").As<Napi::Number>().Int32Value();
    entry->size = o.Get("size").As<Napi::Number>().Int32Value();
    entry->timeout = std::chrono::milliseconds(o.Get("timeoutMs").As<Napi::Number>().Int64Value());
    entry->backend = o.Get("backend").As<Napi::String>().Utf8Value();
    entry->device = o.Get("device").As<Napi::String>().Utf8Value();
    const std::string prefix = o.Get("prefix").As<Napi::String>().Utf8Value();
    if (port <= 0 || port > 65535) throw Napi::RangeError::New(env, "distInit: port must be in 1..65535, got " + std::to_string(port));
    if (entry->size < 1 || entry->rank < 0 || entry->rank >= entry->size) {
      throw Napi::RangeError::New(env, "distInit: rank " + std::to_string(entry->rank) + " is not in 0.." + std::to_string(entry->size - 1));
    }
    c10d::TCPStoreOptions opts;
    opts.port = static_cast<std::uint16_t>(port);
    opts.isServer = o.Get("isServer").ToBoolean();
    opts.numWorkers = static_cast<std::size_t>(entry->size);
    opts.waitWorkers = true; // every rank counts itself in; the server waits for all
    opts.timeout = entry->timeout;
    // The group's keys live under a prefix of their own, as torch.distributed's do, so a store
    // shared with a launcher's agent never mixes its keys with ours.
    entry->store = c10::make_intrusive<c10d::PrefixStore>(prefix, c10::make_intrusive<c10d::TCPStore>(host, opts));
    if (entry->backend == "gloo") {
#ifndef SIMCLR_WITH_GLOO
      throw Napi::Error::New(env, "distInit: this build of the addon has no Gloo backend: Gloo's headers (gloo/algorithm.h) were missing when it was built. Install them (Debian/Ubuntu: apt-get install libgloo-dev) and rebuild (bash scripts/setup.sh); `simclr doctor` shows what the engine has");
#else
      auto options = c10d::ProcessGroupGloo::Options::create(entry->timeout);
      const char* ifname = std::getenv("GLOO_SOCKET_IFNAME");
      if (ifname != nullptr && *ifname != '\0') {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      } else if (IsLoopback(host)) {
        options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      entry->group = c10::make_intrusive<c10d::ProcessGroupGloo>(entry->store, entry->rank, entry->size, options);
#endif
    } else if (entry->backend == "nccl") {
#ifdef SIMCLR_WITH_NCCL
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = entry->timeout;
      entry->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(entry->store, entry->rank, entry->size, options);
#else
      throw Napi::Error::New(env, "distInit: this build has no NCCL (libtorch without CUDA, or built without SIMCLR_WITH_NCCL); use backend gloo");
#endif
    } else {
      throw Napi::RangeError::New(env, "distInit: backend must be gloo or nccl, got '" + entry->backend + "'");
    }
    auto& groups = Groups();
    groups.push_back(std::move(entry));
    return Napi::Number::New(env, static_cast<double>(groups.size() - 1));
  });
}

Napi::Value Destroy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distDestroy", [&]() -> Napi::Value {
    GroupOf(env, info[0]);
    Groups()[info[0].As<Napi::Number>().Int64Value()].reset();
    return env.Undefined();
  });
}

std::vector<at::Tensor> TensorList(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (!v.IsArray()) throw Napi::TypeError::New(env, std::string(what) + ": expected an array of tensors");
  auto arr = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  for (uint32_t i = 0; i < arr.Length(); i++) out.push_back(tensors::Get(env, arr.Get(i), what));
  return out;
}

c10d::ReduceOp ReduceOpOf(const Napi::Env& env, const Napi::Value& v) {
  const std::string op = v.IsString() ? v.As<Napi::String>().Utf8Value() : "sum";
  if (op == "sum") return c10d::ReduceOp::SUM;
  if (op == "max") return c10d::ReduceOp::MAX;
  if (op == "min") return c10d::ReduceOp::MIN;
  throw Napi::RangeError::New(env, "reduce op must be sum, max or min, got '" + op + "'");
}

// Pending async works, by id.
std::vector<std::pair<int64_t, c10::intrusive_ptr<c10d::Work>>>& Works() {
  static std::vector<std::pair<int64_t, c10::intrusive_ptr<c10d::Work>>> works;
  return works;
}

Napi::Value StartWork(const Napi::Env& env, int64_t groupId, c10::intrusive_ptr<c10d::Work> work) {
  auto& works = Works();
  for (size_t i = 0; i < works.size(); i++) {
    if (!works[i].second) {
      works[i] = {groupId, std::move(work)};
      return Napi::Number::New(env, static_cast<double>(i));
    }
  }
  works.emplace_back(groupId, std::move(work));
  return Napi::Number::New(env, static_cast<double>(works.size() - 1));
}

// distAllReduce(group, [tensors], op?, async?) -> work id when async, else undefined. In place.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distAllReduce", [&]() -> Napi::Value {
    auto& g = GroupOf(env, info[0]);
    auto list = TensorList(env, info[1], "distAllReduce");
    c10d::AllreduceOptions opts;
    opts.reduceOp = ReduceOpOf(env, info[2]);
    opts.timeout = g.timeout;
    // c10d reduces a list's tensors into one another (they stand for one tensor on several
    // devices), so each tensor gets a collective of its own.
    const bool async = info.Length() > 3 && info[3].ToBoolean();
    if (async && list.size() != 1) throw Napi::RangeError::New(env, "distAllReduce: an async all-reduce takes one tensor");
    for (auto& t : list) {
      std::vector<at::Tensor> one{t};
      auto work = g.group->allreduce(one, opts);
      if (async) return StartWork(env, info[0].As<Napi::Number>().Int64Value(), work);
      Wait(g, work, "all-reduce");
    }
    return env.Undefined();
  });
}

// distWait(work id): waits for an async collective (the group's timeout) and forgets it.
Napi::Value WaitWork(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distWait", [&]() -> Napi::Value {
    const int64_t id = info[0].As<Napi::Number>().Int64Value();
    auto& works = Works();
    if (id < 0 || id >= static_cast<int64_t>(works.size()) || !works[id].second) throw Napi::Error::New(env, "distWait: no pending work " + std::to_string(id));
    auto entry = works[id];
    works[id] = {-1, c10::intrusive_ptr<c10d::Work>()};
    Wait(GroupById(entry.first), entry.second, "collective");
    return env.Undefined();
  });
}

// distBroadcast(group, [tensors], root): in place.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distBroadcast", [&]() -> Napi::Value {
    auto& g = GroupOf(env, info[0]);
    auto list = TensorList(env, info[1], "distBroadcast");
    c10d::BroadcastOptions opts;
    opts.rootRank = info[2].As<Napi::Number>().Int32Value();
    opts.timeout = g.timeout;
    for (auto& t : list) {
      std::vector<at::Tensor> one{t};
      Wait(g, g.group->broadcast(one, opts), "broadcast");
    }
    return env.Undefined();
  });
}

std::vector<at::Tensor> Gather(GroupEntry& g, const at::Tensor& x) {
  std::vector<at::Tensor> in{x.contiguous()};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < g.size; r++) out[0].push_back(at::empty_like(in[0]));
  Wait(g, g.group->allgather(out, in), "all-gather");
  return out[0];
}

// distAllGather(group, tensor) -> a new tensor: every rank's tensor concatenated along dim 0 (no gradient).
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distAllGather", [&]() -> Napi::Value {
    auto& g = GroupOf(env, info[0]);
    const at::Tensor& x = tensors::Get(env, info[1], "distAllGather");
    return tensors::Add(env, at::cat(Gather(g, x.detach()), 0));
  });
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distBarrier", [&]() -> Napi::Value {
    auto& g = GroupOf(env, info[0]);
    // A one-element all-reduce: Gloo's barrier takes no timeout of its own.
    std::vector<at::Tensor> one{at::zeros({1}, at::TensorOptions().device(at::Device(g.device)))};
    c10d::AllreduceOptions opts;
    opts.timeout = g.timeout;
    Wait(g, g.group->allreduce(one, opts), "barrier");
    return env.Undefined();
  });
}

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Forward: all-gather along dim 0. Backward: the gradient of the gathered tensor is summed
// over ranks (every rank's loss depends on every rank's rows) and this rank's rows returned.
struct AllGatherGrad : public torch::autograd::Function<AllGatherGrad> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, int64_t groupId) {
    auto& g = GroupById(groupId);
    ctx->saved_data["group"] = groupId;
    ctx->saved_data["rows"] = x.size(0);
    return at::cat(Gather(g, x.detach()), 0);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const int64_t groupId = ctx->saved_data["group"].toInt();
    const int64_t rows = ctx->saved_data["rows"].toInt();
    auto& g = GroupById(groupId);
    std::vector<at::Tensor> summed{grads[0].contiguous().clone()};
    c10d::AllreduceOptions opts;
    opts.timeout = g.timeout;
    Wait(g, g.group->allreduce(summed, opts), "all-gather backward (all-reduce)");
    return {summed[0].narrow(0, g.rank * rows, rows), at::Tensor()};
  }
};

Napi::Value AllGatherWithGrad(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distAllGatherGrad", [&]() -> Napi::Value {
    GroupOf(env, info[0]);
    const at::Tensor& x = tensors::Get(env, info[1], "distAllGatherGrad");
    return tensors::Add(env, AllGatherGrad::apply(x, info[0].As<Napi::Number>().Int64Value()));
  });
}

// Batch norm in training mode over the global batch. Each rank's (count, mean, M2) per
// channel are all-gathered and combined in float64 (Chan et al.'s parallel variance), so the
// statistics equal those of the concatenated batch; the backward all-reduces sum(dy) and
// sum(dy * xhat), as torch.nn.SyncBatchNorm does on CUDA.
struct SyncBatchNorm : public torch::autograd::Function<SyncBatchNorm> {
  static std::vector<int64_t> ReduceDims(const at::Tensor& x) {
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); d++) dims.push_back(d);
    return dims;
  }
  static std::vector<int64_t> ChannelShape(const at::Tensor& x) {
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = x.size(1);
    return shape;
  }

  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, const at::Tensor& runningMean,
                            const at::Tensor& runningVar, double momentum, double eps, int64_t groupId) {
    auto& g = GroupById(groupId);
    const auto dims = ReduceDims(x);
    const auto cshape = ChannelShape(x);
    const int64_t channels = x.size(1);
    at::Tensor x64 = x.detach().to(at::kDouble);
    const double n = static_cast<double>(x.numel() / channels);
    at::Tensor mean = x64.mean(dims);                                    // (C)
    at::Tensor m2 = (x64 - mean.view(cshape)).pow(2).sum(dims);          // (C)
    at::Tensor local = at::cat({at::full({1}, n, x64.options()), mean, m2});  // (1 + 2C)
    at::Tensor all = at::stack(Gather(g, local), 0);                     // (W, 1 + 2C)
    at::Tensor counts = all.select(1, 0);                                // (W)
    at::Tensor means = all.narrow(1, 1, channels);                       // (W, C)
    at::Tensor m2s = all.narrow(1, 1 + channels, channels);              // (W, C)
    const double total = counts.sum().item<double>();
    at::Tensor gmean = (means * counts.unsqueeze(1)).sum(0) / total;     // (C)
    at::Tensor gm2 = m2s.sum(0) + ((means - gmean).pow(2) * counts.unsqueeze(1)).sum(0);
    at::Tensor var = gm2 / total;                                        // biased, for normalising
    at::Tensor invstd = (var + eps).rsqrt();
    {
      at::NoGradGuard no_grad;
      if (runningMean.defined()) runningMean.mul_(1 - momentum).add_(gmean.to(runningMean.scalar_type()), momentum);
      if (runningVar.defined()) runningVar.mul_(1 - momentum).add_((gm2 / std::max(total - 1, 1.0)).to(runningVar.scalar_type()), momentum);
    }
    at::Tensor meanT = gmean.to(x.scalar_type());
    at::Tensor invstdT = invstd.to(x.scalar_type());
    at::Tensor xhat = (x.detach() - meanT.view(cshape)) * invstdT.view(cshape);
    // weight and bias are always defined here (SyncBatchNormCall substitutes 1 and 0).
    at::Tensor y = xhat * weight.detach().view(cshape) + bias.detach().view(cshape);
    ctx->save_for_backward({xhat, invstdT, weight});
    ctx->saved_data["group"] = groupId;
    ctx->saved_data["total"] = total;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor& xhat = saved[0];
    const at::Tensor& invstd = saved[1];
    const at::Tensor& weight = saved[2];
    const int64_t groupId = ctx->saved_data["group"].toInt();
    const double total = ctx->saved_data["total"].toDouble();
    auto& g = GroupById(groupId);
    const at::Tensor dy = grads[0].contiguous();
    const auto dims = ReduceDims(dy);
    const auto cshape = ChannelShape(dy);
    at::Tensor sumDy = dy.sum(dims);                   // (C), this rank's
    at::Tensor sumDyXhat = (dy * xhat).sum(dims);       // (C), this rank's
    std::vector<at::Tensor> both{at::cat({sumDy, sumDyXhat})};
    c10d::AllreduceOptions opts;
    opts.timeout = g.timeout;
    Wait(g, g.group->allreduce(both, opts), "sync batch norm backward (all-reduce)");
    const int64_t channels = sumDy.size(0);
    at::Tensor gSumDy = both[0].narrow(0, 0, channels);
    at::Tensor gSumDyXhat = both[0].narrow(0, channels, channels);
    at::Tensor scale = invstd * weight;  // (C)
    at::Tensor dx = (dy - gSumDy.view(cshape) / total - xhat * (gSumDyXhat.view(cshape) / total)) * scale.view(cshape);
    // Parameter gradients are this rank's share: data parallelism averages them over ranks.
    return {dx, sumDyXhat, sumDy, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor OptionalTensor(const Napi::Env& env, const Napi::Value& v, const char* what) {
  if (v.IsNull() || v.IsUndefined()) return at::Tensor();
  return tensors::Get(env, v, what);
}

// distSyncBatchNorm(group, x, weight?, bias?, runningMean?, runningVar?, momentum, eps) -> y
Napi::Value SyncBatchNormCall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distSyncBatchNorm", [&]() -> Napi::Value {
    GroupOf(env, info[0]);
    const at::Tensor& x = tensors::Get(env, info[1], "distSyncBatchNorm");
    // libtorch's custom functions take no undefined tensors: a missing affine part is 1 or 0
    // (not requiring grad, so its gradient is dropped), missing running statistics are not updated.
    at::Tensor weight = OptionalTensor(env, info[2], "distSyncBatchNorm weight");
    at::Tensor bias = OptionalTensor(env, info[3], "distSyncBatchNorm bias");
    if (!weight.defined()) weight = at::ones({x.size(1)}, x.options());
    if (!bias.defined()) bias = at::zeros({x.size(1)}, x.options());
    at::Tensor runningMean = OptionalTensor(env, info[4], "distSyncBatchNorm running mean");
    at::Tensor runningVar = OptionalTensor(env, info[5], "distSyncBatchNorm running var");
    if (!runningMean.defined() || !runningVar.defined()) throw Napi::TypeError::New(env, "distSyncBatchNorm: running statistics are required");
    const double momentum = info[6].As<Napi::Number>().DoubleValue();
    const double eps = info[7].As<Napi::Number>().DoubleValue();
    return tensors::Add(env, SyncBatchNorm::apply(x, weight, bias, runningMean, runningVar, momentum, eps, info[0].As<Napi::Number>().Int64Value()));
  });
}

// Gradient buckets whose all-reduce starts from inside backward, as DDP's Reducer does: a
// post-hook on each parameter's gradient accumulator counts the bucket's ready gradients and,
// when the last arrives, flattens them and starts an async all-reduce. finish() waits for
// every bucket, divides by the world size and copies the averages back.
struct Buckets {
  int64_t groupId = -1;
  std::vector<std::vector<at::Tensor>> params;  // per bucket
  std::vector<int64_t> ready;                   // gradients ready this backward, per bucket
  std::vector<at::Tensor> flat;                 // per bucket, while in flight
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  // A parameter holds its gradient accumulator weakly: without these references each forward
  // would make a new accumulator, without the hooks (DDP's Reducer keeps them the same way).
  // shared_ptr in 1.13, intrusive_ptr in 2.x: whatever grad_accumulator returns.
  std::vector<decltype(torch::autograd::impl::grad_accumulator(std::declval<const at::Tensor&>()))> accumulators;
  std::vector<uintptr_t> hookKeys;  // per accumulator, to remove the hook again

  void Launch(size_t b) {
    auto& g = GroupById(groupId);
    std::vector<at::Tensor> grads;
    for (auto& p : params[b]) {
      const at::Tensor& grad = p.grad();
      grads.push_back(grad.defined() ? grad.reshape({-1}) : at::zeros({p.numel()}, p.options()));
    }
    flat[b] = at::cat(grads);
    std::vector<at::Tensor> one{flat[b]};
    c10d::AllreduceOptions opts;
    opts.timeout = g.timeout;
    works[b] = g.group->allreduce(one, opts);
  }
};

std::vector<std::unique_ptr<Buckets>>& BucketSets() {
  static std::vector<std::unique_ptr<Buckets>> sets;
  return sets;
}

struct BucketHook : public torch::autograd::FunctionPostHook {
  Buckets* buckets;
  size_t bucket;
  BucketHook(Buckets* b, size_t i) : buckets(b), bucket(i) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list& outputs, const torch::autograd::variable_list& /*inputs*/) override {
    if (++buckets->ready[bucket] == static_cast<int64_t>(buckets->params[bucket].size())) buckets->Launch(bucket);
    return outputs;
  }
};

// The bucket set behind a JS id, or nullptr when there is none (released, or never made).
Buckets* BucketSetOf(const Napi::Value& v) {
  const int64_t id = v.As<Napi::Number>().Int64Value();
  auto& sets = BucketSets();
  return id >= 0 && id < static_cast<int64_t>(sets.size()) ? sets[id].get() : nullptr;
}

// distBucketsInstall(group, [[param ids] per bucket]) -> bucket set id
Napi::Value BucketsInstall(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distBucketsInstall", [&]() -> Napi::Value {
    GroupOf(env, info[0]);
    auto set = std::make_unique<Buckets>();
    set->groupId = info[0].As<Napi::Number>().Int64Value();
    auto arr = info[1].As<Napi::Array>();
    for (uint32_t b = 0; b < arr.Length(); b++) set->params.push_back(TensorList(env, arr.Get(b), "distBucketsInstall"));
    set->ready.assign(set->params.size(), 0);
    set->flat.resize(set->params.size());
    set->works.resize(set->params.size());
    for (size_t b = 0; b < set->params.size(); b++) {
      for (auto& p : set->params[b]) {
        auto acc = torch::autograd::impl::grad_accumulator(p);
        if (!acc) throw Napi::Error::New(env, "distBucketsInstall: a parameter is not a leaf that requires grad");
        set->hookKeys.push_back(acc->add_post_hook(std::make_unique<BucketHook>(set.get(), b)));
        set->accumulators.push_back(std::move(acc));
      }
    }
    auto& sets = BucketSets();
    sets.push_back(std::move(set));
    return Napi::Number::New(env, static_cast<double>(sets.size() - 1));
  });
}

// distBucketsFinish(set id) -> buckets launched here: waits for every bucket (launching those
// whose gradients never all arrived, e.g. unused parameters), averages, copies back into
// .grad, and re-arms. The count tells whether backward's hooks launched the others.
Napi::Value BucketsFinish(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distBucketsFinish", [&]() -> Napi::Value {
    Buckets* found = BucketSetOf(info[0]);
    if (found == nullptr) throw Napi::Error::New(env, "distBucketsFinish: no bucket set " + std::to_string(info[0].As<Napi::Number>().Int64Value()));
    Buckets& set = *found;
    auto& g = GroupById(set.groupId);
    at::NoGradGuard no_grad;
    int64_t lateLaunches = 0;
    for (size_t b = 0; b < set.params.size(); b++) {
      if (!set.works[b]) {
        set.Launch(b);
        lateLaunches++;
      }
    }
    for (size_t b = 0; b < set.params.size(); b++) {
      Wait(g, set.works[b], "gradient all-reduce");
      set.flat[b].div_(g.size);
      int64_t offset = 0;
      for (auto& p : set.params[b]) {
        at::Tensor avg = set.flat[b].narrow(0, offset, p.numel()).view(p.sizes());
        if (p.grad().defined()) p.mutable_grad().copy_(avg);
        else p.mutable_grad() = avg.clone();
        offset += p.numel();
      }
      set.works[b].reset();
      set.flat[b] = at::Tensor();
      set.ready[b] = 0;
    }
    return Napi::Number::New(env, static_cast<double>(lateLaunches));
  });
}

// distBucketsRelease(set id): removes the hooks and drops the references to the accumulators
// (they hold the parameters), so the model can be freed.
Napi::Value BucketsRelease(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "distBucketsRelease", [&]() -> Napi::Value {
    Buckets* set = BucketSetOf(info[0]);
    if (set == nullptr) return env.Undefined();
    for (size_t i = 0; i < set->accumulators.size(); i++) set->accumulators[i]->del_post_hook(set->hookKeys[i]);
    BucketSets()[info[0].As<Napi::Number>().Int64Value()].reset();
    return env.Undefined();
  });
}

Napi::Value HasNccl(const Napi::CallbackInfo& info) {
#ifdef SIMCLR_WITH_NCCL
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

Napi::Value HasGloo(const Napi::CallbackInfo& info) {
#ifdef SIMCLR_WITH_GLOO
  return Napi::Boolean::New(info.Env(), true);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

}  // namespace

void InitDist(Napi::Env env, Napi::Object exports) {
  auto add = [&](const char* name, Napi::Value (*fn)(const Napi::CallbackInfo&)) { exports.Set(name, Napi::Function::New(env, fn, name)); };
  add("distInit", Init);
  add("distDestroy", Destroy);
  add("distAllReduce", AllReduce);
  add("distWait", WaitWork);
  add("distBroadcast", Broadcast);
  add("distAllGather", AllGather);
  add("distAllGatherGrad", AllGatherWithGrad);
  add("distBarrier", Barrier);
  add("distSyncBatchNorm", SyncBatchNormCall);
  add("distHasNccl", HasNccl);
  add("distHasGloo", HasGloo);
  add("distBucketsInstall", BucketsInstall);
  add("distBucketsFinish", BucketsFinish);
  add("distBucketsRelease", BucketsRelease);
}

}  // namespace simclr
