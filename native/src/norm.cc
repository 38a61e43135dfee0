// Batch normalisation in training mode on channels-last data viewed as
// [M = N*H*W, C], with optional fused residual add and ReLU:
//   y = relu(gamma * (x - mean) / sqrt(var + eps) + beta + r)
// and its fused backward (one pass for the channel sums, one for dx), which is
// where a plain-tfjs graph spends a dozen full passes over the activations.
// Channel sums accumulate in float within blocks of rows and in double across
// blocks and threads (see kRowBlock), so results depend on the thread count only
// through where the blocks start and the final reduction order.
#include "context.hpp"
#include <omp.h>
#include <algorithm>
#include <cmath>

namespace {

// Rows [r0, r1) of thread t among T.
inline void rowRange(int64_t M, int t, int T, int64_t &r0, int64_t &r1) {
  r0 = M * t / T;
  r1 = M * (t + 1) / T;
}

// Channel sums go in float over blocks of kRowBlock rows (16 lanes a vector, no
// conversions) and in double across blocks: the double-per-element version was
// compute-bound, at a third of memory speed. A block's float sum of 16 terms
// loses at most ~1e-6 of it; the statistics shift x by a per-channel pilot value
// (its first row) so the sum of squares does not cancel against the mean.
constexpr int64_t kRowBlock = 16;

// Rows [r0, r1) in blocks of kRowBlock: row(r, a, b) adds row r's two per-channel
// terms to the float block sums a and b, which go into the double sums s and q
// after each block. Inlined into its callers, so it vectorises for their clone.
template <class Row>
inline void blockedSums(int64_t r0, int64_t r1, int64_t C, double *s, double *q, Row row) {
  std::vector<float> ba(static_cast<size_t>(C)), bb(static_cast<size_t>(C));
  float *fa = ba.data(), *fb = bb.data();
  for (int64_t b0 = r0; b0 < r1; b0 += kRowBlock) {
    const int64_t b1 = std::min(r1, b0 + kRowBlock);
    std::fill(fa, fa + C, 0.f);
    std::fill(fb, fb + C, 0.f);
    for (int64_t r = b0; r < b1; r++) row(r, fa, fb);
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      s[c] += double(fa[c]);
      q[c] += double(fb[c]);
    }
  }
}

// One thread's share of the channel sums of (x - pilot) and (x - pilot)^2.
SELFSUP_VECTOR_CLONES void statsRows(const float *x, const float *pilot, int64_t r0, int64_t r1, int64_t C, double *s,
                                     double *q) {
  blockedSums(r0, r1, C, s, q, [&](int64_t r, float *fs, float *fq) {
    const float *xr = x + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      const float d = xr[c] - pilot[c];
      fs[c] += d;
      fq[c] += d * d;
    }
  });
}

// bnStats(x, mean, var, [M, C]): per-channel batch mean and biased variance.
Napi::Value BnStats(const Napi::CallbackInfo &info) {
  std::vector<int64_t> mc = intsArg(info, 3, 2, "shape");
  const int64_t M = mc[0], C = mc[1];
  const float *x = f32Arg(info, 0, size_t(M * C), "x");
  float *mean = f32Arg(info, 1, size_t(C), "mean");
  float *var = f32Arg(info, 2, size_t(C), "var");
  if (M <= 0) throw Napi::RangeError::New(info.Env(), "bnStats: empty batch");
  const int nt = omp_get_max_threads();
  std::vector<double> part(size_t(nt) * 2 * C, 0.0);
#pragma omp parallel num_threads(nt) if (M * C > kParallelMin)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    int64_t r0, r1;
    rowRange(M, t, T, r0, r1);
    statsRows(x, x, r0, r1, C, &part[size_t(t) * 2 * C], &part[size_t(t) * 2 * C] + C);
  }
  for (int64_t c = 0; c < C; c++) {
    double s = 0, q = 0;
    for (int t = 0; t < nt; t++) {
      s += part[size_t(t) * 2 * C + c];
      q += part[size_t(t) * 2 * C + C + c];
    }
    const double d = s / double(M);  // mean - pilot
    mean[c] = float(double(x[c]) + d);
    var[c] = float(std::max(0.0, q / double(M) - d * d));
  }
  return info.Env().Undefined();
}

