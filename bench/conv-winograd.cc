// Direct vs Winograd convolution per pass, as native/src/conv.cc and winograd.cc run them: direct on NHWC
// activations with the filter reordered from hwio each call; Winograd with every reorder included (activations
// NHWC <-> blocked, filter hwio -> Winograd layout, filter gradient back to hwio). Prints both times, their ratio
// and the largest difference between the two results relative to the largest value.
//
//   g++ -O2 -std=c++17 bench/conv-winograd.cc -o /tmp/conv-winograd -ldnnl && OMP_NUM_THREADS=2 /tmp/conv-winograd [batch ...]
//
// (the batches default to 16 64 256; the README's table is batch 64, 2 threads). "Direct" is oneDNN's first
// choice everywhere; for stride-1 outputs of <= 16 pixels conv.cc runs the jit kernel instead, faster than brgconv.
#include <oneapi/dnnl/dnnl.hpp>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <vector>
#include <algorithm>
#include <random>
#include <array>
#include <cstdlib>
using namespace dnnl;
using tag = memory::format_tag; using dt = memory::data_type;
static engine eng(engine::kind::cpu, 0); static stream st(eng);
template <class F> double timeit(F f, int reps = 11) {
  f(); f(); std::vector<double> t;
  for (int i = 0; i < reps; i++) { auto a = std::chrono::steady_clock::now(); f(); st.wait(); t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count()); }
  std::sort(t.begin(), t.end()); return t[reps / 2];
}
void fillr(memory &m, int seed) { std::mt19937 g(seed); std::normal_distribution<float> n(0, 1); float *p = (float*)m.get_data_handle(); for (size_t i = 0; i < m.get_desc().get_size() / 4; i++) p[i] = n(g); }
double maxrel(const memory &a, const memory &b) { const float *p = (float*)a.get_data_handle(), *q = (float*)b.get_data_handle(); size_t n = a.get_desc().get_size()/4; double mx = 0, ma = 0; for (size_t i = 0; i < n; i++) { mx = std::max(mx, (double)std::fabs(p[i]-q[i])); ma = std::max(ma, (double)std::fabs(q[i])); } return mx / ma; }
struct Out { double f, d, w; memory y, dx, dw; };
Out run(int mb, int ic, int oc, int hw, bool wino, memory &X, memory &DY, memory &W) {
  algorithm alg = wino ? algorithm::convolution_winograd : algorithm::convolution_direct;
  memory::dims src{mb, ic, hw, hw}, wei{oc, ic, 3, 3}, dst{mb, oc, hw, hw}, s1{1, 1}, p1{1, 1};
  auto nS = X.get_desc(), nD = DY.get_desc();
  auto aS = wino ? memory::desc(src, dt::f32, tag::any) : nS, aD = wino ? memory::desc(dst, dt::f32, tag::any) : nD;
  auto aW = memory::desc(wei, dt::f32, tag::any);
  convolution_forward::primitive_desc fpd({prop_kind::forward_training, alg, aS, aW, aD, s1, p1, p1}, eng);
  convolution_backward_data::primitive_desc dpd({alg, aS, aW, aD, s1, p1, p1}, eng, fpd);
  convolution_backward_weights::primitive_desc wpd({alg, aS, aW, aD, s1, p1, p1}, eng, fpd);
  Out o{}; o.y = memory(nD, eng); o.dx = memory(nS, eng); o.dw = memory(W.get_desc(), eng);
  memory s(fpd.src_desc(), eng), w(fpd.weights_desc(), eng), d(fpd.dst_desc(), eng);
  convolution_forward f(fpd);
  reorder rs(X, s), rw(W, w), rd(d, o.y);
  bool wi = fpd.weights_desc() != W.get_desc();
  o.f = timeit([&] {
    if (wino) rs.execute(st, X, s);
    rw.execute(st, W, w);  // direct: our hand copy costs about the same as this reorder for blocked layouts
    f.execute(st, {{DNNL_ARG_SRC, wino ? s : X}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, wino ? d : o.y}});
    if (wino) rd.execute(st, d, o.y);
  });
  memory ds(dpd.diff_src_desc(), eng), dd(dpd.diff_dst_desc(), eng), ww(dpd.weights_desc(), eng);
  convolution_backward_data b(dpd); reorder rdd(DY, dd), rww(W, ww), rds(ds, o.dx);
  o.d = timeit([&] {
    if (wino) rdd.execute(st, DY, dd);
    rww.execute(st, W, ww);
    b.execute(st, {{DNNL_ARG_DIFF_SRC, wino ? ds : o.dx}, {DNNL_ARG_WEIGHTS, ww}, {DNNL_ARG_DIFF_DST, wino ? dd : DY}});
    if (wino) rds.execute(st, ds, o.dx);
  });
  memory s2(wpd.src_desc(), eng), dd2(wpd.diff_dst_desc(), eng), dw(wpd.diff_weights_desc(), eng);
  convolution_backward_weights bw(wpd); reorder rs2(X, s2), rdd2(DY, dd2), rdw(dw, o.dw);
  o.w = timeit([&] {
    if (wino) { rs2.execute(st, X, s2); rdd2.execute(st, DY, dd2); }
    bw.execute(st, {{DNNL_ARG_SRC, wino ? s2 : X}, {DNNL_ARG_DIFF_DST, wino ? dd2 : DY}, {DNNL_ARG_DIFF_WEIGHTS, dw}});
    rdw.execute(st, dw, o.dw);
  });
  static bool once = false;
  if (wino && !once) { once = true; printf("Winograd kernels: %s, %s, %s\n", fpd.impl_info_str(), dpd.impl_info_str(), wpd.impl_info_str()); }
  return o;
}
int main(int argc, char **argv) {
  std::vector<int> batches;
  for (int i = 1; i < argc; i++) batches.push_back(std::atoi(argv[i]));
  if (batches.empty()) batches = {16, 64, 256};
  std::vector<std::array<int,4>> shapes;
  for (int mb : batches) for (auto [c, hw] : {std::pair{32, 32}, {64, 16}, {64, 32}, {128, 8}, {128, 16}, {256, 8}, {512, 4}}) shapes.push_back({mb, c, c, hw});
  printf("%-26s %8s %8s %8s | %8s %8s %8s | ratio f d w  | rel err y dx dw\n", "shape", "dir f", "d", "w", "wino f", "d", "w");
  for (auto &sh : shapes) {
    int mb = sh[0], ic = sh[1], oc = sh[2], hw = sh[3];
    memory X({{mb, ic, hw, hw}, dt::f32, tag::nhwc}, eng), DY({{mb, oc, hw, hw}, dt::f32, tag::nhwc}, eng), W({{oc, ic, 3, 3}, dt::f32, tag::hwio}, eng);
    fillr(X, 1); fillr(DY, 2); fillr(W, 3);
    Out a = run(mb, ic, oc, hw, false, X, DY, W), b = run(mb, ic, oc, hw, true, X, DY, W);
    char name[64]; snprintf(name, 64, "mb%d c%d %dx%d", mb, ic, hw, hw);
    printf("%-26s %8.2f %8.2f %8.2f | %8.2f %8.2f %8.2f | %4.2f %4.2f %4.2f | %.1e %.1e %.1e\n", name, a.f, a.d, a.w, b.f, b.d, b.w, a.f/b.f, a.d/b.d, a.w/b.w,
           maxrel(b.y, a.y), maxrel(b.dx, a.dx), maxrel(b.dw, a.dw));
  }
}
