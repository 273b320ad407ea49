#pragma once

/// @file
/// 3x3 convolution at stride 1 by Winograd's minimal filtering F(2x2, 3x3)
/// (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks",
/// 2016): each 2x2 block of one filter's outputs comes from the 4x4 block of
/// input around it in 16 multiplies per input channel instead of 36. With d
/// a 4x4 tile of the zero-padded input and g a 3x3 filter,
///
///     U = G g Gᵀ      per filter and input channel (once per set of weights)
///     V = Bᵀ d B      per tile and input channel (additions only)
///     M = U ⊙ V summed over the input channels: for each of the 16 cells ξ
///         of the tile, one GEMM  M_ξ [Cout, tiles] = U_ξ [Cout, Cin] · V_ξ [Cin, tiles]
///     y = Aᵀ M A      per tile and filter: its 2x2 outputs (additions only)
///
///     Bᵀ = | 1  0 -1  0 |    G = |  1    0    0  |    Aᵀ = | 1  1  1  0 |
///          | 0  1  1  0 |        | 1/2  1/2  1/2 |         | 0  1 -1 -1 |
///          | 0 -1  1  0 |        | 1/2 -1/2  1/2 |
///          | 0  1  0 -1 |        |  0    0    1  |
///
/// The GEMMs do 2.25x fewer multiply-adds than the convolution; the
/// transforms run across a row of tiles in the vector lanes. Tiles are taken
/// in passes of whole tile rows, counted across the samples of the batch:
/// few enough per pass that its V and M stay near the core, enough that each
/// GEMM is wide and the weights are repacked rarely. The cut depends on the
/// shapes only; threads take whole passes (or share one pass when there are
/// fewer passes than threads), so y has the same bits on any thread count, as
/// on the other paths. The rounding differs from the plain sum's by a few
/// units in the last place (the additions of the transforms). Forward only:
/// a backward runs on the algorithm conv2d_algorithm picks for it.

#include <algorithm>
#include <cstdint>
#include <limits>

#include "fovea/core/gemm_packed.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/ops/clamp.hpp"
#include "fovea/ops/conv2d_geometry.hpp"
#include "fovea/ops/conv2d_workspace.hpp"

