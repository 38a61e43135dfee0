// Entry point of the selfsup oneDNN addon: thread control, version info and the
// argument helpers shared by the kernel files.
#include "context.hpp"
#include "conv.hpp"
#include <omp.h>
#include <cstdio>
#include <cstdlib>

Context &ctx(const Napi::CallbackInfo &info) {
  Context *c = info.Env().GetInstanceData<Context>();
  if (!c) throw Napi::Error::New(info.Env(), "selfsup_native: addon not initialised");
  return *c;
}

static Napi::Float32Array asF32(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (info.Length() <= i || !info[i].IsTypedArray() ||
      info[i].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be a Float32Array");
  return info[i].As<Napi::Float32Array>();
}

float *f32Arg(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name) {
  Napi::Float32Array a = asF32(info, i, name);
  if (a.ElementLength() != expect)
    throw Napi::RangeError::New(info.Env(), std::string("argument '") + name + "' has " +
                                                std::to_string(a.ElementLength()) + " elements, expected " +
                                                std::to_string(expect));
  return a.Data();
}

float *f32ArgOrNull(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name) {
  if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return nullptr;
  return f32Arg(info, i, expect, name);
}

std::vector<int64_t> intsArg(const Napi::CallbackInfo &info, size_t i, size_t expect, const char *name) {
  if (info.Length() <= i || !info[i].IsArray())
    throw Napi::TypeError::New(info.Env(), std::string("argument '") + name + "' must be an array of integers");
  Napi::Array a = info[i].As<Napi::Array>();
  if (a.Length() != expect)
    throw Napi::RangeError::New(info.Env(), std::string("argument '") + name + "' must have " +
                                                std::to_string(expect) + " entries");
  std::vector<int64_t> v(expect);
  for (uint32_t k = 0; k < expect; k++) v[k] = a.Get(k).As<Napi::Number>().Int64Value();
  return v;
}

std::string keyOf(const char *kind, const std::vector<int64_t> &v, int threads) {
  std::string k(kind);
  for (int64_t x : v) { k += ','; k += std::to_string(x); }
  k += "|t"; k += std::to_string(threads);
  return k;
}

// setThreads(n): n <= 0 restores the OpenMP default (OMP_NUM_THREADS or all cores).
static Napi::Value SetThreads(const Napi::CallbackInfo &info) {
  Context &c = ctx(info);
  int n = info[0].As<Napi::Number>().Int32Value();
  static const int defaultThreads = omp_get_max_threads();
  c.threads = n > 0 ? n : 0;
  omp_set_num_threads(n > 0 ? n : defaultThreads);
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

static Napi::Value GetThreads(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), omp_get_max_threads());
}

static Napi::Value Info(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  const dnnl_version_t *v = dnnl_version();
  Napi::Object o = Napi::Object::New(env);
  char ver[64];
  snprintf(ver, sizeof ver, "%d.%d.%d", v->major, v->minor, v->patch);
  o.Set("onednn", ver);
  o.Set("runtime", v->cpu_runtime == DNNL_RUNTIME_OMP ? "omp" : v->cpu_runtime == DNNL_RUNTIME_TBB ? "tbb"
                   : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "seq" : "other");
  o.Set("isa", static_cast<int>(dnnl::get_effective_cpu_isa()));
  o.Set("threads", omp_get_max_threads());
  o.Set("cachedPrimitives", static_cast<double>(ctx(info).cache.size()));
  o.Set("convTuning", ctx(info).convTuning);
  // On: setConvWinograd / SELFSUP_CONV_WINOGRAD allow it and this CPU has the kernels.
  o.Set("convWinograd", ctx(info).winograd && winogradKernelsExist(ctx(info)));
  return o;
}

static Napi::Value ClearCache(const Napi::CallbackInfo &info) {
  Context &c = ctx(info);
  c.cache.clear();
  for (Scratch &s : c.scratch) s.release();
  return info.Env().Undefined();
}

// setConvWinograd(on): whether eligible convolutions run Winograd (winograd.cc). The
// choice is part of each primitive's cache key, so switching back and forth is cheap.
static Napi::Value SetConvWinograd(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "setConvWinograd(on: boolean)");
  ctx(info).winograd = info[0].ToBoolean().Value();
  return info.Env().Undefined();
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  Context *c = new Context();
  const char *tuning = getenv("SELFSUP_CONV_TUNING");
  c->convTuning = !(tuning && std::string(tuning) == "0");
  const char *wino = getenv("SELFSUP_CONV_WINOGRAD");
  c->winograd = !(wino && std::string(wino) == "0");
  env.SetInstanceData<Context>(c);
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads));
  exports.Set("info", Napi::Function::New(env, Info));
  exports.Set("clearCache", Napi::Function::New(env, ClearCache));
  exports.Set("setConvWinograd", Napi::Function::New(env, SetConvWinograd));
  initConv(env, exports);
  initMatmul(env, exports);
  initNorm(env, exports);
  initEltwise(env, exports);
  initPool(env, exports);
  initOptim(env, exports);
  initImage(env, exports);
  return exports;
}

NODE_API_MODULE(selfsup_native, Init)
