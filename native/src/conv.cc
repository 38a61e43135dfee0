// 2-D convolution forward, backward-data and backward-weights on NHWC
// activations and tf.conv2d's [kh, kw, in, out] filters, run in place on the
// caller's Float32Arrays. Activations stay NHWC (no reorder on the direct
// kernels' path); only the small filter is reordered to the primitive's
// blocked layout. Wide 3x3 stride-1 layers without bias or fused activation
// go to Winograd kernels first (winograd.cc), which reorder both.
#include "conv.hpp"
#include "weights.hpp"
#include <cstring>
#include <omp.h>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

convolution_forward::desc fwdDesc(const ConvShape &s, bool bias) {
  if (bias)
    return convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, s.src(),
                                     s.wAny(), memory::desc({s.oc}, dt::f32, tag::a), s.dst(), s.strides(),
                                     s.dilates(), s.padL(), s.padR());
  return convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, s.src(), s.wAny(),
                                   s.dst(), s.strides(), s.dilates(), s.padL(), s.padR());
}

// oneDNN 2.6 ranks brgconv first for every NHWC forward convolution, but on
// small stride-1 outputs (ResNet-18's 4x4 stage: 512 -> 512 channels) it runs
// at under half the speed of the direct jit kernel: with 16 output pixels per
// image it re-reads the 9 MB blocked filter for every image of the batch,
// while the direct kernel keeps a filter block in cache across the batch.
// Measured 1 thread, batch 64: 4x4x512 -> 512, 3x3: brgconv 88-137 ms, jit 43-60 ms;
// at 8x8 and above the two are within noise, so only the small case moves.
// The choice is by shape only, so a run computes the same numbers every time.
constexpr int64_t kSmallOutPixels = 16;

bool preferDirectJit(const ConvShape &s) {
  return s.sh == 1 && s.sw == 1 && s.kh * s.kw > 1 && s.oh * s.ow <= kSmallOutPixels;
}

bool startsWith(const char *s, const char *prefix) { return std::string(s).rfind(prefix, 0) == 0; }

// The forward primitive_desc for s: oneDNN's first choice, or the direct jit
// kernel when preferDirectJit says so and this CPU has it.
convolution_forward::primitive_desc fwdPrimitiveDesc(const Context &c, const ConvShape &s, bool bias,
                                                     const primitive_attr &attr) {
  // The implementation iterator reads the op descriptor it was made from, so
  // that descriptor must outlive the walk below.
  const convolution_forward::desc d = fwdDesc(s, bias);
  convolution_forward::primitive_desc pd(d, attr, c.eng);
  if (!c.convTuning || !preferDirectJit(s) || !startsWith(pd.impl_info_str(), "brgconv")) return pd;
  // next_impl walks the same handle, so a miss rebuilds the first choice.
  while (pd.next_impl()) {
    const char *impl = pd.impl_info_str();
    if (startsWith(impl, "jit:avx512")) return pd;
    if (startsWith(impl, "ref") || startsWith(impl, "x64:gemm")) break;
  }
  return convolution_forward::primitive_desc(d, attr, c.eng);
}

struct ConvFwd {
  convolution_forward prim;
  memory src, dst, bias;
  Weights w;
  bool hasBias = false;
};

struct ConvBwdData {
  convolution_backward_data prim;
  memory diffSrc, diffDst;
  Weights w;
};

// Backward-data as a forward convolution of dy with the filter flipped in
// space and transposed in channels (stride 1, no dilation): on small outputs
// the direct forward kernel beats oneDNN's backward-data kernel (1 thread,
// batch 64, 4x4x512 -> 512: forward 43-60 ms, backward-data 71-89 ms).
// The flip is one oneDNN reorder per filter tap, from a strided view of the
// user's hwio filter (channels swapped by strides) into that tap of the
// primitive's blocked filter: one pass, as cheap as the usual filter reorder.
struct ConvBwdDataFlip {
  convolution_forward prim;
  memory diffDst, diffSrc, wPrim;
  std::vector<memory> tapSrc, tapDst;
  std::vector<reorder> tapReorder;
  std::vector<size_t> tapOffset;  // element offset of each tap's source in the user filter
};

struct ConvBwdWeights {
  convolution_backward_weights prim;
  memory src, diffDst;
  Weights w;
};

