// Image kernels of the augmentation pipeline that TF.js's cpu backend runs as
// per-element JS loops. cropAndResize (bilinear) is RandomResizedCrop's resize:
// two calls per batch (one per view), ~4 ms each at 128 x 32x32x3 in JS.
// The arithmetic is the cpu kernel's, in double, in the same order, so the
// output has the same bits.
#include "context.hpp"
#include <cmath>
#include <limits>
#include <omp.h>

namespace {

// cropAndResize(image, boxes, boxInd, out, [batch, ih, iw, c, boxes, ch, cw], extrapolation)
Napi::Value CropAndResize(const Napi::CallbackInfo &info) {
  const std::vector<int64_t> s = intsArg(info, 4, 7, "shape");
  const int64_t batch = s[0], ih = s[1], iw = s[2], C = s[3], nb = s[4], ch = s[5], cw = s[6];
  const float *image = f32Arg(info, 0, size_t(batch * ih * iw * C), "image");
  const float *boxes = f32Arg(info, 1, size_t(nb * 4), "boxes");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw Napi::TypeError::New(info.Env(), "argument 'boxInd' must be an Int32Array");
  Napi::Int32Array bi = info[2].As<Napi::Int32Array>();
  if (int64_t(bi.ElementLength()) != nb) throw Napi::RangeError::New(info.Env(), "argument 'boxInd' has the wrong length");
  const int32_t *boxInd = bi.Data();
  float *out = f32Arg(info, 3, size_t(nb * ch * cw * C), "out");
  const float extrap = float(info[5].As<Napi::Number>().DoubleValue());
  const int64_t outBox = ch * cw * C;
#pragma omp parallel for schedule(static) if (nb * outBox > kParallelMin / 4)
  for (int64_t b = 0; b < nb; b++) {
    float *ob = out + b * outBox;
    const double y1 = boxes[b * 4], x1 = boxes[b * 4 + 1], y2 = boxes[b * 4 + 2], x2 = boxes[b * 4 + 3];
    const int64_t bIn = boxInd[b];  // >= 0: the kernel in native-kernels.ts checks
    if (bIn >= batch) {  // the cpu kernel leaves such a box's output at zero
      std::fill(ob, ob + outBox, 0.f);
      continue;
    }
    const float *img = image + bIn * ih * iw * C;
    const double hScale = ch > 1 ? (y2 - y1) * double(ih - 1) / double(ch - 1) : 0;
    const double wScale = cw > 1 ? (x2 - x1) * double(iw - 1) / double(cw - 1) : 0;
    for (int64_t y = 0; y < ch; y++) {
      float *orow = ob + y * cw * C;
      const double yInd = ch > 1 ? y1 * double(ih - 1) + double(y) * hScale : 0.5 * (y1 + y2) * double(ih - 1);
      if (yInd < 0 || yInd > double(ih - 1)) {
        std::fill(orow, orow + cw * C, extrap);
        continue;
      }
      if (std::isnan(yInd)) {  // a NaN box: the cpu kernel reads undefined pixels, NaN
        std::fill(orow, orow + cw * C, std::numeric_limits<float>::quiet_NaN());
        continue;
      }
      const int64_t top = int64_t(std::floor(yInd)), bottom = int64_t(std::ceil(yInd));
      const double yLerp = yInd - double(top);
      for (int64_t x = 0; x < cw; x++) {
        float *o = orow + x * C;
        const double xInd = cw > 1 ? x1 * double(iw - 1) + double(x) * wScale : 0.5 * (x1 + x2) * double(iw - 1);
        if (xInd < 0 || xInd > double(iw - 1)) {
          std::fill(o, o + C, extrap);
          continue;
        }
        if (std::isnan(xInd)) {
          std::fill(o, o + C, std::numeric_limits<float>::quiet_NaN());
          continue;
        }
        const int64_t left = int64_t(std::floor(xInd)), right = int64_t(std::ceil(xInd));
        const double xLerp = xInd - double(left);
        const float *tl = img + (top * iw + left) * C, *tr = img + (top * iw + right) * C;
        const float *bl = img + (bottom * iw + left) * C, *br = img + (bottom * iw + right) * C;
        for (int64_t c = 0; c < C; c++) {
          const double t = double(tl[c]) + (double(tr[c]) - double(tl[c])) * xLerp;
          const double u = double(bl[c]) + (double(br[c]) - double(bl[c])) * xLerp;
          o[c] = float(t + (u - t) * yLerp);
        }
      }
    }
  }
  return info.Env().Undefined();
}

}  // namespace

void initImage(Napi::Env env, Napi::Object exports) {
  exports.Set("cropAndResize", Napi::Function::New(env, CropAndResize));
}
