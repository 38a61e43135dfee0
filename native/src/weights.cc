// Filter copies between TF.js's hwio layout and oneDNN's blocked ones (see weights.hpp).
#include "weights.hpp"
#include <cstring>
#include <omp.h>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

// Filters are small next to activations; one thread per output block is plenty,
// and below this many floats one thread does it all.
constexpr int64_t kParallelFilter = 1 << 16;

// hwio offset of (o, i, h, w).
inline int64_t hwio(const Weights &w, int64_t o, int64_t i, int64_t h, int64_t x) {
  return ((h * w.kw + x) * w.ic + i) * w.oc + o;
}

// dst (Acdb, B) <- src (hwio): runs of B output channels are contiguous in both.
void toAcdb(const Weights &w, const float *src, float *dst) {
  const int64_t B = w.block, OB = w.oc / B;
#pragma omp parallel for collapse(2) schedule(static) if (w.oc * w.ic * w.kh * w.kw > kParallelFilter)
  for (int64_t ob = 0; ob < OB; ob++)
    for (int64_t h = 0; h < w.kh; h++)
      for (int64_t x = 0; x < w.kw; x++)
        for (int64_t i = 0; i < w.ic; i++)
          std::memcpy(dst + (((ob * w.kh + h) * w.kw + x) * w.ic + i) * B, src + hwio(w, ob * B, i, h, x),
                      size_t(B) * sizeof(float));
}

// Offset of the 16x16 tile (ob, ib, h, x) in an ABcd16?16? layout.
inline int64_t tile(const Weights &w, int64_t ob, int64_t ib, int64_t h, int64_t x) {
  return (((ob * (w.ic / 16) + ib) * w.kh + h) * w.kw + x) * 256;
}

// f(tileOffset, hwioOffsetOfTileCorner) for every 16x16 (output x input channel)
// tile of an ABcd16?16? layout, the tiles spread over the threads.
template <class F>
void forEachTile(const Weights &w, F f) {
  const int64_t OB = w.oc / 16, IB = w.ic / 16;
#pragma omp parallel for collapse(2) schedule(static) if (w.oc * w.ic * w.kh * w.kw > kParallelFilter)
  for (int64_t ob = 0; ob < OB; ob++)
    for (int64_t ib = 0; ib < IB; ib++)
      for (int64_t h = 0; h < w.kh; h++)
        for (int64_t x = 0; x < w.kw; x++) f(tile(w, ob, ib, h, x), hwio(w, ob * 16, ib * 16, h, x));
}

// ABcd16b16a <-> hwio: within a tile, i-major rows of 16 output channels, as in hwio.
template <bool kToBlocked>
void abcd16b16a(const Weights &w, const float *src, float *dst) {
  forEachTile(w, [&](int64_t t, int64_t u) {
    for (int64_t ii = 0; ii < 16; ii++) {
      if (kToBlocked) std::memcpy(dst + t + ii * 16, src + u + ii * w.oc, 16 * sizeof(float));
      else std::memcpy(dst + u + ii * w.oc, src + t + ii * 16, 16 * sizeof(float));
    }
  });
}

// hwio -> ABcd16a16b: within a tile, o-major rows of 16 input channels (a transpose).
void toAbcd16a16b(const Weights &w, const float *src, float *dst) {
  forEachTile(w, [&](int64_t t, int64_t u) {
    for (int64_t ii = 0; ii < 16; ii++)
      for (int64_t oo = 0; oo < 16; oo++) dst[t + oo * 16 + ii] = src[u + ii * w.oc + oo];
  });
}

}  // namespace

void Weights::init(const engine &eng, const memory::desc &userMd, const memory::desc &primMd, bool toPrimitive,
                   bool ownPrim) {
  const memory::dims d = userMd.dims();  // {oc, ic, kh, kw}
  oc = d[0], ic = d[1], kh = d[2], kw = d[3];
  user = memory(userMd, eng, nullptr);
  needReorder = userMd != primMd;
  prim = !needReorder ? user : ownPrim ? memory(primMd, eng) : memory(primMd, eng, nullptr);
  if (!needReorder) return;
  // The loops know unpadded layouts only: channel counts a multiple of the block
  // (a padded desc would compare equal, with zero-filled channels the loops never write).
  auto is = [&](tag t, int64_t oBlock, int64_t iBlock) {
    return oc % oBlock == 0 && ic % iBlock == 0 && primMd == memory::desc(d, dt::f32, t);
  };
  const std::pair<tag, int64_t> acdb[] = {{tag::Acdb16a, 16}, {tag::Acdb32a, 32}, {tag::Acdb48a, 48}, {tag::Acdb64a, 64}};
  if (toPrimitive) {
    for (auto [t, b] : acdb)
      if (is(t, b, 1)) layout = BlockedLayout::Acdb, block = b;
    if (is(tag::ABcd16b16a, 16, 16)) layout = BlockedLayout::ABcd16b16a;
    if (is(tag::ABcd16a16b, 16, 16)) layout = BlockedLayout::ABcd16a16b;
  } else if (is(tag::ABcd16b16a, 16, 16)) {
    layout = BlockedLayout::ABcd16b16a;
  }
  if (layout != BlockedLayout::Other) return;
  if (toPrimitive) toPrim = reorder(user, prim);
  else fromPrim = reorder(prim, user);
}

void Weights::copyToPrimitive(stream &s) {
  if (!needReorder) return;
  const float *src = static_cast<const float *>(user.get_data_handle());
  float *dst = static_cast<float *>(prim.get_data_handle());
  switch (layout) {
    case BlockedLayout::Acdb: toAcdb(*this, src, dst); break;
    case BlockedLayout::ABcd16b16a: abcd16b16a<true>(*this, src, dst); break;
    case BlockedLayout::ABcd16a16b: toAbcd16a16b(*this, src, dst); break;
    case BlockedLayout::Other: toPrim.execute(s, user, prim); break;
  }
}

void Weights::copyFromPrimitive(stream &s) {
  if (!needReorder) return;
  if (layout == BlockedLayout::ABcd16b16a) {
    s.wait();  // the primitive that wrote prim has finished
    abcd16b16a<false>(*this, static_cast<const float *>(prim.get_data_handle()), static_cast<float *>(user.get_data_handle()));
    return;
  }
  fromPrim.execute(s, prim, user);
}

std::string Weights::describe() const {
  if (!needReorder) return "hwio";
  switch (layout) {
    case BlockedLayout::Acdb: return "Acdb" + std::to_string(block) + "a";
    case BlockedLayout::ABcd16b16a: return "ABcd16b16a";
    case BlockedLayout::ABcd16a16b: return "ABcd16a16b";
    case BlockedLayout::Other: break;
  }
  return "reorder";
}