// The cached primitives for a shape (kv: the shape vector, plus flags for the forward).
ConvFwd &fwdEntry(Context &c, const ConvShape &s, std::vector<int64_t> kv, bool bias, bool relu) {
  kv.push_back(bias);
  kv.push_back(relu);
  return c.cached<ConvFwd>(keyOf("conv_fwd", kv, c.threads), [&] {
    auto e = std::make_shared<ConvFwd>();
    primitive_attr attr;
    if (relu) {
      post_ops po;
      po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    convolution_forward::primitive_desc pd = fwdPrimitiveDesc(c, s, bias, attr);
    e->prim = convolution_forward(pd);
    e->src = memory(pd.src_desc(), c.eng, nullptr);
    e->dst = memory(pd.dst_desc(), c.eng, nullptr);
    e->hasBias = bias;
    if (bias) e->bias = memory(pd.bias_desc(), c.eng, nullptr);
    e->w.init(c.eng, s.wUser(), pd.weights_desc(), true);
    return e;
  });
}

ConvBwdData &bwdDataEntry(Context &c, const ConvShape &s, const std::vector<int64_t> &kv) {
  return c.cached<ConvBwdData>(keyOf("conv_bwd_data", kv, c.threads), [&] {
    auto e = std::make_shared<ConvBwdData>();
    convolution_forward::primitive_desc hint(fwdDesc(s, false), c.eng);
    convolution_backward_data::desc d(algorithm::convolution_direct, s.src(), s.wAny(), s.dst(), s.strides(),
                                      s.dilates(), s.padL(), s.padR());
    convolution_backward_data::primitive_desc pd(d, c.eng, hint);
    e->prim = convolution_backward_data(pd);
    e->diffSrc = memory(pd.diff_src_desc(), c.eng, nullptr);
    e->diffDst = memory(pd.diff_dst_desc(), c.eng, nullptr);
    e->w.init(c.eng, s.wUser(), pd.weights_desc(), true);
    return e;
  });
}

// The forward problem that computes dx, or false when s is not one to move.
// One thread only: with two, the flipped path measured anywhere from 17 to
// 107 ms against a steady 32-48 ms for oneDNN's backward-data (4x4x512, batch
// 64, a loaded machine; cause not yet found), while on one thread it won in
// every run (24 vs 35 ms at batch 64, 7 vs 10 ms at batch 16).
bool flippedShape(const Context &c, const ConvShape &s, std::vector<int64_t> &out) {
  if (omp_get_max_threads() != 1) return false;
  if (!c.convTuning || !preferDirectJit(s) || s.dh != 1 || s.dw != 1 || s.ih * s.iw > kSmallOutPixels) return false;
  int64_t pt = s.kh - 1 - s.pt, pl = s.kw - 1 - s.pl;
  int64_t pb = s.ih - s.oh - pt + s.kh - 1, pr = s.iw - s.ow - pl + s.kw - 1;
  if (pt < 0 || pl < 0 || pb < 0 || pr < 0) return false;
  out = {s.n, s.oh, s.ow, s.oc, s.kh, s.kw, s.ic, s.ih, s.iw, 1, 1, 1, 1, pt, pl, pb, pr};
  return true;
}

ConvBwdDataFlip &bwdDataFlipEntry(Context &c, const ConvShape &s, const std::vector<int64_t> &kv,
                                  const std::vector<int64_t> &fv) {
  return c.cached<ConvBwdDataFlip>(keyOf("conv_bwd_data_flip", kv, c.threads), [&] {
    auto e = std::make_shared<ConvBwdDataFlip>();
    ConvShape f(fv);
    convolution_forward::primitive_desc pd = fwdPrimitiveDesc(c, f, false, primitive_attr());
    e->prim = convolution_forward(pd);
    e->diffDst = memory(pd.src_desc(), c.eng, nullptr);
    e->diffSrc = memory(pd.dst_desc(), c.eng, nullptr);
    e->wPrim = memory(pd.weights_desc(), c.eng);
    // Channel padding of a blocked layout is never written by the tap reorders: zero it once.
    std::memset(e->wPrim.get_data_handle(), 0, pd.weights_desc().get_size());
    // Flipped filter, logical [out' = ic][in' = oc][a][b], tap (a, b) = user tap (kh-1-a, kw-1-b) with i, o swapped.
    const memory::desc tapSrcMd({s.ic, s.oc, 1, 1}, dt::f32, memory::dims{s.oc, 1, s.ic * s.oc, s.ic * s.oc});
    for (int64_t a = 0; a < s.kh; a++)
      for (int64_t b = 0; b < s.kw; b++) {
        memory::desc dstMd = pd.weights_desc().submemory_desc({s.ic, s.oc, 1, 1}, {0, 0, a, b});
        e->tapSrc.emplace_back(tapSrcMd, c.eng, nullptr);
        e->tapDst.emplace_back(dstMd, c.eng, e->wPrim.get_data_handle());
        e->tapReorder.emplace_back(e->tapSrc.back(), e->tapDst.back());
        e->tapOffset.push_back(size_t(((s.kh - 1 - a) * s.kw + (s.kw - 1 - b)) * s.ic * s.oc));
      }
    return e;
  });
}

ConvBwdWeights &bwdWeightsEntry(Context &c, const ConvShape &s, const std::vector<int64_t> &kv) {
  return c.cached<ConvBwdWeights>(keyOf("conv_bwd_w", kv, c.threads), [&] {
    auto e = std::make_shared<ConvBwdWeights>();
    convolution_forward::primitive_desc hint(fwdDesc(s, false), c.eng);
    convolution_backward_weights::desc d(algorithm::convolution_direct, s.src(), s.wAny(), s.dst(), s.strides(),
                                         s.dilates(), s.padL(), s.padR());
    convolution_backward_weights::primitive_desc pd(d, c.eng, hint);
    e->prim = convolution_backward_weights(pd);
    e->src = memory(pd.src_desc(), c.eng, nullptr);
    e->diffDst = memory(pd.diff_dst_desc(), c.eng, nullptr);
    e->w.init(c.eng, s.wUser(), pd.diff_weights_desc(), false);
    return e;
  });
}

// conv2d(x, w, bias|null, y, shape, relu): y = act(conv(x, w) + bias)
Napi::Value Conv2d(const Napi::CallbackInfo &info) {
  Context &c = ctx(info);
  std::vector<int64_t> kv = intsArg(info, 4, kShapeLen, "shape");
  ConvShape s(kv);
  float *x = f32Arg(info, 0, s.xLen(), "x");
  float *w = f32Arg(info, 1, s.wLen(), "filter");
  float *b = f32ArgOrNull(info, 2, size_t(s.oc), "bias");
  float *y = f32Arg(info, 3, s.yLen(), "y");
  bool relu = info.Length() > 5 && info[5].ToBoolean().Value();
  if (!b && !relu && winogradForward(c, s, kv, x, w, y)) return info.Env().Undefined();
  ConvFwd &e = fwdEntry(c, s, kv, b != nullptr, relu);
  e.src.set_data_handle(x);
  e.dst.set_data_handle(y);
  e.w.user.set_data_handle(w);
  e.w.copyToPrimitive(c.strm);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.src}, {DNNL_ARG_WEIGHTS, e.w.prim}, {DNNL_ARG_DST, e.dst}};
  if (e.hasBias) {
    e.bias.set_data_handle(b);
    args.emplace(DNNL_ARG_BIAS, e.bias);
  }
  e.prim.execute(c.strm, args);
  c.strm.wait();
  return info.Env().Undefined();
}

