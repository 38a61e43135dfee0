// The convolution problem as src/backend/native-kernels.ts describes it (its
// 17-number shape vector), and the Winograd path conv.cc hands eligible
// problems to (winograd.cc).
#pragma once
#include "context.hpp"
#include <string>

// Shape vector layout shared with src/backend/native-kernels.ts.
struct ConvShape {
  int64_t n, ih, iw, ic, kh, kw, oc, oh, ow, sh, sw, dh, dw, pt, pl, pb, pr;
  explicit ConvShape(const std::vector<int64_t> &v)
      : n(v[0]), ih(v[1]), iw(v[2]), ic(v[3]), kh(v[4]), kw(v[5]), oc(v[6]), oh(v[7]), ow(v[8]),
        sh(v[9]), sw(v[10]), dh(v[11]), dw(v[12]), pt(v[13]), pl(v[14]), pb(v[15]), pr(v[16]) {}
  size_t xLen() const { return size_t(n * ih * iw * ic); }
  size_t yLen() const { return size_t(n * oh * ow * oc); }
  size_t wLen() const { return size_t(kh * kw * ic * oc); }
  dnnl::memory::desc src() const { return {{n, ic, ih, iw}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc}; }
  dnnl::memory::desc dst() const { return {{n, oc, oh, ow}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::nhwc}; }
  dnnl::memory::desc wUser() const { return {{oc, ic, kh, kw}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::hwio}; }
  dnnl::memory::desc wAny() const { return {{oc, ic, kh, kw}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::any}; }
  dnnl::memory::dims strides() const { return {sh, sw}; }
  dnnl::memory::dims dilates() const { return {dh - 1, dw - 1}; }  // oneDNN counts the gaps
  dnnl::memory::dims padL() const { return {pt, pl}; }
  dnnl::memory::dims padR() const { return {pb, pr}; }
};
constexpr size_t kShapeLen = 17;

// Winograd F(4x4, 3x3) for the 3x3 stride-1 "same" convolutions of wide layers
// (winograd.cc). Each returns false, having done nothing, when the problem is
// not one it takes (or this CPU has no Winograd kernel); conv.cc then runs the
// direct kernels.
bool winogradForward(Context &c, const ConvShape &s, const std::vector<int64_t> &kv, const float *x,
                     const float *w, float *y);
bool winogradBackwardData(Context &c, const ConvShape &s, const std::vector<int64_t> &kv, const float *dy,
                          const float *w, float *dx);
bool winogradBackwardWeights(Context &c, const ConvShape &s, const std::vector<int64_t> &kv, const float *x,
                             const float *dy, float *dw);
// Whether oneDNN has Winograd kernels on this CPU (AVX-512 in oneDNN 2.6).
bool winogradKernelsExist(Context &c);
// The implementation names of the three Winograd primitives for s, or "" when s does not take that path.
struct WinogradImpls { std::string forward, backwardData, backwardWeights; };
WinogradImpls winogradImplementations(Context &c, const ConvShape &s, const std::vector<int64_t> &kv);

// The oneDNN implementation name a primitive runs ("brgconv:avx512_core", ...).
std::string implOf(const dnnl::primitive &p);
