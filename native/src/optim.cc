// Optimizer updates (SGD, LARS, Adam/AdamW) as one pass over each parameter,
// writing the new weights and slots into caller-supplied arrays. They replace
// the per-element JS loops of src/optim/host.ts on the native backend: for
// ResNet-18's 11M parameters that loop took ~120 ms a step, about 15% of it.
//
// The arithmetic is the host loops', operation for operation, in float32 with
// no contraction into FMAs (-ffp-contract=off): every +, *, /, sqrt is an
// IEEE-rounded float op, so SGD and Adam give the same bits as the JS loops
// (which round each double intermediate to float32, and double rounding of a
// single +, *, / or sqrt is exact). LARS's two norms sum in double in a fixed
// blocked order, independent of the thread count; the JS loop sums in plain
// order, so the two can differ in a norm's last float bit, rarely.
#include "context.hpp"
#include <omp.h>
#include <cmath>

namespace {

size_t lenArg(const Napi::CallbackInfo &info, size_t i) { return size_t(info[i].As<Napi::Number>().Int64Value()); }
float fArg(const Napi::CallbackInfo &info, size_t i) { return float(info[i].As<Napi::Number>().DoubleValue()); }
bool bArg(const Napi::CallbackInfo &info, size_t i) { return info[i].ToBoolean().Value(); }

// sgdUpdate(w, g, v|null, wOut, vOut|null, n, mu, wd, lr, decay, nesterov)
//   d = decay ? g + w*wd : g;  v' = v*mu + d;  w' = w - (nesterov ? d + v'*mu : v') * lr
// Without v (momentum 0): w' = w - d*lr.
Napi::Value SgdUpdate(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 5);
  const float *w = f32Arg(info, 0, n, "w");
  const float *g = f32Arg(info, 1, n, "g");
  const float *v = f32ArgOrNull(info, 2, n, "v");
  float *wOut = f32Arg(info, 3, n, "wOut");
  float *vOut = f32ArgOrNull(info, 4, n, "vOut");
  const float mu = fArg(info, 6), wd = fArg(info, 7), lr = fArg(info, 8);
  const bool decay = bArg(info, 9), nesterov = bArg(info, 10);
  if ((v == nullptr) != (vOut == nullptr)) throw Napi::TypeError::New(info.Env(), "sgdUpdate: v and vOut go together");
  const int64_t N = int64_t(n);
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
  for (int64_t i = 0; i < N; i++) {
    const float d = decay ? g[i] + w[i] * wd : g[i];
    float u = d;
    if (v) {
      const float vn = v[i] * mu + d;
      vOut[i] = vn;
      u = nesterov ? d + vn * mu : vn;
    }
    wOut[i] = w[i] - u * lr;
  }
  return info.Env().Undefined();
}

// Sum of squares in double, as float32 squares: fixed blocks, summed in block
// order, so the result does not depend on how many threads ran the blocks.
// With g, the squares are of d = decay ? g + w*wd : g (LARS's decayed gradient).
constexpr int64_t kBlock = 1 << 14;
double sumSquares(const float *w, const float *g, float wd, bool decay, int64_t N) {
  const int64_t blocks = (N + kBlock - 1) / kBlock;
  std::vector<double> part(size_t(blocks), 0.0);
#pragma omp parallel for schedule(static) if (N > kParallelMin)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t i1 = std::min(N, (b + 1) * kBlock);
    double s = 0;
    for (int64_t i = b * kBlock; i < i1; i++) {
      const float x = g ? (decay ? g[i] + w[i] * wd : g[i]) : w[i];
      s += double(x * x);
    }
    part[size_t(b)] = s;
  }
  double s = 0;
  for (double p : part) s += p;
  return s;
}

