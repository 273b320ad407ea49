#pragma once

/// @file
/// One matrix product shared by several threads: the result is cut into bands
/// of rows or of columns, and each thread runs gemm on its own band. This is
/// how a single image keeps every core busy (a batch is split by samples
/// instead, ops/conv2d.hpp): each element of the result is still summed by
/// one thread, so no partial products are added, and the cut depends only on
/// the sizes and the band count, so a given thread count gives the same bits
/// every run.

#include <algorithm>

#include "fovea/core/gemm.hpp"
#include "fovea/core/gemm_packed.hpp"
#include "fovea/core/parallel.hpp"

namespace fovea {

/// The part of a gemm result one band covers: rows [rows.begin, rows.end)
/// and columns [cols.begin, cols.end).
struct GemmBand {
  Range rows;  ///< The band's rows of the result.
  Range cols;  ///< The band's columns of the result.
};

namespace detail {
// Bands are whole multiples of these: a column band a whole number of
// AVX-512 float packets, a row band a whole number of the kernel's register
// columns, so no band ends in a partial register block that the whole
// product would not have had.
inline constexpr Index gemm_band_col_align = 16;
inline constexpr Index gemm_band_row_align = 8;

inline Range aligned_band(Index n, Index align, int bands, int band) {
  const Index units = (n + align - 1) / align;
  const Range r = chunk_range(units, bands, band);
  return {std::min(r.begin * align, n), std::min(r.end * align, n)};
}

// Rows [begin, begin + count) of a left operand, read through the same memory.
template <class T>
GemmOperand<T> band_rows(GemmOperand<T> a, Index begin, Index count) {
  a.data += begin * (a.transposed ? 1 : a.stride);
  a.rows = count;
  return a;
}
template <class T>
PackedGemmRows<T> band_rows(const PackedGemmRows<T>& a, Index begin, Index count) {
  static_assert(gemm_band_row_align % PackedGemmOperand<T>::row_panel == 0, "bands start on whole panels");
  return a.packed->band(a.first + begin, a.first + begin + count);
}
}  // namespace detail

/// c = a b, cut into at most `bands` bands run in parallel (a: a GemmOperand,
/// or the rows of a PackedGemmOperand). The bands cut the
/// longer side of c: every band packs the other operand whole, so that one
/// should be the smaller. For each band, `start(band)` prepares its part of c
/// (writes a bias, say) and says whether the product then overwrites or
/// accumulates; `finish(band)` runs after the band's product (an epilogue
/// such as a ReLU), while its part of c is still in cache.
template <class A, class T, class Start, class Finish>
void gemm_in_bands(const A& a, const GemmOperand<T>& b, const GemmResult<T>& c, int bands, Start&& start,
                   Finish&& finish) {
  const bool by_cols = c.cols >= c.rows;
  const Index length = by_cols ? c.cols : c.rows;
  const Index align = by_cols ? detail::gemm_band_col_align : detail::gemm_band_row_align;
  const int count = static_cast<int>(std::clamp<Index>((length + align - 1) / align, 1, std::max(bands, 1)));
  auto run_band = [&](int band) {
    const Range part = detail::aligned_band(length, align, count, band);
    if (part.begin == part.end) return;
    const GemmBand where = by_cols ? GemmBand{{0, c.rows}, part} : GemmBand{part, {0, c.cols}};
    const Index rows = where.rows.end - where.rows.begin, cols = where.cols.end - where.cols.begin;
    // a's rows and b's columns of the band, read through the same strides.
    const A a_band = detail::band_rows(a, where.rows.begin, rows);
    GemmOperand<T> b_band = b;
    b_band.data += where.cols.begin * (b.transposed ? b.stride : 1);
    b_band.cols = cols;
    const GemmResult<T> c_band{c.data + where.rows.begin * c.stride + where.cols.begin, rows, cols, c.stride};
    gemm(a_band, b_band, c_band, start(where));
    finish(where);
  };
  parallel_for(count, count, [&](Index first, Index last, int /*chunk*/) {
    for (Index band = first; band < last; ++band) run_band(static_cast<int>(band));
  });
}

}  // namespace fovea