namespace fovea::detail {

// The cells of a 4x4 tile: each has its own [Cout, Cin] weights and GEMM.
inline constexpr Index winograd_cells = 16;

// Where conv2d_algorithm starts taking this path (docs/benchmarks.md): with
// fewer input channels the GEMMs are too short (K = Cin) to run near their
// peak and the vector path wins; on narrower outputs the tiles' padding
// wastes too much (a 7-wide output is computed 8 wide).
inline constexpr Index winograd_min_channels = 64;
inline constexpr Index winograd_min_width = 8;

// How a batch is cut into tiles and passes: pass p covers the batch's tile
// rows [p * pass_rows, (p + 1) * pass_rows), counted across the samples.
struct WinogradLayout {
  Index tile_rows = 0;  // 2x2 output blocks down a sample: ceil(OH / 2)
  Index tile_cols = 0;  // and across: ceil(OW / 2)
  Index pass_rows = 0;  // tile rows per pass (a pass may span samples)
  Index pass_tiles() const { return pass_rows * tile_cols; }
  Index passes(Index samples) const { return (samples * tile_rows + pass_rows - 1) / pass_rows; }
};

// The tile rows per pass: V and M of 16 cells of Cin + Cout values per tile
// within 4 MB (of 1, 2, 4 and 8 MB, the fastest on ResNet-18's layers with a
// 2 MB L2: docs/benchmarks.md), but at least 64 tiles (narrower GEMMs repack
// the weights too often for their work), at least one tile row and at most
// the batch's; the batch's rows split evenly among the passes that makes.
template <class T>
WinogradLayout winograd_layout(const Conv2dGeometry& g, Index samples) {
  WinogradLayout layout;
  layout.tile_rows = (g.out_h + 1) / 2;
  layout.tile_cols = (g.out_w + 1) / 2;
  const Index per_tile = winograd_cells * (g.in_channels + g.out_channels) * static_cast<Index>(sizeof(T));
  const Index tiles = std::max<Index>((Index{4} << 20) / per_tile, 64);
  // As many passes as that takes, of equal size: two threads sharing one
  // image's two passes then get the same work.
  const Index rows = std::max<Index>(1, samples * layout.tile_rows);
  const Index most = std::clamp<Index>(tiles / layout.tile_cols, 1, rows);
  const Index passes = (rows + most - 1) / most;
  layout.pass_rows = (rows + passes - 1) / passes;
  return layout;
}

// Row i of G g for the 3x3 filter k (rows of 3), and value j of a row r
// times Gᵀ: the filter transform U = G g Gᵀ one cell (i, j) at a time.
template <class T>
void winograd_filter_row(const T* k, Index i, T (&row)[3]) {
  const T half = T{1} / 2;
  for (int j = 0; j < 3; ++j) {
    switch (i) {
      case 0:
        row[j] = k[j];
        break;
      case 1:
        row[j] = (k[j] + k[3 + j] + k[6 + j]) * half;
        break;
      case 2:
        row[j] = (k[j] - k[3 + j] + k[6 + j]) * half;
        break;
      default:
        row[j] = k[6 + j];
    }
  }
}
template <class T>
T winograd_filter_cell(const T (&row)[3], Index j) {
  const T half = T{1} / 2;
  switch (j) {
    case 0:
      return row[0];
    case 1:
      return (row[0] + row[1] + row[2]) * half;
    case 2:
      return (row[0] - row[1] + row[2]) * half;
    default:
      return row[2];
  }
}

// U_ξ [Cout, Cin] = (G g Gᵀ)_ξ for every filter g of weight [Cout, Cin, 3,
// 3], each cell ξ packed for its GEMMs into ws.winograd_weight[ξ] (through
// ws.winograd_cell), unless they were made from these weights already: at
// inference the weights stay the same from call to call, and comparing
// costs less than transforming again. Under a promise that the weights stay
// constant (`constant` nonzero, Graph::set_constant_weights) they are
// compared once, not on every call.
template <class T>
void winograd_prepare(const T* weight, const Conv2dGeometry& g, Conv2dWorkspace<T>& ws, std::uint64_t constant) {
  const Index Cout = g.out_channels, Cin = g.in_channels, count = Cout * Cin * 9;
  const bool made = ws.winograd_source.size() == count && ws.winograd_weight.size() == winograd_cells;
  if (made && constant != 0 && ws.winograd_constant == constant) return;
  ws.winograd_constant = constant;
  if (made && kept_copy_matches(ws.winograd_source, 0, weight, count)) return;
  ws.winograd_source.resize({count});
  std::copy_n(weight, count, ws.winograd_source.data());
  ws.winograd_weight.resize(winograd_cells);
  ws.winograd_cell.resize({Cout * Cin});
  T* u = ws.winograd_cell.data();
  for (Index cell = 0; cell < winograd_cells; ++cell) {
    for (Index f = 0; f < Cout * Cin; ++f) {  // f = co * Cin + c, as U_ξ's row-major [Cout, Cin]
      T row[3];
      winograd_filter_row(weight + f * 9, cell / 4, row);
      u[f] = winograd_filter_cell(row, cell % 4);
    }
    ws.winograd_weight[static_cast<std::size_t>(cell)].pack(u, Cout, Cin, Cin, max_threads());
  }
}

// Tiles a transform handles together: the loops over them are what the
// compiler vectorises, one tile per lane.
inline constexpr Index winograd_chunk = 16;

// V = Bᵀ d B for `count` <= winograd_chunk tiles side by side: tile l's d is
// columns first + 2 l .. first + 2 l + 3 of the four rows, and its V goes to
// v[ξ * cell_stride + l].
template <class T>
inline void winograd_input_tiles(const T* const (&rows)[4], Index first, Index count, Index cell_stride, T* v) {
  T h[4][4][winograd_chunk];
  for (int i = 0; i < 4; ++i) {
    const T* r = rows[i] + first;
    for (Index l = 0; l < count; ++l) {
      const T d0 = r[2 * l], d1 = r[2 * l + 1], d2 = r[2 * l + 2], d3 = r[2 * l + 3];
      h[i][0][l] = d0 - d2;
      h[i][1][l] = d1 + d2;
      h[i][2][l] = d2 - d1;
      h[i][3][l] = d1 - d3;
    }
  }
  for (int j = 0; j < 4; ++j) {
    T* v0 = v + j * cell_stride;  // cell (0, j); (i, j) is 4 i cells further
    T* v1 = v0 + 4 * cell_stride;
    T* v2 = v1 + 4 * cell_stride;
    T* v3 = v2 + 4 * cell_stride;
    for (Index l = 0; l < count; ++l) {
      v0[l] = h[0][j][l] - h[2][j][l];
      v1[l] = h[1][j][l] + h[2][j][l];
      v2[l] = h[2][j][l] - h[1][j][l];
      v3[l] = h[1][j][l] - h[3][j][l];
    }
  }
}

// One row of tiles of one input channel: V_ξ for tiles [0, TW) into
// v[ξ * cell_stride + tw]. rows[i]: input row 2 th + i - pad_top of the
// channel, or a row of zeros above or below the input. Tiles whose four
// columns are all inside the row go through winograd_input_tiles; the few at
// the edges load with checks.
template <class T>
void winograd_input_row(const T* const (&rows)[4], const Conv2dGeometry& g, Index tile_cols, Index cell_stride, T* v) {
  const Index W = g.width, left = g.window.pad_left;
  // Tile tw reads columns 2 tw - left .. 2 tw - left + 3.
  const Index inner_begin = std::min<Index>((left + 1) / 2, tile_cols);
  const Index inner_last = W - 4 + left >= 0 ? (W - 4 + left) / 2 : -1;
  const Index inner_end = std::clamp<Index>(inner_last + 1, inner_begin, tile_cols);
  const auto edge = [&](Index tw) {
    T d[4][4];  // the tile, zeros outside the input, as a tile of one
    for (int i = 0; i < 4; ++i) {
      for (int j = 0; j < 4; ++j) {
        const Index col = 2 * tw - left + j;
        d[i][j] = col >= 0 && col < W ? rows[i][col] : T{};
      }
    }
    const T* const tile_rows[4] = {d[0], d[1], d[2], d[3]};
    winograd_input_tiles(tile_rows, 0, 1, cell_stride, v + tw);
  };
  for (Index tw = 0; tw < inner_begin; ++tw) edge(tw);
  for (Index tw = inner_begin; tw < inner_end; tw += winograd_chunk) {
    winograd_input_tiles(rows, 2 * tw - left, std::min(winograd_chunk, inner_end - tw), cell_stride, v + tw);
  }
  for (Index tw = inner_end; tw < tile_cols; ++tw) edge(tw);
}

// Aᵀ M A for `count` <= winograd_chunk tiles side by side (m[ξ * cell_stride
// + l]: M_ξ of tile l), + bias, clamped (a fused ReLU or ReLU6; the
// default clamp keeps every value): tile l's outputs into out0[2 l],
// out0[2 l + 1] and, with `second_row`, out1[2 l], out1[2 l + 1]; with
// `second_column` false only the first column of each (a last tile half
// outside an odd-width output).
template <class T, bool second_row, bool second_column>
inline void winograd_output_tiles(const T* m, Index cell_stride, Index count, T bias, OutputClamp<T> clamp, T* out0,
                                  T* out1) {
  T s[4][2][winograd_chunk];  // M A: each row's two sums
  for (int i = 0; i < 4; ++i) {
    const T* m0 = m + 4 * i * cell_stride;
    const T* m1 = m0 + cell_stride;
    const T* m2 = m1 + cell_stride;
    const T* m3 = m2 + cell_stride;
    for (Index l = 0; l < count; ++l) {
      s[i][0][l] = m0[l] + m1[l] + m2[l];
      s[i][1][l] = m1[l] - m2[l] - m3[l];
    }
  }
  for (Index l = 0; l < count; ++l) {  // Aᵀ (M A), first row
    out0[2 * l] = clamp(s[0][0][l] + s[1][0][l] + s[2][0][l] + bias);
    if constexpr (second_column) out0[2 * l + 1] = clamp(s[0][1][l] + s[1][1][l] + s[2][1][l] + bias);
  }
  if constexpr (second_row) {
    for (Index l = 0; l < count; ++l) {
      out1[2 * l] = clamp(s[1][0][l] - s[2][0][l] - s[3][0][l] + bias);
      if constexpr (second_column) out1[2 * l + 1] = clamp(s[1][1][l] - s[2][1][l] - s[3][1][l] + bias);
    }
  }
}

// One row of tiles of one filter into output rows out0 (2 th) and out1
// (2 th + 1; unused without `second_row`, past the last row); m[ξ *
// cell_stride + tw] is M_ξ of tile tw.
template <class T, bool second_row>
void winograd_output_row(const T* m, Index cell_stride, Index out_w, T bias, OutputClamp<T> clamp, T* out0, T* out1) {
  const auto row1 = [&](Index column) { return second_row ? out1 + column : nullptr; };  // no offset from null
  const Index whole = out_w / 2;  // tiles with both columns inside the output
  for (Index tw = 0; tw < whole; tw += winograd_chunk) {
    winograd_output_tiles<T, second_row, true>(m + tw, cell_stride, std::min(winograd_chunk, whole - tw), bias, clamp,
                                               out0 + 2 * tw, row1(2 * tw));
  }
  if (out_w % 2 != 0) {
    winograd_output_tiles<T, second_row, false>(m + whole, cell_stride, 1, bias, clamp, out0 + 2 * whole,
                                                row1(2 * whole));
  }
}

// How the passes of a batch are run: in `blocks` blocks of whole passes on
// separate threads, each pass on one thread (pass_threads 1); or, with fewer
// passes than threads (one image), in one block, each pass shared among
// pass_threads threads.
struct WinogradCut {
  WinogradLayout layout;  // of the batch the cut was made for
  int blocks = 1;
  int pass_threads = 1;
};

template <class T>
WinogradCut winograd_cut(const Conv2dGeometry& g, Index samples) {
  const WinogradLayout layout = winograd_layout<T>(g, samples);
  const Index passes = layout.passes(samples);
  const int threads = max_threads();
  if (passes < threads) return {layout, 1, threads};
  return {layout, blocks_per_thread(passes, 4), 1};
}

// One pass, the batch's tile rows [first_row, last_row) (x and y: the whole
// batch), on `threads` threads: the input transform split by channels, the
// 16 GEMMs by cells, the output transform by filters.
template <class T>
void winograd_pass(const T* x, const T* bias, const Conv2dGeometry& g, const WinogradLayout& layout,
                   const Conv2dWorkspace<T>& ws, typename Conv2dWorkspace<T>::ThreadScratch& scratch,
                   OutputClamp<T> clamp, Index first_row, Index last_row, int threads, T* y) {
  const Index Cin = g.in_channels, Cout = g.out_channels, H = g.height, W = g.width;
  const Index TH = layout.tile_rows, TW = layout.tile_cols, stride = layout.pass_tiles();
  const Index in_plane = H * W, out_plane = g.out_h * g.out_w;
  T* v = scratch.transformed.data();  // [16, Cin, stride]
  T* m = scratch.products.data();     // [16, Cout, stride]
  const T* zeros = ws.zero_row.data();
  const Index tiles = (last_row - first_row) * TW;
  parallel_for(Cin, threads, [&](Index c_begin, Index c_end, int /*chunk*/) {
    for (Index c = c_begin; c < c_end; ++c) {
      for (Index r = first_row; r < last_row; ++r) {
        const Index n = r / TH, th = r % TH;
        const T* plane = x + n * Cin * in_plane + c * in_plane;
        const T* rows[4];
        for (Index i = 0; i < 4; ++i) {
          const Index h = 2 * th + i - g.window.pad_top;
          rows[i] = h >= 0 && h < H ? plane + h * W : zeros;
        }
        winograd_input_row(rows, g, TW, Cin * stride, v + c * stride + (r - first_row) * TW);
      }
    }
  });
  parallel_for(winograd_cells, threads, [&](Index begin, Index end, int /*chunk*/) {
    for (Index cell = begin; cell < end; ++cell) {
      gemm(ws.winograd_weight[static_cast<std::size_t>(cell)].all(),
           GemmOperand<T>{v + cell * Cin * stride, Cin, tiles, stride},
           GemmResult<T>{m + cell * Cout * stride, Cout, tiles, stride}, GemmUpdate::overwrite);
    }
  });
  parallel_for(Cout, threads, [&](Index f_begin, Index f_end, int /*chunk*/) {
    for (Index f = f_begin; f < f_end; ++f) {
      const T b = bias == nullptr ? T{} : bias[f];
      for (Index r = first_row; r < last_row; ++r) {
        const Index n = r / TH, th = r % TH;
        T* out = y + n * Cout * out_plane + f * out_plane + 2 * th * g.out_w;
        const T* cells = m + f * stride + (r - first_row) * TW;
        if (2 * th + 1 < g.out_h) {
          winograd_output_row<T, true>(cells, Cout * stride, g.out_w, b, clamp, out, out + g.out_w);
        } else {
          winograd_output_row<T, false>(cells, Cout * stride, g.out_w, b, clamp, out, nullptr);
        }
      }
    }
  });
}

// x: `samples` samples [Cin, H, W] -> y: as many [Cout, OH, OW] (bias:
// [Cout] or null), clamped by `clamp`, cut as `cut`
// says (winograd_cut). winograd_prepare first; each of the cut's threads
// needs its scratch.transformed and scratch.products sized for one pass's V
// and M, and ws.zero_row is a row of zeros as wide as the input.
template <class T>
void winograd_conv_forward(const T* x, Index samples, const T* bias, const Conv2dGeometry& g, Conv2dWorkspace<T>& ws,
                           OutputClamp<T> clamp, const WinogradCut& cut, T* y) {
  const WinogradLayout& layout = cut.layout;
  const Index rows_total = samples * layout.tile_rows;
  parallel_blocks(layout.passes(samples), cut.blocks, [&](const Block& block) {
    auto& scratch = ws.threads[static_cast<std::size_t>(block.slot)];
    for (Index pass = block.begin; pass < block.end; ++pass) {
      const Index first_row = pass * layout.pass_rows;
      winograd_pass(x, bias, g, layout, ws, scratch, clamp, first_row,
                    std::min(rows_total, first_row + layout.pass_rows), cut.pass_threads, y);
    }
  });
}

}  // namespace fovea::detail
