// Shared state of the addon: one oneDNN CPU engine and stream, and a cache of
// primitives keyed by shape so the hot path never re-creates a primitive
// (primitive_desc creation costs far more than a small kernel call).
#pragma once
#include <napi.h>
#if __has_include(<oneapi/dnnl/dnnl.hpp>)
#include <oneapi/dnnl/dnnl.hpp>
#else
#include <dnnl.hpp>
#endif
#include <cstdint>
#include <cstdlib>
#include <new>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

constexpr size_t kMaxCached = 2048;

// Memory-bound loops (batch norm, elementwise) go multi-threaded only above
// this many elements (4 MB): each OpenMP region waits until every thread is
// scheduled, which on a busy machine costs a scheduler slice, while one core
// streams 4 MB in well under a millisecond.
constexpr int64_t kParallelMin = 1 << 20;

// The addon is compiled for baseline x86-64 (SSE2) so that it runs on any
// machine it is copied to; its own compute-bound loops (batch-norm sums in
// double) get AVX2 and AVX-512 clones, picked once at load time. -ffp-contract=off
// keeps every clone's float arithmetic identical (no fused multiply-adds), and
// the loops vectorise across channels, so the sums' order does not change either.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define SELFSUP_VECTOR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SELFSUP_VECTOR_CLONES
#endif

// A float buffer that only grows. Calls into the addon are synchronous and one
// at a time, so every primitive can borrow the same few buffers for what lives
// only during its call (activations in its own layout, its scratchpad): the
// memory held is the largest call's, not the sum over cached primitives.
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch &) = delete;
  Scratch &operator=(const Scratch &) = delete;
  ~Scratch() { std::free(p_); }
  // At least `bytes` bytes, 64-byte aligned; earlier contents are not kept.
  void *get(size_t bytes) {
    if (bytes <= n_) return p_;
    std::free(p_);
    n_ = (bytes + 63) / 64 * 64;
    p_ = std::aligned_alloc(64, n_);
    if (!p_) { n_ = 0; throw std::bad_alloc(); }
    return p_;
  }
  void release() { std::free(p_); p_ = nullptr; n_ = 0; }

 private:
  void *p_ = nullptr;
  size_t n_ = 0;
};

struct Context {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  int threads = 0;  // 0 = oneDNN / OpenMP default
  // Shape-based choices of convolution kernels (conv.cc); SELFSUP_CONV_TUNING=0
  // turns them off, for A/B measurements and for debugging.
  bool convTuning = true;
  // Winograd convolutions for the wide 3x3 layers (winograd.cc); SELFSUP_CONV_WINOGRAD=0
  // or setConvWinograd(false) keeps every convolution on the direct kernels.
  bool winograd = true;
  // Whether this CPU has Winograd kernels at all (winograd.cc asks oneDNN once): -1 not asked yet.
  int winogradKernels = -1;
  // Shared call-time buffers (see Scratch); the index says what each holds.
  enum ScratchSlot { kScratchSrc, kScratchDst, kScratchPad, kScratchWeights, kScratchSlots };
  Scratch scratch[kScratchSlots];
  std::unordered_map<std::string, std::shared_ptr<void>> cache;

  // Returns the cached entry for key, building it with make() on first use.
  template <class T>
  T &cached(const std::string &key, const std::function<std::shared_ptr<T>()> &make) {
    auto it = cache.find(key);
    if (it != cache.end()) return *static_cast<T *>(it->second.get());
    // Shapes seen by a long-lived process (evaluation at many batch sizes) are
    // unbounded; a full cache starts over rather than grow without limit.
    if (cache.size() >= kMaxCached) cache.clear();
    std::shared_ptr<T> e = make();
    cache.emplace(key, e);
    return *e;
  }
};

Context &ctx(const Napi::CallbackInfo &info);

// Argument helpers: every array is checked against the length its shape
// implies, so a wrong call throws instead of writing outside a buffer.
float *f32Arg(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name);
float *f32ArgOrNull(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name);
std::vector<int64_t> intsArg(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name);
std::string keyOf(const char *kind, const std::vector<int64_t> &v, int threads);

void initConv(Napi::Env env, Napi::Object exports);
void initMatmul(Napi::Env env, Napi::Object exports);
void initNorm(Napi::Env env, Napi::Object exports);
void initEltwise(Napi::Env env, Napi::Object exports);
void initPool(Napi::Env env, Napi::Object exports);
void initOptim(Napi::Env env, Napi::Object exports);
void initImage(Napi::Env env, Napi::Object exports);