// y = x * scale + shift per channel: the forward's normalisation, and what the
// backward recomputes to find the ReLU mask without reading y.
void scaleShift(const float *gamma, const float *beta, const float *mean, const float *var, double eps, int64_t C,
                float *scale, float *shift) {
  for (int64_t c = 0; c < C; c++) {
    const double k = double(gamma[c]) / std::sqrt(double(var[c]) + eps);
    scale[c] = float(k);
    shift[c] = float(double(beta[c]) - double(mean[c]) * k);
  }
}

// bnForward(x, gamma, beta, r|null, y, mean, var, [M, C], eps, relu): normalise
// with the given batch statistics, add the residual, apply ReLU.
Napi::Value BnForward(const Napi::CallbackInfo &info) {
  std::vector<int64_t> mc = intsArg(info, 7, 2, "shape");
  const int64_t M = mc[0], C = mc[1];
  const size_t n = size_t(M * C);
  const float *x = f32Arg(info, 0, n, "x");
  const float *gamma = f32Arg(info, 1, size_t(C), "gamma");
  const float *beta = f32Arg(info, 2, size_t(C), "beta");
  const float *res = f32ArgOrNull(info, 3, n, "residual");
  float *y = f32Arg(info, 4, n, "y");
  const float *mean = f32Arg(info, 5, size_t(C), "mean");
  const float *var = f32Arg(info, 6, size_t(C), "var");
  const double eps = info[8].As<Napi::Number>().DoubleValue();
  const bool relu = info[9].ToBoolean().Value();
  std::vector<float> scale(C), shift(C);
  scaleShift(gamma, beta, mean, var, eps, C, scale.data(), shift.data());
  const float *sc = scale.data(), *sh = shift.data();
#pragma omp parallel for schedule(static) if (int64_t(n) > kParallelMin)
  for (int64_t r = 0; r < M; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
    const float *rr = res ? res + r * C : nullptr;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      float v = xr[c] * sc[c] + sh[c];
      if (rr) v += rr[c];
      yr[c] = relu ? (v > 0.f ? v : 0.f) : v;
    }
  }
  return info.Env().Undefined();
}

// Where the backward's ReLU mask comes from: none (no ReLU), y > 0 (the forward's
// output, needed when a residual was added before the ReLU), or x * scale + shift > 0
// (recomputed: the same float expression as the forward's, so the same mask, and
// one array fewer to stream through both passes).
enum Mask { kNoMask, kMaskY, kMaskX };

template <int kMask>
inline float maskedGrad(const float *dyr, const float *yr, const float *xr, const float *sc, const float *sh, int64_t c) {
  // dy * step(y), as TF.js; branch-free
  if (kMask == kMaskY) return dyr[c] * float(yr[c] > 0.f);
  if (kMask == kMaskX) return dyr[c] * float(xr[c] * sc[c] + sh[c] > 0.f);
  return dyr[c];
}

// One thread's share of the backward channel sums (float within a block of rows,
// double across blocks, as statsRows). Templated on the ReLU mask
// and the residual output so the inner loop has no per-element branches on
// pointers and vectorises (a masked loop with a null check ran 10x slower).
template <int kMask, bool kResidual>
SELFSUP_VECTOR_CLONES void bwdSums(const float *dy, const float *x, const float *y, const float *mean, const float *sc,
                                   const float *sh, float *dr, int64_t r0, int64_t r1, int64_t C, double *sg, double *sgx) {
  blockedSums(r0, r1, C, sg, sgx, [&](int64_t r, float *fg, float *fgx) {
    const float *dyr = dy + r * C, *xr = x + r * C;
    const float *yr = kMask == kMaskY ? y + r * C : nullptr;
    float *drr = kResidual ? dr + r * C : nullptr;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) {
      const float g = maskedGrad<kMask>(dyr, yr, xr, sc, sh, c);
      if (kResidual) drr[c] = g;
      fg[c] += g;
      fgx[c] += g * (xr[c] - mean[c]);
    }
  });
}