// conv2dBackpropInput(dy, w, dx, shape): dx = conv^T(dy, w)
Napi::Value Conv2dBackpropInput(const Napi::CallbackInfo &info) {
  Context &c = ctx(info);
  std::vector<int64_t> kv = intsArg(info, 3, kShapeLen, "shape");
  ConvShape s(kv);
  float *dy = f32Arg(info, 0, s.yLen(), "dy");
  float *w = f32Arg(info, 1, s.wLen(), "filter");
  float *dx = f32Arg(info, 2, s.xLen(), "dx");
  if (winogradBackwardData(c, s, kv, dy, w, dx)) return info.Env().Undefined();
  std::vector<int64_t> fv;
  if (flippedShape(c, s, fv)) {
    ConvBwdDataFlip &e = bwdDataFlipEntry(c, s, kv, fv);
    for (size_t t = 0; t < e.tapReorder.size(); t++) {
      e.tapSrc[t].set_data_handle(w + e.tapOffset[t]);
      e.tapReorder[t].execute(c.strm, e.tapSrc[t], e.tapDst[t]);
    }
    e.diffDst.set_data_handle(dy);
    e.diffSrc.set_data_handle(dx);
    e.prim.execute(c.strm, {{DNNL_ARG_SRC, e.diffDst}, {DNNL_ARG_WEIGHTS, e.wPrim}, {DNNL_ARG_DST, e.diffSrc}});
    c.strm.wait();
    return info.Env().Undefined();
  }
  ConvBwdData &e = bwdDataEntry(c, s, kv);
  e.diffDst.set_data_handle(dy);
  e.diffSrc.set_data_handle(dx);
  e.w.user.set_data_handle(w);
  e.w.copyToPrimitive(c.strm);
  e.prim.execute(c.strm, {{DNNL_ARG_DIFF_DST, e.diffDst}, {DNNL_ARG_WEIGHTS, e.w.prim}, {DNNL_ARG_DIFF_SRC, e.diffSrc}});
  c.strm.wait();
  return info.Env().Undefined();
}

