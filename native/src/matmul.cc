// Batched matrix multiply c[b] = act(op(a[b]) x op(b[b]) + bias), with the
// transposes expressed as strides so nothing is copied.
#include "context.hpp"
#include <omp.h>

using namespace dnnl;
using dt = memory::data_type;

namespace {

// Matmuls up to this many multiply-adds run on one thread (about 0.2 ms there).
// A parallel region waits until every thread is scheduled; on a busy 2-core
// machine that costs a scheduler slice now and then, which for these sizes is
// 100x the work: a SimCLR head's matmuls (batch 32: 64 x 128 x 128) took
// 3-7 ms in some calls against 12-28 us in most (ONEDNN_VERBOSE), and
// BatchMatMul went from 2.6-3.3 to 0.3-0.5 ms a reference step (batch 32) on one thread.
constexpr int64_t kSerialMatmulMacs = int64_t(8) << 20;

// Sets OpenMP's thread count for the calling thread while in scope.
class ThreadScope {
 public:
  explicit ThreadScope(int n) : saved_(omp_get_max_threads()), active_(n > 0 && n != saved_) {
    if (active_) omp_set_num_threads(n);
  }
  ~ThreadScope() { if (active_) omp_set_num_threads(saved_); }
  ThreadScope(const ThreadScope &) = delete;
  ThreadScope &operator=(const ThreadScope &) = delete;

 private:
  int saved_;
  bool active_;
};

struct MatMul {
  matmul prim;
  memory a, b, bias, c;
  bool hasBias = false;
};

// matmul(a, b, bias|null, c, [batch, m, n, k, transA, transB], relu)
Napi::Value MatMulFn(const Napi::CallbackInfo &info) {
  Context &cx = ctx(info);
  std::vector<int64_t> kv = intsArg(info, 4, 6, "shape");
  const int64_t B = kv[0], M = kv[1], N = kv[2], K = kv[3];
  const bool ta = kv[4] != 0, tb = kv[5] != 0;
  float *a = f32Arg(info, 0, size_t(B * M * K), "a");
  float *b = f32Arg(info, 1, size_t(B * K * N), "b");
  float *bias = f32ArgOrNull(info, 2, size_t(N), "bias");
  float *c = f32Arg(info, 3, size_t(B * M * N), "c");
  bool relu = info.Length() > 5 && info[5].ToBoolean().Value();
  kv.push_back(bias != nullptr);
  kv.push_back(relu);
  const bool serial = B * M * N * K <= kSerialMatmulMacs;
  ThreadScope scope(serial ? 1 : 0);
  // Created and run under the same thread count (-1 in the key: "serial").
  MatMul &e = cx.cached<MatMul>(keyOf("matmul", kv, serial ? -1 : cx.threads), [&] {
    auto e = std::make_shared<MatMul>();
    // a is stored [B, M, K] or, transposed, [B, K, M]; likewise b.
    memory::desc aMd({B, M, K}, dt::f32, ta ? memory::dims{M * K, 1, M} : memory::dims{M * K, K, 1});
    memory::desc bMd({B, K, N}, dt::f32, tb ? memory::dims{K * N, 1, K} : memory::dims{K * N, N, 1});
    memory::desc cMd({B, M, N}, dt::f32, memory::dims{M * N, N, 1});
    primitive_attr attr;
    if (relu) {
      post_ops po;
      po.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f);
      attr.set_post_ops(po);
    }
    e->hasBias = bias != nullptr;
    matmul::primitive_desc pd = e->hasBias
        ? matmul::primitive_desc(matmul::desc(aMd, bMd, memory::desc({1, 1, N}, dt::f32, memory::dims{N, N, 1}), cMd),
                                 attr, cx.eng)
        : matmul::primitive_desc(matmul::desc(aMd, bMd, cMd), attr, cx.eng);
    e->prim = matmul(pd);
    e->a = memory(aMd, cx.eng, nullptr);
    e->b = memory(bMd, cx.eng, nullptr);
    e->c = memory(cMd, cx.eng, nullptr);
    if (e->hasBias) e->bias = memory(pd.bias_desc(), cx.eng, nullptr);
    return e;
  });
  e.a.set_data_handle(a);
  e.b.set_data_handle(b);
  e.c.set_data_handle(c);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, e.a}, {DNNL_ARG_WEIGHTS, e.b}, {DNNL_ARG_DST, e.c}};
  if (e.hasBias) {
    e.bias.set_data_handle(bias);
    args.emplace(DNNL_ARG_BIAS, e.bias);
  }
  e.prim.execute(cx.strm, args);
  cx.strm.wait();
  return info.Env().Undefined();
}

}  // namespace

void initMatmul(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, MatMulFn));
}
