// Winograd F(4x4, 3x3) convolutions: oneDNN's jit_wino_4x3 kernels for the
// 3x3 stride-1 "same" layers of wide networks, forward and both gradients.
//
// A Winograd convolution computes each 4x4 output tile from a 6x6 input tile
// with 36 multiplies per (input, output) channel pair instead of 144, at the
// cost of transforming input, filter and output tiles. PyTorch's CPU path does
// not use it (it asks oneDNN for direct convolutions), so it is where we can be
// faster than the same oneDNN direct kernels PyTorch runs.
//
// The kernels want blocked activations (nChw16c) and a filter in their own
// transformed layout, so each call reorders NHWC in and out and the hwio filter
// in; every timing below includes those reorders. Measured on 2 threads (AMD
// EPYC, AVX-512, .scratch/wino/wino2.cc), direct / Winograd time, batch 64:
//   64 ch 32x32: 1.39x forward, 1.66x backward-data, 1.10x backward-weights
//   128 ch 16x16: 1.63x, 1.85x, 1.65x;  256 ch 8x8: 2.06x, 2.43x, 1.96x;
//   512 ch 4x4: 2.82x, 1.94x, 1.85x.
// Narrow layers lose (32 channels, batch 256: 0.95x, 1.09x, 0.83x) and so do
// small problems, where the filter transform outweighs the saving (batch 1,
// 512 ch 4x4: 0.26x-0.48x): hence kMinChannels and kMinTiles. Results differ
// from the direct kernels' in the last bits (max |error| / max |value| 1e-6 to
// 4e-6 over the shapes above, as for any change of summation order); the
// choice depends on the shape only, so a run computes the same numbers every time.
#include "conv.hpp"
#include "weights.hpp"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

constexpr int64_t kMinChannels = 64;
// 4x4 output tiles over the batch: 64 is batch 4 at 16x16, batch 16 at 8x8, batch 64 at 4x4.
constexpr int64_t kMinTiles = 64;

convolution_forward::primitive_desc forwardPd(Context &c, const ConvShape &s);

// oneDNN 2.6 has Winograd kernels for AVX-512 only. Asked once with a small
// problem, so that elsewhere an eligible call does not build a cache key only to
// find an entry that says "unavailable".
bool kernelsExist(Context &c) {
  if (c.winogradKernels < 0) {
    try {
      forwardPd(c, ConvShape({1, 8, 8, 64, 3, 3, 64, 8, 8, 1, 1, 1, 1, 1, 1, 1, 1}));
      c.winogradKernels = 1;
    } catch (const dnnl::error &) {
      c.winogradKernels = 0;
    }
  }
  return c.winogradKernels == 1;
}

bool eligible(Context &c, const ConvShape &s) {
  if (!c.winograd) return false;
  if (s.kh != 3 || s.kw != 3 || s.sh != 1 || s.sw != 1 || s.dh != 1 || s.dw != 1) return false;
  if (s.pt != 1 || s.pl != 1 || s.pb != 1 || s.pr != 1) return false;  // "same" padding
  if (s.ic < kMinChannels || s.oc < kMinChannels || s.ic % 16 != 0 || s.oc % 16 != 0) return false;
  return s.n * ((s.oh + 3) / 4) * ((s.ow + 3) / 4) >= kMinTiles && kernelsExist(c);
}

// An activation as the caller holds it (NHWC) and as the primitive wants it,
// in a shared scratch buffer, with the reorder between the two.
struct Activation {
  memory user, prim;
  reorder copy;
  Context::ScratchSlot slot = Context::kScratchSrc;

  void init(const engine &eng, const memory::desc &userMd, const memory::desc &primMd, bool toPrimitive,
            Context::ScratchSlot where) {
    user = memory(userMd, eng, nullptr);
    prim = memory(primMd, eng, nullptr);
    copy = toPrimitive ? reorder(user, prim) : reorder(prim, user);
    slot = where;
  }
  void bind(Context &c, const float *data) {
    user.set_data_handle(const_cast<float *>(data));
    prim.set_data_handle(c.scratch[slot].get(prim.get_desc().get_size()));
  }
  void in(stream &s) { copy.execute(s, user, prim); }
  void out(stream &s) { copy.execute(s, prim, user); }
};

