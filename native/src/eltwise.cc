// Memory-bound elementwise kernels and reductions that the TF.js cpu backend
// runs as single-threaded JS loops: add, multiply, relu and its gradient, step,
// and sums over the middle axis of a [A, R, C] view (bias gradients, global
// average pooling). Small arrays stay on one thread: waking the OpenMP team
// costs more than the work.
#include "context.hpp"
#include <omp.h>

namespace {

constexpr int64_t kParallelMin = 1 << 15;

size_t lenArg(const Napi::CallbackInfo &info, size_t i) {
  return size_t(info[i].As<Napi::Number>().Int64Value());
}

// binary(a, b, out, n, op) with op 0 = add, 1 = mul, 2 = sub, 3 = div
Napi::Value Binary(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 3);
  const float *a = f32Arg(info, 0, n, "a");
  const float *b = f32Arg(info, 1, n, "b");
  float *o = f32Arg(info, 2, n, "out");
  const int op = info[4].As<Napi::Number>().Int32Value();
  const int64_t N = int64_t(n);
  if (op == 0) {
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
    for (int64_t i = 0; i < N; i++) o[i] = a[i] + b[i];
  } else if (op == 1) {
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
    for (int64_t i = 0; i < N; i++) o[i] = a[i] * b[i];
  } else if (op == 2) {
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
    for (int64_t i = 0; i < N; i++) o[i] = a[i] - b[i];
  } else {
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
    for (int64_t i = 0; i < N; i++) o[i] = a[i] / b[i];
  }
  return info.Env().Undefined();
}

template <class Op>
void bcastLoop(const float *big, const float *small, float *o, int64_t R, int64_t C, bool smallFirst, Op op) {
  if (C == 1) {  // scalar operand: one flat loop
    const float s = small[0];
    const int64_t N = R;
    if (smallFirst) {
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
      for (int64_t i = 0; i < N; i++) o[i] = op(s, big[i]);
    } else {
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
      for (int64_t i = 0; i < N; i++) o[i] = op(big[i], s);
    }
    return;
  }
#pragma omp parallel for schedule(static) if (R * C > kParallelMin)
  for (int64_t r = 0; r < R; r++) {
    const float *br = big + r * C;
    float *orow = o + r * C;
    if (smallFirst) {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) orow[c] = op(small[c], br[c]);
    } else {
#pragma omp simd
      for (int64_t c = 0; c < C; c++) orow[c] = op(br[c], small[c]);
    }
  }
}

// binaryBroadcast(big, small, out, [R, C], op, smallFirst): the small operand
// (C elements) repeats along the rows of big ([R, C]), e.g. x - mean or x * gamma.
// op: 0 add, 1 mul, 2 sub, 3 div. smallFirst puts small on the left of the operator.
Napi::Value BinaryBroadcast(const Napi::CallbackInfo &info) {
  std::vector<int64_t> rc = intsArg(info, 3, 2, "shape");
  const int64_t R = rc[0], C = rc[1];
  const float *big = f32Arg(info, 0, size_t(R * C), "big");
  const float *small = f32Arg(info, 1, size_t(C), "small");
  float *o = f32Arg(info, 2, size_t(R * C), "out");
  const int op = info[4].As<Napi::Number>().Int32Value();
  const bool sf = info[5].ToBoolean().Value();
  switch (op) {
    case 0: bcastLoop(big, small, o, R, C, sf, [](float a, float b) { return a + b; }); break;
    case 1: bcastLoop(big, small, o, R, C, sf, [](float a, float b) { return a * b; }); break;
    case 2: bcastLoop(big, small, o, R, C, sf, [](float a, float b) { return a - b; }); break;
    default: bcastLoop(big, small, o, R, C, sf, [](float a, float b) { return a / b; }); break;
  }
  return info.Env().Undefined();
}

// relu(x, y, n): NaN stays NaN, as in the cpu backend.
Napi::Value Relu(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 2);
  const float *x = f32Arg(info, 0, n, "x");
  float *y = f32Arg(info, 1, n, "y");
  const int64_t N = int64_t(n);
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
  for (int64_t i = 0; i < N; i++) y[i] = x[i] < 0.f ? 0.f : x[i];
  return info.Env().Undefined();
}

// reluGrad(dy, y, dx, n): dx = dy where y > 0, else 0.
Napi::Value ReluGrad(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 3);
  const float *dy = f32Arg(info, 0, n, "dy");
  const float *y = f32Arg(info, 1, n, "y");
  float *dx = f32Arg(info, 2, n, "dx");
  const int64_t N = int64_t(n);
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
  for (int64_t i = 0; i < N; i++) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
  return info.Env().Undefined();
}

// step(x, y, n, alpha): 1 where x > 0, alpha elsewhere, NaN for NaN (tf.step).
Napi::Value Step(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 2);
  const float *x = f32Arg(info, 0, n, "x");
  float *y = f32Arg(info, 1, n, "y");
  const float alpha = float(info[3].As<Napi::Number>().DoubleValue());
  const int64_t N = int64_t(n);
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
  for (int64_t i = 0; i < N; i++) y[i] = x[i] != x[i] ? x[i] : (x[i] > 0.f ? 1.f : alpha);
  return info.Env().Undefined();
}

// sumMiddle(x, out, [A, R, C]): out[a, c] = sum_r x[a, r, c], accumulated in double.
Napi::Value SumMiddle(const Napi::CallbackInfo &info) {
  std::vector<int64_t> s = intsArg(info, 2, 3, "shape");
  const int64_t A = s[0], R = s[1], C = s[2];
  const float *x = f32Arg(info, 0, size_t(A * R * C), "x");
  float *o = f32Arg(info, 1, size_t(A * C), "out");
  const int nt = omp_get_max_threads();
  if (A >= nt || A * R * C <= kParallelMin) {
#pragma omp parallel for schedule(static) if (A * R * C > kParallelMin)
    for (int64_t a = 0; a < A; a++) {
      std::vector<double> acc(size_t(C), 0.0);
      double *ac = acc.data();
      for (int64_t r = 0; r < R; r++) {
        const float *xr = x + (a * R + r) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) ac[c] += xr[c];
      }
      for (int64_t c = 0; c < C; c++) o[a * C + c] = float(ac[c]);
    }
    return info.Env().Undefined();
  }
  // Few outer rows (e.g. a bias gradient, A = 1): split R across threads.
  std::vector<double> part(size_t(nt) * A * C, 0.0);
#pragma omp parallel num_threads(nt)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    const int64_t r0 = R * t / T, r1 = R * (t + 1) / T;
    for (int64_t a = 0; a < A; a++) {
      double *ac = &part[(size_t(t) * A + a) * C];
      for (int64_t r = r0; r < r1; r++) {
        const float *xr = x + (a * R + r) * C;
#pragma omp simd
        for (int64_t c = 0; c < C; c++) ac[c] += xr[c];
      }
    }
  }
  for (int64_t i = 0; i < A * C; i++) {
    double v = 0;
    for (int t = 0; t < nt; t++) v += part[size_t(t) * A * C + i];
    o[i] = float(v);
  }
  return info.Env().Undefined();
}

}  // namespace

void initEltwise(Napi::Env env, Napi::Object exports) {
  exports.Set("binary", Napi::Function::New(env, Binary));
  exports.Set("binaryBroadcast", Napi::Function::New(env, BinaryBroadcast));
  exports.Set("relu", Napi::Function::New(env, Relu));
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("step", Napi::Function::New(env, Step));
  exports.Set("sumMiddle", Napi::Function::New(env, SumMiddle));
}