template <int kMask>
SELFSUP_VECTOR_CLONES void bwdDxRows(const float *dy, const float *x, const float *y, const float *sc, const float *sh,
                                     float *dx, int64_t r0, int64_t r1, int64_t C, const float *a1, const float *a2,
                                     const float *a3) {
  for (int64_t r = r0; r < r1; r++) {
    const float *dyr = dy + r * C, *xr = x + r * C;
    const float *yr = kMask == kMaskY ? y + r * C : nullptr;
    float *dxr = dx + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++) dxr[c] = a1[c] * maskedGrad<kMask>(dyr, yr, xr, sc, sh, c) + a2[c] * xr[c] + a3[c];
  }
}

template <int kMask>
void bwdDx(const float *dy, const float *x, const float *y, const float *sc, const float *sh, float *dx, int64_t M,
           int64_t C, const float *a1, const float *a2, const float *a3) {
#pragma omp parallel if (M * C > kParallelMin)
  {
    int64_t r0, r1;
    rowRange(M, omp_get_thread_num(), omp_get_num_threads(), r0, r1);
    bwdDxRows<kMask>(dy, x, y, sc, sh, dx, r0, r1, C, a1, a2, a3);
  }
}

// bnBackward(dy, x, gamma, mean, var, y|null, dx, dgamma, dbeta, dr|null, [M, C], eps, beta|null)
// y given means the forward applied ReLU: gradients flow only where y > 0. beta
// given instead (no residual) means the same, with the mask recomputed from x.
// dr (optional) receives the gradient of the residual input.
Napi::Value BnBackward(const Napi::CallbackInfo &info) {
  std::vector<int64_t> mc = intsArg(info, 10, 2, "shape");
  const int64_t M = mc[0], C = mc[1];
  const size_t n = size_t(M * C);
  const float *dy = f32Arg(info, 0, n, "dy");
  const float *x = f32Arg(info, 1, n, "x");
  const float *gamma = f32Arg(info, 2, size_t(C), "gamma");
  const float *mean = f32Arg(info, 3, size_t(C), "mean");
  const float *var = f32Arg(info, 4, size_t(C), "var");
  const float *y = f32ArgOrNull(info, 5, n, "y");
  float *dx = f32Arg(info, 6, n, "dx");
  float *dgamma = f32Arg(info, 7, size_t(C), "dgamma");
  float *dbeta = f32Arg(info, 8, size_t(C), "dbeta");
  float *dr = f32ArgOrNull(info, 9, n, "dr");
  const double eps = info[11].As<Napi::Number>().DoubleValue();
  const float *beta = f32ArgOrNull(info, 12, size_t(C), "beta");
  if (M <= 0) throw Napi::RangeError::New(info.Env(), "bnBackward: empty batch");
  if (beta && (y || dr)) throw Napi::TypeError::New(info.Env(), "bnBackward: the mask from x is for a ReLU without residual");
  std::vector<float> scale(beta ? C : 0), shift(beta ? C : 0);
  if (beta) scaleShift(gamma, beta, mean, var, eps, C, scale.data(), shift.data());
  const float *sc = scale.data(), *sh = shift.data();

  const int nt = omp_get_max_threads();
  std::vector<double> part(size_t(nt) * 2 * C, 0.0);
#pragma omp parallel num_threads(nt) if (M * C > kParallelMin)
  {
    const int t = omp_get_thread_num(), T = omp_get_num_threads();
    double *sg = &part[size_t(t) * 2 * C], *sgx = sg + C;
    int64_t r0, r1;
    rowRange(M, t, T, r0, r1);
    if (y && dr) bwdSums<kMaskY, true>(dy, x, y, mean, sc, sh, dr, r0, r1, C, sg, sgx);
    else if (y) bwdSums<kMaskY, false>(dy, x, y, mean, sc, sh, dr, r0, r1, C, sg, sgx);
    else if (beta) bwdSums<kMaskX, false>(dy, x, y, mean, sc, sh, dr, r0, r1, C, sg, sgx);
    else if (dr) bwdSums<kNoMask, true>(dy, x, y, mean, sc, sh, dr, r0, r1, C, sg, sgx);
    else bwdSums<kNoMask, false>(dy, x, y, mean, sc, sh, dr, r0, r1, C, sg, sgx);
  }
  // dx = k1*g + k2*x + k3 with per-channel coefficients.
  std::vector<float> k1(C), k2(C), k3(C);
  for (int64_t c = 0; c < C; c++) {
    double sg = 0, sgx = 0;
    for (int t = 0; t < nt; t++) {
      sg += part[size_t(t) * 2 * C + c];
      sgx += part[size_t(t) * 2 * C + C + c];
    }
    const double inv = 1.0 / std::sqrt(double(var[c]) + eps);
    const double dg = sgx * inv;
    dbeta[c] = float(sg);
    dgamma[c] = float(dg);
    const double a = double(gamma[c]) * inv;
    const double b = -a * inv * dg / double(M);
    k1[c] = float(a);
    k2[c] = float(b);
    k3[c] = float(-a * sg / double(M) - b * double(mean[c]));
  }
  if (y) bwdDx<kMaskY>(dy, x, y, sc, sh, dx, M, C, k1.data(), k2.data(), k3.data());
  else if (beta) bwdDx<kMaskX>(dy, x, y, sc, sh, dx, M, C, k1.data(), k2.data(), k3.data());
  else bwdDx<kNoMask>(dy, x, y, sc, sh, dx, M, C, k1.data(), k2.data(), k3.data());
  return info.Env().Undefined();
}