// The primitive's scratchpad comes from a shared buffer too: oneDNN would
// otherwise keep one per cached primitive, tens of MB each at batch 256.
primitive_attr userScratchpad() {
  primitive_attr a;
  a.set_scratchpad_mode(scratchpad_mode::user);
  return a;
}

// Filters in the Winograd layout are 4x the hwio size (36 vs 9 values a
// channel pair): they are filled each call, so they share a buffer as well.
void bindWeights(Context &c, Weights &w, const float *data) {
  w.user.set_data_handle(const_cast<float *>(data));
  if (w.needReorder) w.prim.set_data_handle(c.scratch[Context::kScratchWeights].get(w.prim.get_desc().get_size()));
}

memory scratchpadOf(Context &c, const memory::desc &md) {
  return memory(md, c.eng, c.scratch[Context::kScratchPad].get(md.get_size()));
}

struct WinoFwd {
  bool ok = false;  // false: this CPU has no Winograd kernel for the shape
  convolution_forward prim;
  memory::desc scratchpad;
  Activation src, dst;
  Weights w;
};

struct WinoBwdData {
  bool ok = false;
  convolution_backward_data prim;
  memory::desc scratchpad;
  Activation diffDst, diffSrc;
  Weights w;
};

struct WinoBwdWeights {
  bool ok = false;
  convolution_backward_weights prim;
  memory::desc scratchpad;
  Activation src, diffDst;
  Weights w;
};

memory::desc anyActivation(const memory::desc &nhwc) { return memory::desc(nhwc.dims(), dt::f32, tag::any); }

convolution_forward::primitive_desc forwardPd(Context &c, const ConvShape &s) {
  convolution_forward::desc d(prop_kind::forward_training, algorithm::convolution_winograd, anyActivation(s.src()),
                              s.wAny(), anyActivation(s.dst()), s.strides(), s.padL(), s.padR());
  return convolution_forward::primitive_desc(d, userScratchpad(), c.eng);
}

// Builds an entry, or one with ok = false when oneDNN has no Winograd kernel for this shape.
template <class E, class F>
E &entry(Context &c, const char *kind, const std::vector<int64_t> &kv, F build) {
  return c.cached<E>(keyOf(kind, kv, c.threads), [&] {
    auto e = std::make_shared<E>();
    try {
      build(*e);
      e->ok = true;
    } catch (const dnnl::error &) {
      e->ok = false;
    }
    return e;
  });
}

WinoFwd &fwdEntry(Context &c, const ConvShape &s, const std::vector<int64_t> &kv) {
  return entry<WinoFwd>(c, "wino_fwd", kv, [&](WinoFwd &e) {
    auto pd = forwardPd(c, s);
    e.prim = convolution_forward(pd);
    e.scratchpad = pd.scratchpad_desc();
    e.src.init(c.eng, s.src(), pd.src_desc(), true, Context::kScratchSrc);
    e.dst.init(c.eng, s.dst(), pd.dst_desc(), false, Context::kScratchDst);
    e.w.init(c.eng, s.wUser(), pd.weights_desc(), true, false);
  });
}

WinoBwdData &bwdDataEntry(Context &c, const ConvShape &s, const std::vector<int64_t> &kv) {
  return entry<WinoBwdData>(c, "wino_bwd_data", kv, [&](WinoBwdData &e) {
    convolution_backward_data::desc d(algorithm::convolution_winograd, anyActivation(s.src()), s.wAny(),
                                      anyActivation(s.dst()), s.strides(), s.padL(), s.padR());
    convolution_backward_data::primitive_desc pd(d, userScratchpad(), c.eng, forwardPd(c, s));
    e.prim = convolution_backward_data(pd);
    e.scratchpad = pd.scratchpad_desc();
    e.diffDst.init(c.eng, s.dst(), pd.diff_dst_desc(), true, Context::kScratchDst);
    e.diffSrc.init(c.eng, s.src(), pd.diff_src_desc(), false, Context::kScratchSrc);
    e.w.init(c.eng, s.wUser(), pd.weights_desc(), true, false);
  });
}