// conv2dBackpropFilter(x, dy, dw, shape): dw = d(loss)/d(filter)
Napi::Value Conv2dBackpropFilter(const Napi::CallbackInfo &info) {
  Context &c = ctx(info);
  std::vector<int64_t> kv = intsArg(info, 3, kShapeLen, "shape");
  ConvShape s(kv);
  float *x = f32Arg(info, 0, s.xLen(), "x");
  float *dy = f32Arg(info, 1, s.yLen(), "dy");
  float *dw = f32Arg(info, 2, s.wLen(), "dw");
  if (winogradBackwardWeights(c, s, kv, x, dy, dw)) return info.Env().Undefined();
  ConvBwdWeights &e = bwdWeightsEntry(c, s, kv);
  e.src.set_data_handle(x);
  e.diffDst.set_data_handle(dy);
  e.w.user.set_data_handle(dw);
  e.prim.execute(c.strm, {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DIFF_DST, e.diffDst}, {DNNL_ARG_DIFF_WEIGHTS, e.w.prim}});
  e.w.copyFromPrimitive(c.strm);
  c.strm.wait();
  return info.Env().Undefined();
}

// convImplementations(shape): the oneDNN implementation each of the three
// primitives for this shape runs (the forward without bias or activation).
Napi::Value ConvImplementations(const Napi::CallbackInfo &info) {
  Context &c = ctx(info);
  std::vector<int64_t> kv = intsArg(info, 0, kShapeLen, "shape");
  ConvShape s(kv);
  const WinogradImpls wino = winogradImplementations(c, s, kv);
  std::vector<int64_t> fv;
  const bool flipped = wino.backwardData.empty() && flippedShape(c, s, fv);
  Napi::Object o = Napi::Object::New(info.Env());
  // How each filter reaches its primitive: "hwio" (as is), a hand-written copy's layout, or "reorder" (oneDNN;
  // the Winograd layouts always are).
  Napi::Object w = Napi::Object::New(info.Env());
  if (!wino.forward.empty()) {
    o.Set("forward", wino.forward);
    w.Set("forward", "reorder");
  } else {
    ConvFwd &e = fwdEntry(c, s, kv, false, false);
    o.Set("forward", implOf(e.prim));
    w.Set("forward", e.w.describe());
  }
  if (!wino.backwardData.empty()) {
    o.Set("backwardData", wino.backwardData);
    w.Set("backwardData", "reorder");
  } else if (flipped) {
    o.Set("backwardData", "forward(flipped filter) " + implOf(bwdDataFlipEntry(c, s, kv, fv).prim));
    w.Set("backwardData", "flipped taps");
  } else {
    ConvBwdData &e = bwdDataEntry(c, s, kv);
    o.Set("backwardData", implOf(e.prim));
    w.Set("backwardData", e.w.describe());
  }
  if (!wino.backwardWeights.empty()) {
    o.Set("backwardWeights", wino.backwardWeights);
    w.Set("backwardWeights", "reorder");
  } else {
    ConvBwdWeights &e = bwdWeightsEntry(c, s, kv);
    o.Set("backwardWeights", implOf(e.prim));
    w.Set("backwardWeights", e.w.describe());
  }
  o.Set("filterCopies", w);
  return o;
}

}  // namespace

std::string implOf(const primitive &p) {
  const_dnnl_primitive_desc_t pd;
  if (dnnl_primitive_get_primitive_desc(p.get(), &pd) != dnnl_success) return "?";
  const char *name = nullptr;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &name) != dnnl_success || !name) return "?";
  return name;
}

void initConv(Napi::Env env, Napi::Object exports) {
  exports.Set("conv2d", Napi::Function::New(env, Conv2d));
  exports.Set("conv2dBackpropInput", Napi::Function::New(env, Conv2dBackpropInput));
  exports.Set("conv2dBackpropFilter", Napi::Function::New(env, Conv2dBackpropFilter));
  exports.Set("convImplementations", Napi::Function::New(env, ConvImplementations));
}