// bnApply(x, mean, var, gamma|null, beta|null, y, [M, C], eps): inference-mode
// normalisation with given statistics (tf.batchNorm's FusedBatchNorm kernel).
Napi::Value BnApply(const Napi::CallbackInfo &info) {
  std::vector<int64_t> mc = intsArg(info, 6, 2, "shape");
  const int64_t M = mc[0], C = mc[1];
  const size_t n = size_t(M * C);
  const float *x = f32Arg(info, 0, n, "x");
  const float *mean = f32Arg(info, 1, size_t(C), "mean");
  const float *var = f32Arg(info, 2, size_t(C), "var");
  const float *gamma = f32ArgOrNull(info, 3, size_t(C), "gamma");
  const float *beta = f32ArgOrNull(info, 4, size_t(C), "beta");
  float *y = f32Arg(info, 5, n, "y");
  const float eps = float(info[7].As<Napi::Number>().DoubleValue());
  // Same float32 expression order as the cpu kernel, so results match closely.
  std::vector<float> inv(C);
  for (int64_t c = 0; c < C; c++) inv[c] = 1.f / std::sqrt(var[c] + eps);
  const float *iv = inv.data();
#pragma omp parallel for schedule(static) if (int64_t(n) > kParallelMin)
  for (int64_t r = 0; r < M; r++) {
    const float *xr = x + r * C;
    float *yr = y + r * C;
#pragma omp simd
    for (int64_t c = 0; c < C; c++)
      yr[c] = (beta ? beta[c] : 0.f) + (xr[c] - mean[c]) * (gamma ? gamma[c] : 1.f) * iv[c];
  }
  return info.Env().Undefined();
}

}  // namespace

void initNorm(Napi::Env env, Napi::Object exports) {
  exports.Set("bnStats", Napi::Function::New(env, BnStats));
  exports.Set("bnForward", Napi::Function::New(env, BnForward));
  exports.Set("bnBackward", Napi::Function::New(env, BnBackward));
  exports.Set("bnApply", Napi::Function::New(env, BnApply));
}