WinoBwdWeights &bwdWeightsEntry(Context &c, const ConvShape &s, const std::vector<int64_t> &kv) {
  return entry<WinoBwdWeights>(c, "wino_bwd_w", kv, [&](WinoBwdWeights &e) {
    convolution_backward_weights::desc d(algorithm::convolution_winograd, anyActivation(s.src()), s.wAny(),
                                         anyActivation(s.dst()), s.strides(), s.padL(), s.padR());
    convolution_backward_weights::primitive_desc pd(d, userScratchpad(), c.eng, forwardPd(c, s));
    e.prim = convolution_backward_weights(pd);
    e.scratchpad = pd.scratchpad_desc();
    e.src.init(c.eng, s.src(), pd.src_desc(), true, Context::kScratchSrc);
    e.diffDst.init(c.eng, s.dst(), pd.diff_dst_desc(), true, Context::kScratchDst);
    e.w.init(c.eng, s.wUser(), pd.diff_weights_desc(), false, false);
  });
}

}  // namespace

bool winogradForward(Context &c, const ConvShape &s, const std::vector<int64_t> &kv, const float *x,
                     const float *w, float *y) {
  if (!eligible(c, s)) return false;
  WinoFwd &e = fwdEntry(c, s, kv);
  if (!e.ok) return false;
  e.src.bind(c, x);
  e.dst.bind(c, y);
  bindWeights(c, e.w, w);
  e.src.in(c.strm);
  e.w.copyToPrimitive(c.strm);
  e.prim.execute(c.strm, {{DNNL_ARG_SRC, e.src.prim}, {DNNL_ARG_WEIGHTS, e.w.prim}, {DNNL_ARG_DST, e.dst.prim},
                          {DNNL_ARG_SCRATCHPAD, scratchpadOf(c, e.scratchpad)}});
  e.dst.out(c.strm);
  c.strm.wait();
  return true;
}

bool winogradBackwardData(Context &c, const ConvShape &s, const std::vector<int64_t> &kv, const float *dy,
                          const float *w, float *dx) {
  if (!eligible(c, s)) return false;
  WinoBwdData &e = bwdDataEntry(c, s, kv);
  if (!e.ok) return false;
  e.diffDst.bind(c, dy);
  e.diffSrc.bind(c, dx);
  bindWeights(c, e.w, w);
  e.diffDst.in(c.strm);
  e.w.copyToPrimitive(c.strm);
  e.prim.execute(c.strm, {{DNNL_ARG_DIFF_DST, e.diffDst.prim}, {DNNL_ARG_WEIGHTS, e.w.prim},
                          {DNNL_ARG_DIFF_SRC, e.diffSrc.prim}, {DNNL_ARG_SCRATCHPAD, scratchpadOf(c, e.scratchpad)}});
  e.diffSrc.out(c.strm);
  c.strm.wait();
  return true;
}

bool winogradBackwardWeights(Context &c, const ConvShape &s, const std::vector<int64_t> &kv, const float *x,
                             const float *dy, float *dw) {
  if (!eligible(c, s)) return false;
  WinoBwdWeights &e = bwdWeightsEntry(c, s, kv);
  if (!e.ok) return false;
  e.src.bind(c, x);
  e.diffDst.bind(c, dy);
  bindWeights(c, e.w, dw);
  e.src.in(c.strm);
  e.diffDst.in(c.strm);
  e.prim.execute(c.strm, {{DNNL_ARG_SRC, e.src.prim}, {DNNL_ARG_DIFF_DST, e.diffDst.prim},
                          {DNNL_ARG_DIFF_WEIGHTS, e.w.prim}, {DNNL_ARG_SCRATCHPAD, scratchpadOf(c, e.scratchpad)}});
  e.w.copyFromPrimitive(c.strm);
  c.strm.wait();
  return true;
}

bool winogradKernelsExist(Context &c) { return kernelsExist(c); }

WinogradImpls winogradImplementations(Context &c, const ConvShape &s, const std::vector<int64_t> &kv) {
  WinogradImpls r;
  if (!eligible(c, s)) return r;
  if (WinoFwd &e = fwdEntry(c, s, kv); e.ok) r.forward = implOf(e.prim);
  if (WinoBwdData &e = bwdDataEntry(c, s, kv); e.ok) r.backwardData = implOf(e.prim);
  if (WinoBwdWeights &e = bwdWeightsEntry(c, s, kv); e.ok) r.backwardWeights = implOf(e.prim);
  return r;
}
