// A fused CPU kernel for SimCLR's color distortion: each view's jitter ops in that view's
// order, then optional grayscale, in one pass over the view while it sits in cache.
// The formulas are those of src/augment/color.ts (torchvision's tensor ColorJitter), which
// stays the device-generic path and the reference this kernel is tested against.
#include "common.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>

namespace simclr {
namespace {

constexpr float kLumaR = 0.299f, kLumaG = 0.587f, kLumaB = 0.114f;

inline float Clamp01(float v) { return std::min(1.0f, std::max(0.0f, v)); }

inline float Luma(const float* r, const float* g, const float* b, int64_t i) { return kLumaR * r[i] + kLumaG * g[i] + kLumaB * b[i]; }

void Brightness(float* img, int64_t channels, int64_t hw, float f) {
  for (int64_t i = 0; i < channels * hw; i++) img[i] = Clamp01(img[i] * f);
}

void Contrast(float* img, int64_t channels, int64_t hw, float f) {
  double sum = 0;
  if (channels == 3) {
    for (int64_t i = 0; i < hw; i++) sum += Luma(img, img + hw, img + 2 * hw, i);
  } else {
    for (int64_t i = 0; i < hw; i++) sum += img[i];
  }
  float mean = static_cast<float>(sum / static_cast<double>(hw));
  for (int64_t i = 0; i < channels * hw; i++) img[i] = Clamp01(f * img[i] + (1 - f) * mean);
}

void Saturation(float* img, int64_t hw, float f) {
  float *r = img, *g = img + hw, *b = img + 2 * hw;
  for (int64_t i = 0; i < hw; i++) {
    float gray = Luma(r, g, b, i);
    r[i] = Clamp01(f * r[i] + (1 - f) * gray);
    g[i] = Clamp01(f * g[i] + (1 - f) * gray);
    b[i] = Clamp01(f * b[i] + (1 - f) * gray);
  }
}

// Fractional part of a non-negative float, by truncation (vectorises on plain SSE2, where
// std::floor would be a library call).
inline float Frac(float a) { return a - static_cast<float>(static_cast<int32_t>(a)); }

// HSV -> RGB channel by the branch-free form of the six-sector formula:
// c = v - v s clamp(min(k, 4 - k), 0, 1) with k = (n + 6h) mod 6, n = 5, 3, 1 for r, g, b.
inline float HsvChannel(float n, float h6, float v, float vs) {
  float k = n + h6;
  k -= 6.0f * static_cast<float>(k >= 6.0f);
  float t = std::min(k, 4.0f - k);
  t = std::min(1.0f, std::max(0.0f, t));
  return v - vs * t;
}

// RGB -> HSV as torchvision's _rgb2hsv (the hue of the channel holding the maximum, r
// before g before b), rotate the hue, HSV -> RGB. Branch-free so the compiler vectorises it.
void Hue(float* img, int64_t hw, float shift) {
  // The three planes never overlap; saying so lets the compiler vectorise the loop.
  float* __restrict r = img;
  float* __restrict g = img + hw;
  float* __restrict b = img + 2 * hw;
  // h + shift + 2 keeps the argument of Frac positive for shift in [-0.5, 0.5].
  const float offset = 2.0f + shift;
  for (int64_t i = 0; i < hw; i++) {
    float R = r[i], G = g[i], B = b[i];
    float maxc = std::max(R, std::max(G, B));
    float minc = std::min(R, std::min(G, B));
    float chroma = maxc - minc;
    // No guarded divisions (they would stop vectorisation): when chroma is 0 every
    // numerator below is 0 too, and when maxc is 0 so is chroma.
    float inv = 1.0f / std::max(chroma, 1e-30f);
    float hr = (G - B) * inv;
    float hg = (B - R) * inv + 2.0f;
    float hb = (R - G) * inv + 4.0f;
    float isR = static_cast<float>(maxc == R);
    float isG = static_cast<float>(maxc == G);
    float h6 = isR * hr + (1.0f - isR) * (isG * hg + (1.0f - isG) * hb);  // in [-1, 5]
    float h = Frac(h6 * (1.0f / 6.0f) + offset);       // rotated hue in [0, 1)
    float s = chroma / std::max(maxc, 1e-30f);
    float vs = maxc * s;
    float h6r = h * 6.0f;
    r[i] = HsvChannel(5.0f, h6r, maxc, vs);
    g[i] = HsvChannel(3.0f, h6r, maxc, vs);
    b[i] = HsvChannel(1.0f, h6r, maxc, vs);
  }
}

void Grayscale(float* img, int64_t hw) {
  float *r = img, *g = img + hw, *b = img + 2 * hw;
  for (int64_t i = 0; i < hw; i++) {
    float y = Luma(r, g, b, i);
    r[i] = y;
    g[i] = y;
    b[i] = y;
  }
}

// colorJitterCpu(x, ops, factors, apply, grayscale): x float32 (N, C, H, W) contiguous on
// the CPU, changed in place; ops int64 (N, K) op codes in each view's order (0 brightness,
// 1 contrast, 2 saturation, 3 hue); factors float32 (N, 4) by op code; apply and grayscale
// bool (N).
Napi::Value ColorJitterCpu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const at::Tensor& x = tensors::Get(env, info[0], "colorJitterCpu x");
  const at::Tensor& ops = tensors::Get(env, info[1], "colorJitterCpu ops");
  const at::Tensor& factors = tensors::Get(env, info[2], "colorJitterCpu factors");
  const at::Tensor& apply = tensors::Get(env, info[3], "colorJitterCpu apply");
  const at::Tensor& gray = tensors::Get(env, info[4], "colorJitterCpu grayscale");
  return Guard(env, "colorJitterCpu", [&] {
    TORCH_CHECK(x.device().is_cpu() && x.scalar_type() == at::kFloat && x.is_contiguous() && x.dim() == 4,
                "x must be a contiguous float32 CPU tensor (N, C, H, W)");
    const int64_t n = x.size(0), channels = x.size(1), hw = x.size(2) * x.size(3);
    TORCH_CHECK(channels == 1 || channels == 3, "x must have 1 or 3 channels");
    at::Tensor op_codes = ops.to(at::kLong).contiguous();
    at::Tensor f = factors.to(at::kFloat).contiguous();
    at::Tensor a = apply.to(at::kBool).contiguous();
    at::Tensor g = gray.to(at::kBool).contiguous();
    TORCH_CHECK(op_codes.dim() == 2 && op_codes.size(0) == n, "ops must be (N, K)");
    TORCH_CHECK(f.dim() == 2 && f.size(0) == n && f.size(1) == 4, "factors must be (N, 4)");
    TORCH_CHECK(a.numel() == n && g.numel() == n, "apply and grayscale must have N elements");
    const int64_t k = op_codes.size(1);
    for (int64_t j = 0; j < op_codes.numel(); j++) {
      int64_t code = op_codes.data_ptr<int64_t>()[j];
      TORCH_CHECK(code >= 0 && code <= 3, "op codes must be 0..3, got ", code);
      TORCH_CHECK(channels == 3 || code <= 1, "saturation and hue need 3 channels");
    }
    float* data = x.data_ptr<float>();
    const int64_t* codes = op_codes.data_ptr<int64_t>();
    const float* fac = f.data_ptr<float>();
    const bool* ap = a.data_ptr<bool>();
    const bool* gr = g.data_ptr<bool>();
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      for (int64_t v = begin; v < end; v++) {
        float* img = data + v * channels * hw;
        if (ap[v]) {
          for (int64_t s = 0; s < k; s++) {
            int64_t code = codes[v * k + s];
            float factor = fac[v * 4 + code];
            switch (code) {
              case 0: Brightness(img, channels, hw, factor); break;
              case 1: Contrast(img, channels, hw, factor); break;
              case 2: Saturation(img, hw, factor); break;
              default: Hue(img, hw, factor); break;
            }
          }
        }
        if (channels == 3 && gr[v]) Grayscale(img, hw);
      }
    });
    return env.Undefined();
  });
}

}  // namespace

void InitColorKernel(Napi::Env env, Napi::Object exports) {
  exports.Set("colorJitterCpu", Napi::Function::New(env, ColorJitterCpu, "colorJitterCpu"));
}

}  // namespace simclr
