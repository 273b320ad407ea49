#pragma once

/// @file
/// Tile grids that lay many small maps (conv1 filters, feature maps) out in one
/// picture, [rows, cols] on the [0, 1] scale, for write_png (io/image/png.hpp).

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "fovea/core/error.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/number_format.hpp"

namespace fovea {

namespace detail {

template <class T>
Tensor<float, 2> tile_grid_impl(TensorView<const T, 3> maps, Index columns, Index border, float border_value,
                                Index scale) {
  const Index count = maps.dim(0), height = maps.dim(1), width = maps.dim(2);
  if (count < 1 || height < 1 || width < 1 || columns < 0 || border < 0 || scale < 1) {
    throw shape_error("tile_grid: maps " + to_string(maps.shape()) + ", columns " + std::to_string(columns) +
                      ", border " + std::to_string(border) + ", scale " + std::to_string(scale) +
                      ": expected at least one non-empty map, columns >= 0, border >= 0, scale >= 1");
  }
  if (columns == 0) columns = static_cast<Index>(std::ceil(std::sqrt(static_cast<double>(count))));
  columns = std::min(columns, count);
  const Index rows = (count + columns - 1) / columns;
  const Index tile_height = height * scale, tile_width = width * scale;
  Tensor<float, 2> grid = Tensor<float, 2>::full(
      {rows * tile_height + (rows + 1) * border, columns * tile_width + (columns + 1) * border}, border_value);

  for (Index k = 0; k < count; ++k) {
    const TensorView<const T, 2> map = maps.item(k);
    // Each tile on its own scale: filters and feature maps differ in range.
    double low = std::numeric_limits<double>::infinity(), high = -low;
    for (const T value : map) {
      if (!std::isfinite(value)) {
        throw numeric_error("tile_grid: non-finite value " + format_number(static_cast<double>(value)) + " in map " +
                            std::to_string(k) + " of " + to_string(maps.shape()));
      }
      low = std::min(low, static_cast<double>(value));
      high = std::max(high, static_cast<double>(value));
    }
    const double range = high - low;
    const Index top = border + (k / columns) * (tile_height + border);
    const Index left = border + (k % columns) * (tile_width + border);
    for (Index y = 0; y < tile_height; ++y) {
      for (Index x = 0; x < tile_width; ++x) {
        const double value = map(y / scale, x / scale);
        // A constant map has no contrast to show: mid gray.
        grid(top + y, left + x) = range > 0 ? static_cast<float>((value - low) / range) : 0.5F;
      }
    }
  }
  return grid;
}

}  // namespace detail

/// The layout of tile_grid().
struct TileGridOptions {
  Index columns = 0;          ///< 0: ceil(sqrt(count)), a near-square grid
  Index border = 1;           ///< pixels between tiles and around the grid
  float border_value = 1.0F;  ///< border (and empty slot) brightness in [0, 1]
  Index scale = 1;            ///< each map pixel becomes scale x scale pixels (5x5 filters are tiny)
};

/// Lays maps [K, H, W] out row by row in a grid, each normalised to [0, 1] by
/// its own min and max (a constant map shows mid gray). The result [rows, cols]
/// goes straight to write_png. Throws shape_error for no maps, empty maps,
/// negative columns or border, or a scale below 1; numeric_error for a NaN or
/// infinite value.
inline Tensor<float, 2> tile_grid(TensorView<const float, 3> maps, const TileGridOptions& options = {}) {
  return detail::tile_grid_impl(maps, options.columns, options.border, options.border_value, options.scale);
}
/// The same for double maps [K, H, W].
inline Tensor<float, 2> tile_grid(TensorView<const double, 3> maps, const TileGridOptions& options = {}) {
  return detail::tile_grid_impl(maps, options.columns, options.border, options.border_value, options.scale);
}

/// Convolution weights [Cout, Cin, KH, KW]: one row per output channel, one
/// column per input channel; with Cin = 1 (conv1) the filters fill a
/// near-square grid instead (or options.columns, when set).
inline Tensor<float, 2> tile_grid(TensorView<const float, 4> filters, TileGridOptions options = {}) {
  if (filters.dim(1) > 1) options.columns = filters.dim(1);
  return tile_grid(filters.reshape(Shape<3>{filters.dim(0) * filters.dim(1), filters.dim(2), filters.dim(3)}), options);
}
/// The same for double weights [Cout, Cin, KH, KW].
inline Tensor<float, 2> tile_grid(TensorView<const double, 4> filters, TileGridOptions options = {}) {
  if (filters.dim(1) > 1) options.columns = filters.dim(1);
  return tile_grid(filters.reshape(Shape<3>{filters.dim(0) * filters.dim(1), filters.dim(2), filters.dim(3)}), options);
}

}  // namespace fovea
