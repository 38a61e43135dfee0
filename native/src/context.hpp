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

struct Context {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  int threads = 0;  // 0 = oneDNN / OpenMP default
  // Shape-based choices of convolution kernels (conv.cc); SELFSUP_CONV_TUNING=0
  // turns them off, for A/B measurements and for debugging.
  bool convTuning = true;
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
