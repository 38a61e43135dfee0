// Memory-bound elementwise kernels and reductions that the TF.js cpu backend
// runs as single-threaded JS loops: add, multiply, relu and its gradient, step,
// and sums over the middle axis of a [A, R, C] view (bias gradients, global
// average pooling). Small arrays stay on one thread (see kParallelMin).
#include "context.hpp"
#include <cmath>
#include <omp.h>

namespace {


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
void stridedLoop(const float *a, const float *b, float *o, const std::vector<int64_t> &dims,
                 const std::vector<int64_t> &sa, const std::vector<int64_t> &sb, Op op) {
  const int rank = int(dims.size());
  const int64_t inner = dims[rank - 1];
  const int64_t ia = sa[rank - 1], ib = sb[rank - 1];
  int64_t outer = 1;
  for (int d = 0; d < rank - 1; d++) outer *= dims[d];
#pragma omp parallel for schedule(static) if (outer * inner > kParallelMin)
  for (int64_t r = 0; r < outer; r++) {
    int64_t offA = 0, offB = 0, rem = r;
    for (int d = rank - 2; d >= 0; d--) {
      const int64_t i = rem % dims[d];
      rem /= dims[d];
      offA += i * sa[d];
      offB += i * sb[d];
    }
    const float *ar = a + offA, *br = b + offB;
    float *orow = o + r * inner;
    if (ia == 1 && ib == 1) {
#pragma omp simd
      for (int64_t k = 0; k < inner; k++) orow[k] = op(ar[k], br[k]);
    } else if (ia == 1) {
      const float bv = br[0];
#pragma omp simd
      for (int64_t k = 0; k < inner; k++) orow[k] = op(ar[k], bv);
    } else if (ib == 1) {
      const float av = ar[0];
#pragma omp simd
      for (int64_t k = 0; k < inner; k++) orow[k] = op(av, br[k]);
    } else {
      const float v = op(ar[0], br[0]);
      for (int64_t k = 0; k < inner; k++) orow[k] = v;
    }
  }
}

// binaryStrided(a, b, out, dims, stridesA, stridesB, op): general broadcasting.
// out is dense with shape dims; the innermost stride of a and b is 0 or 1.
Napi::Value BinaryStrided(const Napi::CallbackInfo &info) {
  if (!info[3].IsArray()) throw Napi::TypeError::New(info.Env(), "dims must be an array");
  const size_t rank = info[3].As<Napi::Array>().Length();
  if (rank == 0 || rank > 8) throw Napi::RangeError::New(info.Env(), "binaryStrided: rank must be 1..8");
  std::vector<int64_t> dims = intsArg(info, 3, rank, "dims");
  std::vector<int64_t> sa = intsArg(info, 4, rank, "stridesA");
  std::vector<int64_t> sb = intsArg(info, 5, rank, "stridesB");
  if ((sa[rank - 1] != 0 && sa[rank - 1] != 1) || (sb[rank - 1] != 0 && sb[rank - 1] != 1))
    throw Napi::RangeError::New(info.Env(), "binaryStrided: innermost strides must be 0 or 1");
  int64_t n = 1, lastA = 0, lastB = 0;
  for (size_t d = 0; d < rank; d++) {
    n *= dims[d];
    lastA += (dims[d] - 1) * sa[d];
    lastB += (dims[d] - 1) * sb[d];
  }
  Napi::Float32Array A = info[0].As<Napi::Float32Array>(), B = info[1].As<Napi::Float32Array>();
  if (int64_t(A.ElementLength()) <= lastA || int64_t(B.ElementLength()) <= lastB)
    throw Napi::RangeError::New(info.Env(), "binaryStrided: strides reach past an input");
  const float *a = f32Arg(info, 0, A.ElementLength(), "a");
  const float *b = f32Arg(info, 1, B.ElementLength(), "b");
  float *o = f32Arg(info, 2, size_t(n), "out");
  switch (info[6].As<Napi::Number>().Int32Value()) {
    case 0: stridedLoop(a, b, o, dims, sa, sb, [](float x, float y) { return x + y; }); break;
    case 1: stridedLoop(a, b, o, dims, sa, sb, [](float x, float y) { return x * y; }); break;
    case 2: stridedLoop(a, b, o, dims, sa, sb, [](float x, float y) { return x - y; }); break;
    default: stridedLoop(a, b, o, dims, sa, sb, [](float x, float y) { return x / y; }); break;
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

// clip(x, y, n, lo, hi): as TF.js's cpu ClipByValue, comparing in double with
// the attribute values and writing them rounded to float32; NaN passes through.
Napi::Value Clip(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 2);
  const float *x = f32Arg(info, 0, n, "x");
  float *y = f32Arg(info, 1, n, "y");
  const double lo = info[3].As<Napi::Number>().DoubleValue(), hi = info[4].As<Napi::Number>().DoubleValue();
  const float loF = float(lo), hiF = float(hi);
  const int64_t N = int64_t(n);
  if (double(loF) == lo && double(hiF) == hi) {
    // Bounds exact in float32 (0, 1, 255...): the float comparison is the same test.
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
    for (int64_t i = 0; i < N; i++) y[i] = x[i] > hiF ? hiF : (x[i] < loF ? loF : x[i]);
  } else {
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
    for (int64_t i = 0; i < N; i++) {
      const double v = x[i];
      y[i] = v > hi ? hiF : (v < lo ? loF : x[i]);
    }
  }
  return info.Env().Undefined();
}

// exp(x, y, n): TF.js's cpu Exp computes Math.exp in double and rounds to float32;
// this is glibc's exp in double, rounded the same way (the two agree to the float
// except, rarely, where the double result sits on a rounding boundary).
SELFSUP_VECTOR_CLONES void expRows(const float *x, float *y, int64_t i0, int64_t i1) {
  for (int64_t i = i0; i < i1; i++) y[i] = float(std::exp(double(x[i])));
}

Napi::Value Exp(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 2);
  const float *x = f32Arg(info, 0, n, "x");
  float *y = f32Arg(info, 1, n, "y");
  const int64_t N = int64_t(n);
  // exp costs ~20x a memory pass per element: worth two threads well below kParallelMin.
#pragma omp parallel if (N > (1 << 15))
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    expRows(x, y, N * t / T, N * (t + 1) / T);
  }
  return info.Env().Undefined();
}

// reluGrad(dy, x, dx, n): dx = dy * step(x), exactly TF.js's Relu gradient
// (step(NaN) = NaN; 0 * inf = NaN is kept), in one pass instead of three.
Napi::Value ReluGrad(const Napi::CallbackInfo &info) {
  const size_t n = lenArg(info, 3);
  const float *dy = f32Arg(info, 0, n, "dy");
  const float *x = f32Arg(info, 1, n, "x");
  float *dx = f32Arg(info, 2, n, "dx");
  const int64_t N = int64_t(n);
#pragma omp parallel for simd schedule(static) if (N > kParallelMin)
  for (int64_t i = 0; i < N; i++) {
    const float s = x[i] != x[i] ? x[i] : (x[i] > 0.f ? 1.f : 0.f);
    dx[i] = dy[i] * s;
  }
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
  exports.Set("binaryStrided", Napi::Function::New(env, BinaryStrided));
  exports.Set("relu", Napi::Function::New(env, Relu));
  exports.Set("clip", Napi::Function::New(env, Clip));
  exports.Set("exp", Napi::Function::New(env, Exp));
  exports.Set("reluGrad", Napi::Function::New(env, ReluGrad));
  exports.Set("step", Napi::Function::New(env, Step));
  exports.Set("sumMiddle", Napi::Function::New(env, SumMiddle));
}