// larsUpdate(w, g, v, wOut, vOut, n, mu, wd, eta, lr, adapt, decay, nesterov): see src/optim/lars.ts.
//   r = adapt && |w| > 0 && |d| > 0 ? eta*|w|/|d| : 1;  s = d * (lr*r)
//   v' = v*mu + s;  w' = w - (nesterov ? v'*mu + s : v')
// Returns the trust ratio used (1 when not adapted).
Napi::Value LarsUpdate(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 5);
  const float *w = f32Arg(info, 0, n, "w");
  const float *g = f32Arg(info, 1, n, "g");
  const float *v = f32Arg(info, 2, n, "v");
  float *wOut = f32Arg(info, 3, n, "wOut");
  float *vOut = f32Arg(info, 4, n, "vOut");
  const float mu = fArg(info, 6), wd = fArg(info, 7), eta = fArg(info, 8), lr = fArg(info, 9);
  const bool adapt = bArg(info, 10), decay = bArg(info, 11), nesterov = bArg(info, 12);
  const int64_t N = int64_t(n);
  float scaledLr = lr, ratio = 1.f;
  if (adapt) {
    const float wNorm = std::sqrt(float(sumSquares(w, nullptr, 0.f, false, N)));
    const float gNorm = std::sqrt(float(sumSquares(w, g, wd, decay, N)));
    if (wNorm > 0 && gNorm > 0) ratio = (eta * wNorm) / gNorm;
    scaledLr = lr * ratio;
  }
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
  for (int64_t i = 0; i < N; i++) {
    const float d = decay ? g[i] + w[i] * wd : g[i];
    const float s = d * scaledLr;
    const float vn = v[i] * mu + s;
    vOut[i] = vn;
    wOut[i] = w[i] - (nesterov ? vn * mu + s : vn);
  }
  return Napi::Number::New(info.Env(), ratio);
}

// adamUpdate(w, g, m, v, wOut, mOut, vOut, n, b1, b2, omb1, omb2, eps, sqrtBc2, stepSize, shrink, wd, coupled, shrinks)
//   w0 = shrinks ? w*shrink : w;  d = coupled ? g + w*wd : g
//   m' = m*b1 + d*omb1;  v' = v*b2 + (d*d)*omb2
//   w' = w0 - (m' / (sqrt(v')/sqrtBc2 + eps)) * stepSize
Napi::Value AdamUpdate(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 7);
  const float *w = f32Arg(info, 0, n, "w");
  const float *g = f32Arg(info, 1, n, "g");
  const float *m = f32Arg(info, 2, n, "m");
  const float *v = f32Arg(info, 3, n, "v");
  float *wOut = f32Arg(info, 4, n, "wOut");
  float *mOut = f32Arg(info, 5, n, "mOut");
  float *vOut = f32Arg(info, 6, n, "vOut");
  const float b1 = fArg(info, 8), b2 = fArg(info, 9), omb1 = fArg(info, 10), omb2 = fArg(info, 11);
  const float eps = fArg(info, 12), sqrtBc2 = fArg(info, 13), stepSize = fArg(info, 14);
  const float shrink = fArg(info, 15), wd = fArg(info, 16);
  const bool coupled = bArg(info, 17), shrinks = bArg(info, 18);
  const int64_t N = int64_t(n);
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
  for (int64_t i = 0; i < N; i++) {
    const float wi = shrinks ? w[i] * shrink : w[i];
    const float d = coupled ? g[i] + w[i] * wd : g[i];
    const float mi = m[i] * b1 + d * omb1;
    const float vi = v[i] * b2 + (d * d) * omb2;
    mOut[i] = mi;
    vOut[i] = vi;
    const float denom = std::sqrt(vi) / sqrtBc2 + eps;
    wOut[i] = wi - (mi / denom) * stepSize;
  }
  return info.Env().Undefined();
}

}  // namespace

void initOptim(Napi::Env env, Napi::Object exports) {
  exports.Set("sgdUpdate", Napi::Function::New(env, SgdUpdate));
  exports.Set("larsUpdate", Napi::Function::New(env, LarsUpdate));
  exports.Set("adamUpdate", Napi::Function::New(env, AdamUpdate));
}
