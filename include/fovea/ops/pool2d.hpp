#pragma once

/// @file
/// 2-D pooling over each feature map separately (depth unchanged), forward and
/// backward side by side:
///   x: [N, C, H, W] -> y: [N, C, OH, OW],  OH = floor((H + top + bottom - KH) / SH) + 1
/// (and likewise OW with left and right). Kinds: max, min (remember which cell
/// won, for backward, when asked to), average, sum and L2 norm sqrt(sum x^2).
///
/// ceil_mode rounds up instead (PyTorch's ceil_mode): a last, partial window
/// covers the rows the floor would leave out, but only if it starts inside the
/// input or its top (left) padding; one that would start in the bottom
/// (right) padding is dropped, as PyTorch drops it.
///
/// Zero padding, each side on its own: padding cells never win a max or a
/// min; they count as zeros for sum, average and L2. The average divides by
/// the cells of its window inside the padded map (count_include_pad, the
/// default, as in PyTorch: KH*KW except where a ceil-mode window hangs over
/// the padding) or by the real cells alone (count_include_pad = false).
/// Each side's padding is at most half the window (as in PyTorch), which
/// guarantees every window holds at least one real cell.
///
/// NaN: a window holding a NaN gives NaN for every kind. Max and min pooling
/// propagate it as PyTorch does: the NaN wins the window (the last NaN in
/// row-major order, when there are several), and backward routes the
/// window's gradient to that cell.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor_view.hpp"

