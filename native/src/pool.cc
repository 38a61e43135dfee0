// Max and average pooling (NHWC) forward and backward. Average pooling
// excludes padding, as TF does. Max-pool backward re-runs the forward in
// training mode to get oneDNN's workspace (argmax), since TF.js's MaxPoolGrad
// hands us the input rather than a workspace.
#include "context.hpp"

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

struct PoolShape {
  int64_t n, ih, iw, c, kh, kw, oh, ow, sh, sw, pt, pl, pb, pr;
  explicit PoolShape(const std::vector<int64_t> &v)
      : n(v[0]), ih(v[1]), iw(v[2]), c(v[3]), kh(v[4]), kw(v[5]), oh(v[6]), ow(v[7]), sh(v[8]), sw(v[9]),
        pt(v[10]), pl(v[11]), pb(v[12]), pr(v[13]) {}
  size_t xLen() const { return size_t(n * ih * iw * c); }
  size_t yLen() const { return size_t(n * oh * ow * c); }
  memory::desc src() const { return {{n, c, ih, iw}, dt::f32, tag::nhwc}; }
  memory::desc dst() const { return {{n, c, oh, ow}, dt::f32, tag::nhwc}; }
  pooling_forward::desc fwd(prop_kind pk, bool isMax) const {
    return pooling_forward::desc(pk, isMax ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding,
                                 src(), dst(), {sh, sw}, {kh, kw}, {pt, pl}, {pb, pr});
  }
};
constexpr size_t kShapeLen = 14;

struct PoolFwd {
  pooling_forward prim;
  memory src, dst;
};

struct PoolBwd {
  pooling_forward fwd;  // max only: recomputes the workspace
  pooling_backward prim;
  memory src, dst, ws, diffDst, diffSrc;
  bool isMax = false;
};

// poolForward(x, y, shape, isMax)
Napi::Value PoolForward(const Napi::CallbackInfo &info) {
  Context &c = ctx(info);
  std::vector<int64_t> kv = intsArg(info, 2, kShapeLen, "shape");
  PoolShape s(kv);
  float *x = f32Arg(info, 0, s.xLen(), "x");
  float *y = f32Arg(info, 1, s.yLen(), "y");
  const bool isMax = info[3].ToBoolean().Value();
  kv.push_back(isMax);
  PoolFwd &e = c.cached<PoolFwd>(keyOf("pool_fwd", kv, c.threads), [&] {
    auto e = std::make_shared<PoolFwd>();
    pooling_forward::primitive_desc pd(s.fwd(prop_kind::forward_inference, isMax), c.eng);
    e->prim = pooling_forward(pd);
    e->src = memory(pd.src_desc(), c.eng, nullptr);
    e->dst = memory(pd.dst_desc(), c.eng, nullptr);
    return e;
  });
  e.src.set_data_handle(x);
  e.dst.set_data_handle(y);
  e.prim.execute(c.strm, {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DST, e.dst}});
  c.strm.wait();
  return info.Env().Undefined();
}

// poolBackward(dy, x|null, dx, shape, isMax): x is needed for max pooling only.
Napi::Value PoolBackward(const Napi::CallbackInfo &info) {
  Context &c = ctx(info);
  std::vector<int64_t> kv = intsArg(info, 3, kShapeLen, "shape");
  PoolShape s(kv);
  const bool isMax = info[4].ToBoolean().Value();
  float *dy = f32Arg(info, 0, s.yLen(), "dy");
  float *x = isMax ? f32Arg(info, 1, s.xLen(), "x") : nullptr;
  float *dx = f32Arg(info, 2, s.xLen(), "dx");
  kv.push_back(isMax);
  PoolBwd &e = c.cached<PoolBwd>(keyOf("pool_bwd", kv, c.threads), [&] {
    auto e = std::make_shared<PoolBwd>();
    pooling_forward::primitive_desc hint(s.fwd(prop_kind::forward_training, isMax), c.eng);
    pooling_backward::desc d(isMax ? algorithm::pooling_max : algorithm::pooling_avg_exclude_padding, s.src(),
                             s.dst(), {s.sh, s.sw}, {s.kh, s.kw}, {s.pt, s.pl}, {s.pb, s.pr});
    pooling_backward::primitive_desc pd(d, c.eng, hint);
    e->isMax = isMax;
    e->prim = pooling_backward(pd);
    e->diffDst = memory(pd.diff_dst_desc(), c.eng, nullptr);
    e->diffSrc = memory(pd.diff_src_desc(), c.eng, nullptr);
    if (isMax) {
      e->fwd = pooling_forward(hint);
      e->src = memory(hint.src_desc(), c.eng, nullptr);
      e->dst = memory(hint.dst_desc(), c.eng);
      e->ws = memory(hint.workspace_desc(), c.eng);
    }
    return e;
  });
  if (e.isMax) {
    e.src.set_data_handle(x);
    e.fwd.execute(c.strm, {{DNNL_ARG_SRC, e.src}, {DNNL_ARG_DST, e.dst}, {DNNL_ARG_WORKSPACE, e.ws}});
  }
  e.diffDst.set_data_handle(dy);
  e.diffSrc.set_data_handle(dx);
  std::unordered_map<int, memory> args{{DNNL_ARG_DIFF_DST, e.diffDst}, {DNNL_ARG_DIFF_SRC, e.diffSrc}};
  if (e.isMax) args.emplace(DNNL_ARG_WORKSPACE, e.ws);
  e.prim.execute(c.strm, args);
  c.strm.wait();
  return info.Env().Undefined();
}

}  // namespace

void initPool(Napi::Env env, Napi::Object exports) {
  exports.Set("poolForward", Napi::Function::New(env, PoolForward));
  exports.Set("poolBackward", Napi::Function::New(env, PoolBackward));
}
