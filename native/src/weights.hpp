// A convolution filter in TF.js's [kh, kw, in, out] layout (oneDNN's hwio) and
// its copy in the layout a primitive wants, with the copy between them.
//
// Every training step moves each filter into the forward and backward-data
// layouts and the filter gradient back out of the backward-weights one. oneDNN's
// generic reorder does that at 3-5 GB/s from hwio (ResNet-18, 2 threads: 23 ms a
// step, twice PyTorch's 11 ms from its o-major filters). The blocked layouts
// oneDNN picks for float32 on x86 are few, and from hwio each is a copy of
// contiguous runs of output channels (or a 16x16 transpose), so those have
// hand-written loops here; any other layout goes through oneDNN's reorder.
#pragma once
#include "context.hpp"

enum class BlockedLayout {
  Other,     // oneDNN reorder
  Acdb,      // [O/B][kh][kw][I][B o]: brgconv forward (B = 16, 32, 48, 64)
  ABcd16b16a,  // [O/16][I/16][kh][kw][16 i][16 o]: jit forward, backward-weights
  ABcd16a16b,  // [O/16][I/16][kh][kw][16 o][16 i]: jit backward-data
};

struct Weights {
  dnnl::memory user, prim;
  dnnl::reorder toPrim, fromPrim;
  bool needReorder = false;
  BlockedLayout layout = BlockedLayout::Other;
  int64_t block = 0;  // B of Acdb
  int64_t oc = 0, ic = 0, kh = 0, kw = 0;

  // userMd: the hwio filter; primMd: the primitive's. toPrimitive: which way the copy goes.
  // ownPrim = false leaves prim without storage: the caller sets its handle before each copy.
  void init(const dnnl::engine &eng, const dnnl::memory::desc &userMd, const dnnl::memory::desc &primMd,
            bool toPrimitive, bool ownPrim = true);
  // user -> prim (forward, backward-data) or prim -> user (backward-weights' gradient).
  void copyToPrimitive(dnnl::stream &s);
  void copyFromPrimitive(dnnl::stream &s);
  // "hwio" (no copy), the hand-copied layout (e.g. "Acdb64a"), or "reorder" (oneDNN's).
  std::string describe() const;
};