namespace fovea {

/// What a pooling window computes from its cells.
enum class PoolKind {
  max,      ///< The largest cell.
  average,  ///< The sum divided by the full window size KH*KW.
  min,      ///< The smallest cell.
  sum,      ///< The sum of the cells.
  l2        ///< The L2 norm, sqrt(sum x^2).
};

/// Zero padding around a pooling layer's feature maps, each side on its own:
/// `{1}` pads every side by 1, `{1, 2}` pads top and bottom by 1 and left and
/// right by 2, `{0, 1, 0, 1}` pads only the bottom and the right.
struct Pool2dPadding {
  Index top = 0;     ///< Rows of zeros above the map.
  Index bottom = 0;  ///< Rows of zeros below the map.
  Index left = 0;    ///< Columns of zeros left of the map.
  Index right = 0;   ///< Columns of zeros right of the map.
  /// No padding.
  constexpr Pool2dPadding() = default;
  /// The same padding on every side; implicit, so that `.padding = 1` reads as 1 all round.
  constexpr Pool2dPadding(Index all) : top(all), bottom(all), left(all), right(all) {}  // NOLINT
  /// `height` above and below, `width` left and right: the symmetric padding of earlier fovea.
  constexpr Pool2dPadding(Index height, Index width) : top(height), bottom(height), left(width), right(width) {}
  /// Each side on its own, in the order top, bottom, left, right.
  constexpr Pool2dPadding(Index top_rows, Index bottom_rows, Index left_columns, Index right_columns)
      : top(top_rows), bottom(bottom_rows), left(left_columns), right(right_columns) {}
  /// Whether top equals bottom and left equals right.
  constexpr bool symmetric() const { return top == bottom && left == right; }
  /// Equal when every side is.
  bool operator==(const Pool2dPadding&) const = default;
};

/// The settings of a pooling layer. Window and stride each take a height and
/// a width (Size2), or one number for both; padding one, two or four numbers.
struct Pool2dOptions {
  PoolKind kind = PoolKind::max;  ///< What each window computes.
  Size2 window{2, 2};             ///< Window size [KH, KW].
  Size2 stride{2, 2};             ///< Step between windows [SH, SW].
  Pool2dPadding padding{};        ///< Zero padding per side, each at most half the window.
  bool ceil_mode = false;         ///< Round the output size up, not down (see the top of this file).
  /// Average only: divide by the window's cells inside the padded map (true,
  /// PyTorch's default) or by its real cells alone (false).
  bool count_include_pad = true;
  /// Equal when every setting is.
  bool operator==(const Pool2dOptions&) const = default;
};

/// "MaxPool2d", "AvgPool2d", "MinPool2d", "SumPool2d", "L2Pool2d": the layer type names.
/// Throws value_error for a value outside the enumeration.
inline const char* pool2d_type_name(PoolKind kind) {
  switch (kind) {
    case PoolKind::max:
      return "MaxPool2d";
    case PoolKind::average:
      return "AvgPool2d";
    case PoolKind::min:
      return "MinPool2d";
    case PoolKind::sum:
      return "SumPool2d";
    case PoolKind::l2:
      return "L2Pool2d";
  }
  throw value_error("pool2d_type_name: unknown pool kind " + std::to_string(static_cast<int>(kind)));
}

namespace detail {
// "2" when both axes agree, "2x1" otherwise.
[[gnu::cold]] inline std::string format_size(const Size2& size, bool always_both) {
  if (!always_both && size.h == size.w) return std::to_string(size.h);
  return std::to_string(size.h) + "x" + std::to_string(size.w);
}
// Symmetric padding as a size ("1", "1x2"), any other as "[t0, b1, l0, r1]".
[[gnu::cold]] inline std::string format_padding(const Pool2dPadding& p, bool always_both) {
  if (p.symmetric()) return format_size({p.top, p.left}, always_both);
  return "[t" + std::to_string(p.top) + ", b" + std::to_string(p.bottom) + ", l" + std::to_string(p.left) + ", r" +
         std::to_string(p.right) + "]";
}
}  // namespace detail

/// "MaxPool2d(2x2, s2)", "AvgPool2d(3x3, s2, p1)", "MaxPool2d(3x3, s2, ceil)",
/// "AvgPool2d(3x3, s1, p[t0, b1, l0, r1], exclude pad)": padding and the
/// other settings shown only when they differ from the defaults.
[[gnu::cold]] inline std::string to_string(const Pool2dOptions& options) {
  std::string text = std::string(pool2d_type_name(options.kind)) + "(" + detail::format_size(options.window, true) +
                     ", s" + detail::format_size(options.stride, false);
  if (options.padding != Pool2dPadding{}) text += ", p" + detail::format_padding(options.padding, false);
  if (options.ceil_mode) text += ", ceil";
  if (!options.count_include_pad) text += ", exclude pad";
  return text + ")";
}

/// Throws value_error for a window or stride below 1, negative padding,
/// padding of more than half the window on any side, or count_include_pad =
/// false on a kind other than average (where it would be silently ignored).
[[gnu::cold]] inline void validate_pool2d(const Pool2dOptions& options) {
  const auto fail = [&](const std::string& what) {
    throw value_error(std::string(pool2d_type_name(options.kind)) + ": " + what);
  };
  if (options.window.h < 1 || options.window.w < 1) {
    fail("window must be positive, got " + detail::format_size(options.window, true));
  }
  if (options.stride.h < 1 || options.stride.w < 1) {
    fail("stride must be positive, got " + detail::format_size(options.stride, true));
  }
  const Pool2dPadding& p = options.padding;
  if (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0) {
    fail("padding must not be negative, got " + detail::format_padding(p, true));
  }
  if (2 * std::max(p.top, p.bottom) > options.window.h || 2 * std::max(p.left, p.right) > options.window.w) {
    fail("padding " + detail::format_padding(p, true) + " is more than half the window " +
         detail::format_size(options.window, true));
  }
  if (!options.count_include_pad && options.kind != PoolKind::average) {
    fail("count_include_pad = false applies to average pooling only");
  }
}

/// Output positions along one axis of `input` cells padded by `before` and
/// `after`, for windows of `window` at `stride`: floor((input + before +
/// after - window) / stride) + 1, or with ceil_mode the ceiling, less one when
/// the last window would start past the input and its `before` padding (as in
/// PyTorch). Assumes input + before + after >= window.
inline Index pool2d_output_size(Index input, Index window, Index stride, Index before, Index after, bool ceil_mode) {
  const Index span = input + before + after - window;
  Index out = (ceil_mode ? span + stride - 1 : span) / stride + 1;
  if (ceil_mode && (out - 1) * stride >= input + before) --out;
  return out;
}

/// input: [C, H, W] -> [C, OH, OW]. Pure; throws shape_error (naming `layer`)
/// when a map is empty or smaller than the window even after padding, or has
/// more than 2^31 - 1 cells. Assumes validate_pool2d has passed.
inline Shape<3> pool2d_output_shape(const Pool2dOptions& options, const Shape<3>& input, std::string_view layer) {
  const Index H = input[1];
  const Index W = input[2];
  if (H < 1 || W < 1) {
    throw shape_error(std::string(layer) + "::output_shape: input " + to_string(input) + " has empty feature maps");
  }
  const Pool2dPadding& p = options.padding;
  const Index padded_h = H + p.top + p.bottom;
  const Index padded_w = W + p.left + p.right;
  if (padded_h < options.window.h || padded_w < options.window.w) {
    std::string message = std::string(layer) + "::output_shape: input " + to_string(input) +
                          " is smaller than the window " + detail::format_size(options.window, true);
    if (p != Pool2dPadding{}) message += " even with padding " + detail::format_padding(p, true);
    throw shape_error(message);
  }
  if (H * W > std::numeric_limits<std::int32_t>::max()) {
    throw shape_error(std::string(layer) + "::output_shape: feature maps of input " + to_string(input) +
                      " are too large");
  }
  return {input[0], pool2d_output_size(H, options.window.h, options.stride.h, p.top, p.bottom, options.ceil_mode),
          pool2d_output_size(W, options.window.w, options.stride.w, p.left, p.right, options.ceil_mode)};
}

/// Forward FLOPs for one sample: a comparison or an addition per window cell,
/// two per cell for L2, plus the division (average) or square root (L2).
/// `output` is one sample's output shape [C, OH, OW].
inline double pool2d_flops_per_sample(const Pool2dOptions& options, const Shape<3>& output) {
  const auto cells = static_cast<double>(options.window.h * options.window.w);
  double per_output = cells;
  if (options.kind == PoolKind::average) per_output = cells + 1;
  if (options.kind == PoolKind::l2) per_output = 2 * cells + 1;
  return per_output * static_cast<double>(shape_size(output));
}

namespace detail {

// The rows (or columns) of the input that output position `o` covers,
// clipped to the map: padding cells are simply not visited. `padded` counts
// the window's cells inside the padded map (before + extent + after), the
// divisor of an average that counts padding.
struct WindowSpan {
  Index begin;
  Index end;
  Index padded;
};
inline WindowSpan window_span(Index o, Index window, Index stride, Index before, Index after, Index extent) {
  const Index start = o * stride - before;
  return {std::max<Index>(start, 0), std::min(start + window, extent),
          std::min(start + window, extent + after) - start};
}

// 2x2 windows at stride 2 without padding, every one inside the map: the
// windows tile it (LeNet's pooling), and the kernels below need no spans. (A
// ceil-mode window over an odd edge would hang over it: not here.)
inline bool tiles_by_2x2(const Pool2dOptions& o, Index H, Index W, Index OH, Index OW) {
  return o.window == Size2{2, 2} && o.stride == Size2{2, 2} && o.padding == Pool2dPadding{} && 2 * OH <= H &&
         2 * OW <= W;
}

// Whether `candidate` takes a max or min window from `best`: it is larger (or
// smaller), or it is NaN, which wins as in PyTorch (a later NaN replaces an
// earlier one, and nothing replaces a NaN but a NaN).
template <PoolKind Kind, class T>
bool takes_window(T candidate, T best) {
  return (Kind == PoolKind::max ? candidate > best : candidate < best) || std::isnan(candidate);
}

// The flat index h*W + w of the window's max (min) cell: ties to the first
// cell in row-major order, a NaN to the last NaN. Forward keeps it for
// backward; a backward without kept indices finds it again.
template <PoolKind Kind, class T>
Index window_winner(const T* x, Index W, const WindowSpan& rows, const WindowSpan& cols) {
  Index best = rows.begin * W + cols.begin;
  T best_value = x[best];
  for (Index h = rows.begin; h < rows.end; ++h) {
    for (Index w = cols.begin; w < cols.end; ++w) {
      const T v = x[h * W + w];
      if (takes_window<Kind>(v, best_value)) {
        best_value = v;
        best = h * W + w;
      }
    }
  }
  return best;
}

// Max or min of every window, and with `selected` (not null) the flat index
// of its winner: each tap of the window is taken across a whole output row
// at once, a loop without branches that the compiler vectorises. The taps
// come in row-major order within the window, so ties go to the first cell
// and a NaN wins as in window_winner.
template <PoolKind Kind, class T>
void pool2d_extreme_map(const Pool2dOptions& o, const T* x, Index H, Index W, T* y, Index OH, Index OW,
                        std::int32_t* selected) {
  if (OW == 1) {  // one window across each row (global pooling): the loops below would run one output long
    const WindowSpan cols = window_span(0, o.window.w, o.stride.w, o.padding.left, o.padding.right, W);
    for (Index oh = 0; oh < OH; ++oh) {
      const WindowSpan rows = window_span(oh, o.window.h, o.stride.h, o.padding.top, o.padding.bottom, H);
      const Index best = window_winner<Kind>(x, W, rows, cols);
      y[oh] = x[best];
      if (selected != nullptr) selected[oh] = static_cast<std::int32_t>(best);
    }
    return;
  }
  constexpr T start = Kind == PoolKind::max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  const Index sw = o.stride.w;
  for (Index oh = 0; oh < OH; ++oh) {
    const WindowSpan rows = window_span(oh, o.window.h, o.stride.h, o.padding.top, o.padding.bottom, H);
    T* out = y + oh * OW;
    std::fill_n(out, OW, start);
    std::int32_t* chosen = selected == nullptr ? nullptr : selected + oh * OW;
    if (chosen != nullptr) {  // the first cell, should nothing beat the start value
      for (Index ow = 0; ow < OW; ++ow) {
        chosen[ow] = static_cast<std::int32_t>(rows.begin * W + std::max<Index>(ow * sw - o.padding.left, 0));
      }
    }
    for (Index h = rows.begin; h < rows.end; ++h) {
      for (Index kw = 0; kw < o.window.w; ++kw) {
        // Output ow reads column ow*sw + shift; only those inside the map count.
        const Index shift = kw - o.padding.left;
        const Index first = shift >= 0 ? 0 : (-shift + sw - 1) / sw;
        const Index last = shift >= W ? 0 : std::min(OW, (W - 1 - shift) / sw + 1);
        const T* row = x + h * W;  // + shift in the index: a pointer before x would be undefined
        if (chosen == nullptr) {
          for (Index ow = first; ow < last; ++ow) {
            const T v = row[ow * sw + shift];
            out[ow] = takes_window<Kind>(v, out[ow]) ? v : out[ow];
          }
        } else {
          const auto cell = static_cast<std::int32_t>(h * W + shift);
          const auto step = static_cast<std::int32_t>(sw);
          for (Index ow = first; ow < last; ++ow) {
            const T v = row[ow * sw + shift];
            const bool take = takes_window<Kind>(v, out[ow]);
            out[ow] = take ? v : out[ow];
            chosen[ow] = take ? cell + static_cast<std::int32_t>(ow) * step : chosen[ow];
          }
        }
      }
    }
  }
}

// Max or min over 2x2 windows at stride 2 without padding: every window lies
// inside the map, so there are no spans to clip and the four cells are
// compared straight. Ties go to the first cell in row-major order, NaN to
// the last NaN, as in pool2d_extreme_map. selected may be null (not kept).
template <PoolKind Kind, class T>
void pool2x2_select_map(const T* x, Index W, T* y, Index OH, Index OW, std::int32_t* selected) {
  const auto better = [](T candidate, T best) { return takes_window<Kind>(candidate, best); };
  // Branch-free: the winner's value through (a < b) ? b : a (one vmaxss /
  // vminss), its index through arithmetic on the comparison results. On
  // random data the branchy form mispredicted about every other compare, and
  // LeNet's rows (14 and 5 outputs) are too short for a vectorised loop.
  const auto W32 = static_cast<std::int32_t>(W);
  for (Index oh = 0; oh < OH; ++oh) {
    const T* upper = x + 2 * oh * W;
    const T* lower = upper + W;
    T* out = y + oh * OW;
    std::int32_t* chosen = selected == nullptr ? nullptr : selected + oh * OW;
    const auto top = static_cast<std::int32_t>(2 * oh * W);
    for (Index ow = 0; ow < OW; ++ow) {
      const T a = upper[2 * ow], b = upper[2 * ow + 1], c = lower[2 * ow], d = lower[2 * ow + 1];
      const std::int32_t first = top + 2 * static_cast<std::int32_t>(ow);
      const bool take_b = better(b, a);
      const T ab = take_b ? b : a;
      const std::int32_t iab = first + static_cast<std::int32_t>(take_b);
      const bool take_c = better(c, ab);
      const T abc = take_c ? c : ab;
      const std::int32_t iabc = iab + static_cast<std::int32_t>(take_c) * (first + W32 - iab);
      const bool take_d = better(d, abc);
      out[ow] = take_d ? d : abc;
      if (chosen != nullptr) chosen[ow] = iabc + static_cast<std::int32_t>(take_d) * (first + W32 + 1 - iabc);
    }
  }
}

// Sum, average or L2 over 2x2 windows at stride 2 without padding: four
// cells straight, no spans (the general loop below spent 8 ns per output
// clipping spans that never clip here).
template <PoolKind Kind, class T>
void pool2x2_reduce_map(const T* x, Index W, T* y, Index OH, Index OW) {
  for (Index oh = 0; oh < OH; ++oh) {
    const T* upper = x + 2 * oh * W;
    const T* lower = upper + W;
    T* out = y + oh * OW;
    for (Index ow = 0; ow < OW; ++ow) {
      const T a = upper[2 * ow], b = upper[2 * ow + 1], c = lower[2 * ow], d = lower[2 * ow + 1];
      if constexpr (Kind == PoolKind::l2) {
        out[ow] = std::sqrt(a * a + b * b + c * c + d * d);
      } else if constexpr (Kind == PoolKind::average) {
        out[ow] = (a + b + c + d) / T{4};
      } else {
        out[ow] = a + b + c + d;
      }
    }
  }
}

// The divisor of an average over the window rows x cols: the cells inside the
// padded map, or only the real ones.
inline Index average_divisor(const Pool2dOptions& o, const WindowSpan& rows, const WindowSpan& cols) {
  return o.count_include_pad ? rows.padded * cols.padded : (rows.end - rows.begin) * (cols.end - cols.begin);
}

// One feature map x: [H, W] -> y: [OH, OW]; selected: [OH, OW] (max and min
// only; null: not kept) gets the flat index of each window's winner.
template <PoolKind Kind, class T>
void pool2d_forward_map(const Pool2dOptions& o, const T* x, Index H, Index W, T* y, Index OH, Index OW,
                        std::int32_t* selected) {
  const T window_cells = static_cast<T>(o.window.h * o.window.w);
  if constexpr (Kind == PoolKind::max || Kind == PoolKind::min) {
    if (tiles_by_2x2(o, H, W, OH, OW)) {
      pool2x2_select_map<Kind>(x, W, y, OH, OW, selected);  // LeNet's pooling
    } else {
      pool2d_extreme_map<Kind>(o, x, H, W, y, OH, OW, selected);
    }
    return;
  }
  if (tiles_by_2x2(o, H, W, OH, OW)) {
    pool2x2_reduce_map<Kind>(x, W, y, OH, OW);
    return;
  }
  if (o.window == Size2{H, W} && o.padding == Pool2dPadding{} && Kind != PoolKind::max && Kind != PoolKind::min) {
    // One window over the whole map (global pooling): a vectorised sum.
    const ArrayMap<const T> cells(x, H * W);
    if constexpr (Kind == PoolKind::l2) {
      y[0] = std::sqrt(cells.square().sum());
    } else if constexpr (Kind == PoolKind::average) {
      y[0] = cells.sum() / window_cells;
    } else {
      y[0] = cells.sum();
    }
    return;
  }
  for (Index oh = 0; oh < OH; ++oh) {
    const WindowSpan rows = window_span(oh, o.window.h, o.stride.h, o.padding.top, o.padding.bottom, H);
    for (Index ow = 0; ow < OW; ++ow) {
      const WindowSpan cols = window_span(ow, o.window.w, o.stride.w, o.padding.left, o.padding.right, W);
      T total{0};
      for (Index h = rows.begin; h < rows.end; ++h) {
        for (Index w = cols.begin; w < cols.end; ++w) {
          const T v = x[h * W + w];
          total += Kind == PoolKind::l2 ? v * v : v;
        }
      }
      if constexpr (Kind == PoolKind::average) total /= static_cast<T>(average_divisor(o, rows, cols));
      if constexpr (Kind == PoolKind::l2) total = std::sqrt(total);
      y[oh * OW + ow] = total;
    }
  }
}

// pool2x2_reduce_map's backward: each window's four cells get dy's share
// (dy, dy / 4, or dy x / y for L2; an all-zero L2 window gets 0). The
// windows do not overlap, so every cell is written once.
template <PoolKind Kind, class T>
void pool2x2_reduce_backward_map(const T* x, Index W, const T* y, const T* dy, Index OH, Index OW, T* dx) {
  for (Index oh = 0; oh < OH; ++oh) {
    for (Index ow = 0; ow < OW; ++ow) {
      const T g = dy[oh * OW + ow];
      const Index cells[4] = {2 * oh * W + 2 * ow, 2 * oh * W + 2 * ow + 1, (2 * oh + 1) * W + 2 * ow,
                              (2 * oh + 1) * W + 2 * ow + 1};
      if constexpr (Kind == PoolKind::l2) {
        const T norm = y[oh * OW + ow];
        const T scale = norm > T{0} ? g / norm : T{0};
        for (Index cell : cells) dx[cell] = scale * x[cell];
      } else {
        const T share = Kind == PoolKind::average ? g / T{4} : g;
        for (Index cell : cells) dx[cell] = share;
      }
    }
  }
}

// One feature map: dx: [H, W] = the sum, over the windows covering each cell,
// of dy times d(window output)/d(cell).
template <PoolKind Kind, class T>
void pool2d_backward_map(const Pool2dOptions& o, const T* x, Index H, Index W, const T* y, const T* dy, Index OH,
                         Index OW, const std::int32_t* selected, T* dx) {
  std::fill_n(dx, H * W, T{0});
  if constexpr (Kind == PoolKind::max || Kind == PoolKind::min) {
    if (selected != nullptr) {
      for (Index i = 0; i < OH * OW; ++i) dx[selected[i]] += dy[i];
      return;
    }
    for (Index oh = 0; oh < OH; ++oh) {  // an inference forward kept no winners: find them again
      const WindowSpan rows = window_span(oh, o.window.h, o.stride.h, o.padding.top, o.padding.bottom, H);
      for (Index ow = 0; ow < OW; ++ow) {
        const WindowSpan cols = window_span(ow, o.window.w, o.stride.w, o.padding.left, o.padding.right, W);
        dx[window_winner<Kind>(x, W, rows, cols)] += dy[oh * OW + ow];
      }
    }
    return;
  }
  if (tiles_by_2x2(o, H, W, OH, OW)) {
    pool2x2_reduce_backward_map<Kind>(x, W, y, dy, OH, OW, dx);
    return;
  }
  for (Index oh = 0; oh < OH; ++oh) {
    const WindowSpan rows = window_span(oh, o.window.h, o.stride.h, o.padding.top, o.padding.bottom, H);
    for (Index ow = 0; ow < OW; ++ow) {
      const WindowSpan cols = window_span(ow, o.window.w, o.stride.w, o.padding.left, o.padding.right, W);
      const T g = dy[oh * OW + ow];
      // Sum: every cell gets g; average: g over the forward's divisor.
      const T share = Kind == PoolKind::average ? g / static_cast<T>(average_divisor(o, rows, cols)) : g;
      // L2: d sqrt(sum x^2) / dx_i = x_i / y. An all-zero window has no
      // direction to prefer and gets gradient 0 rather than 0/0.
      const T norm = y[oh * OW + ow];
      const T l2_scale = norm > T{0} ? g / norm : T{0};
      for (Index h = rows.begin; h < rows.end; ++h) {
        for (Index w = cols.begin; w < cols.end; ++w) {
          if constexpr (Kind == PoolKind::l2) {
            dx[h * W + w] += l2_scale * x[h * W + w];
          } else {
            dx[h * W + w] += share;
          }
        }
      }
    }
  }
}

[[gnu::cold]] inline void require_pool2d_shapes(const char* operation, const Pool2dOptions& options, const Shape<4>& x,
                                                const Shape<4>& y, const Shape<4>& selected) {
  const Shape<3> out = pool2d_output_shape(options, {x[1], x[2], x[3]}, operation);
  const Shape<4> want = {x[0], out[0], out[1], out[2]};
  if (y != want) {
    throw shape_error(std::string(operation) + ": output " + to_string(y) + ", expected " + to_string(want) +
                      " for input " + to_string(x));
  }
  const bool keeps_selected = options.kind == PoolKind::max || options.kind == PoolKind::min;
  if (keeps_selected && selected != want && selected != Shape<4>{}) {
    throw shape_error(std::string(operation) + ": selected-cell indices " + to_string(selected) + ", expected " +
                      to_string(want));
  }
}

// Calls body(begin, end) over blocks of the N*C feature maps: in parallel
// when the input is large, on this thread when it is small (a pass over a few
// thousand elements takes less time than waking the other threads). Each map
// is pooled on its own, so the blocks are small (16 per thread) and a thread
// that is ahead takes them over from the other. A small input is one block of
// the same call, so that the body is compiled once.
inline constexpr Index pool2d_parallel_min_elements = Index{1} << 15;
template <class Body>
void for_each_map_chunk(Index maps, Index input_elements, Body&& body) {
  const int blocks = input_elements < pool2d_parallel_min_elements ? 1 : blocks_per_thread(maps, 16);
  parallel_blocks(maps, blocks, [&](const Block& block) { body(block.begin, block.end); });
}

// Calls body.template operator()<Kind>() for the runtime kind: the switch
// happens once per block of maps, never inside the loops, and inside the
// parallel loop, so that there is one parallel loop per direction, not one per kind.
template <class Body>
void dispatch_pool_kind(PoolKind kind, Body&& body) {
  switch (kind) {
    case PoolKind::max:
      return body.template operator()<PoolKind::max>();
    case PoolKind::average:
      return body.template operator()<PoolKind::average>();
    case PoolKind::min:
      return body.template operator()<PoolKind::min>();
    case PoolKind::sum:
      return body.template operator()<PoolKind::sum>();
    case PoolKind::l2:
      return body.template operator()<PoolKind::l2>();
  }
}

}  // namespace detail

/// x: [N, C, H, W] -> y: [N, C, OH, OW]. selected: [N, C, OH, OW] for max and
/// min (the winning cell of each window, kept for backward), or empty: not
/// kept (inference, a faster loop); always empty for the other kinds. The feature maps of a large input are split
/// across threads. Throws value_error for invalid options (validate_pool2d), and shape_error when the maps are smaller
/// than the window (pool2d_output_shape) or y or selected has another shape.
template <class T>
void pool2d_forward(const Pool2dOptions& options, TensorView<const T, 4> x, TensorView<T, 4> y,
                    TensorView<std::int32_t, 4> selected) {
  validate_pool2d(options);
  detail::require_pool2d_shapes("pool2d_forward", options, x.shape(), y.shape(), selected.shape());
  const Index H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  const bool has_selected = !selected.empty();
  detail::for_each_map_chunk(x.dim(0) * x.dim(1), x.size(), [&](Index begin, Index end) {
    detail::dispatch_pool_kind(options.kind, [&]<PoolKind Kind>() {
      for (Index map = begin; map < end; ++map) {
        detail::pool2d_forward_map<Kind>(options, x.data() + map * H * W, H, W, y.data() + map * OH * OW, OH, OW,
                                         has_selected ? selected.data() + map * OH * OW : nullptr);
      }
    });
  });
}

/// dy: [N, C, OH, OW] -> dx: [N, C, H, W] (overwritten). x and y are the
/// forward's input and output (L2 needs both); selected is what forward wrote,
/// or empty: max and min find each window's winner in x again.
/// Throws value_error for invalid options and shape_error when any shape
/// disagrees with x and the options.
template <class T>
void pool2d_backward(const Pool2dOptions& options, TensorView<const T, 4> x, TensorView<const T, 4> y,
                     TensorView<const std::int32_t, 4> selected, TensorView<const T, 4> dy, TensorView<T, 4> dx) {
  validate_pool2d(options);
  detail::require_pool2d_shapes("pool2d_backward", options, x.shape(), y.shape(), selected.shape());
  if (dy.shape() != y.shape()) {
    throw shape_error("pool2d_backward: gradient " + to_string(dy.shape()) + " does not match the output " +
                      to_string(y.shape()));
  }
  if (dx.shape() != x.shape()) {
    throw shape_error("pool2d_backward: input gradient " + to_string(dx.shape()) + " does not match the input " +
                      to_string(x.shape()));
  }
  const Index H = x.dim(2), W = x.dim(3), OH = y.dim(2), OW = y.dim(3);
  const bool has_selected = !selected.empty();
  detail::for_each_map_chunk(x.dim(0) * x.dim(1), x.size(), [&](Index begin, Index end) {
    detail::dispatch_pool_kind(options.kind, [&]<PoolKind Kind>() {
      for (Index map = begin; map < end; ++map) {
        detail::pool2d_backward_map<Kind>(
            options, x.data() + map * H * W, H, W, y.data() + map * OH * OW, dy.data() + map * OH * OW, OH, OW,
            has_selected ? selected.data() + map * OH * OW : nullptr, dx.data() + map * H * W);
      }
    });
  });
}

/// Global pooling is one window covering the whole map: x: [N, C, H, W] ->
/// y: [N, C, 1, 1] through the same kernels. Returns those options for H x W maps.
inline Pool2dOptions global_pool2d_options(PoolKind kind, Index H, Index W) {
  return {.kind = kind, .window = {H, W}, .stride = {1, 1}, .padding = {}};
}

}  // namespace fovea
