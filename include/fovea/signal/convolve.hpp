#pragma once

/// @file
/// Convolution as mathematics: convolve and correlate of 1D and 2D signals, in
/// full / same / valid modes, by direct summation or through the FFT.
///
/// convolve versus correlate (f is the signal, g the kernel):
///   convolve(f, g)[n]  = sum over a + b = n of f[a] g[b]
///       True convolution: the kernel is flipped as it slides. It is
///       commutative and associative, a unit impulse is its identity, and the
///       convolution of two probability distributions is the distribution of
///       the sum of the two random variables.
///   correlate(f, g)[n] = sum over j of f[n + j] g[j]     (valid mode)
///       The kernel slides unflipped. This is what a CNN "convolution" layer
///       computes and what an image filter such as Sobel means, so copy a
///       filter into a Conv2d weight as is and apply it with correlate.
///   They differ by a flip only: convolve(f, g) == correlate(f, flip(g)). For a
///   symmetric kernel (box, Gaussian, Laplacian) the two agree; for Sobel,
///   emboss or a one-sided difference they do not.
///
/// Modes, per dimension, for f of length n and g of length k:
///   full   n + k - 1 outputs: every position where the two overlap at all.
///   same   n outputs: the full result cropped from index (k - 1) / 2 (rounded
///          down), as scipy.signal.convolve/correlate(..., mode="same"); the
///          kernel's centre is over each input sample (for odd k).
///   valid  n - k + 1 outputs: only where g lies wholly inside f; needs k <= n.
/// Outside f the signal is taken as zero.
///
/// Methods: direct summation costs about (outputs x kernel size) multiply-adds;
/// the FFT path costs about N log N for the padded size N whatever the kernel.
/// Method::automatic compares the two with constants measured by
/// bench/signal.cpp (see fft_break_even below). Both paths agree to rounding:
/// 1e-4 of the largest output in float, 1e-10 in double (tests/signal/convolve.cpp).

#include <algorithm>
#include <cmath>
#include <complex>
#include <concepts>
#include <cstddef>
#include <string>
#include <type_traits>
#include <unsupported/Eigen/FFT>
#include <vector>

#include "fovea/core/aligned_buffer.hpp"
#include "fovea/core/eigen.hpp"
#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/core/tensor_view.hpp"

/// Convolution and correlation of 1D and 2D signals as mathematics, and the
/// classic image-processing kernels.
namespace fovea::signal {

/// Which part of the full result to keep, per dimension, for f of length n and g of length k.
enum class Mode {
  full,  ///< n + k - 1 outputs: every position where the two overlap at all.
  same,  ///< n outputs: the full result cropped from index (k - 1) / 2.
  valid  ///< n - k + 1 outputs: only where g lies wholly inside f; needs k <= n.
};
/// How to compute the result; both methods agree to rounding.
enum class Method {
  automatic,  ///< Whichever of direct and fft is estimated to be faster (automatic_method).
  direct,     ///< Direct summation: about (outputs x kernel size) multiply-adds.
  fft         ///< Through the FFT: about N log N for the padded size N, whatever the kernel.
};

/// "full", "same" or "valid"; "mode <number>" for a value outside the enumeration.
inline std::string to_string(Mode mode) {
  switch (mode) {
    case Mode::full:
      return "full";
    case Mode::same:
      return "same";
    case Mode::valid:
      return "valid";
  }
  return "mode " + std::to_string(static_cast<int>(mode));
}

/// "automatic", "direct" or "fft"; "method <number>" for a value outside the enumeration.
inline std::string to_string(Method method) {
  switch (method) {
    case Method::automatic:
      return "automatic";
    case Method::direct:
      return "direct";
    case Method::fft:
      return "fft";
  }
  return "method " + std::to_string(static_cast<int>(method));
}

/// Method::automatic takes the FFT path when
/// @verbatim
///     direct multiply-adds > fft_break_even * N * log2(N),
/// @endverbatim
/// N being the number of points of the padded FFT grid. The constant is the
/// measured time of one N log2 N unit of the FFT path (plans, three transforms,
/// the spectrum product, the copies) over the measured time of one direct
/// multiply-add. Measured with bench/signal.cpp (same mode, Release,
/// -march=native, one thread; Xeon with AVX-512, 2 cores shared; GCC 12;
/// Eigen 3.4 with its default kissfft backend):
/// @verbatim
///               direct, per MAC  FFT, per N log2 N  ratio  crossover seen
///   1D float       46 ps            2.4-2.5 ns        53    k between 512 and 1024 (n = 4096, 16384)
///   1D double      79 ps            3.0-3.2 ns        39    k ~512 (n = 4096, 16384)
///   2D float       51-60 ps         1.25-1.40 ns      24    k x k between 21 and 25 (n x n = 256, 512)
///   2D double      100 ps           1.7 ns            17    k x k between 17 and 21 (n x n = 64 to 512)
/// @endverbatim
/// Re-measure with: `<build>/bench/bench_signal --benchmark_filter=crossover`
/// This constant is the 1D one: 53 for float, 39 for double.
template <class T>
inline constexpr double fft_break_even_1d = std::is_same_v<T, float> ? 53.0 : 39.0;
/// The same constant for 2D signals: 24 for float, 17 for double (table above).
template <class T>
inline constexpr double fft_break_even_2d = std::is_same_v<T, float> ? 24.0 : 17.0;

namespace detail {

template <class X>
struct signal_traits {};
template <class T, std::size_t Rank>
struct signal_traits<Tensor<T, Rank>> {
  using value_type = T;
  static constexpr std::size_t rank = Rank;
};
template <class T, std::size_t Rank>
struct signal_traits<TensorView<T, Rank>> {
  using value_type = std::remove_const_t<T>;
  static constexpr std::size_t rank = Rank;
};

template <class X>
using signal_value_t = typename signal_traits<std::remove_cvref_t<X>>::value_type;
template <class X>
inline constexpr std::size_t signal_rank_v = signal_traits<std::remove_cvref_t<X>>::rank;

// A Tensor or TensorView of rank 1 or 2 holding float or double.
template <class X>
concept Signal = requires {
  typename signal_value_t<X>;
}
&&std::floating_point<signal_value_t<X>> && (signal_rank_v<X> == 1 || signal_rank_v<X> == 2);

// Two signals that can be combined: same element type, same rank.
template <class F, class G>
concept SignalPair = Signal<F> && Signal<G> && std::same_as<signal_value_t<F>, signal_value_t<G>> && signal_rank_v<F>
== signal_rank_v<G>;

template <class X>
auto read_only(const X& x) {
  return TensorView<const signal_value_t<X>, signal_rank_v<X>>(x);
}

// A rank-1 or rank-2 signal seen as a row-major [rows, cols] grid; a 1D
// signal is one row, so one implementation serves both ranks.
template <class T>
struct Grid {
  const T* data;
  Index rows;
  Index cols;
};

template <class T, std::size_t Rank>
Grid<T> as_grid(TensorView<const T, Rank> x) {
  if constexpr (Rank == 1) {
    return {x.data(), 1, x.dim(0)};
  } else {
    return {x.data(), x.dim(0), x.dim(1)};
  }
}

// The part of the full result a mode keeps along one dimension: `length`
// outputs starting at full-result index `start`.
struct Window {
  Index start;
  Index length;
};

inline Window output_window(Index n, Index k, Mode mode) {
  switch (mode) {
    case Mode::full:
      return {0, n + k - 1};
    case Mode::same:
      return {(k - 1) / 2, n};
    case Mode::valid:
      return {k - 1, n - k + 1};
  }
  throw value_error("unknown " + to_string(mode));
}

// Checks the inputs and returns the output shape; `operation` names the caller in messages.
template <std::size_t Rank>
Shape<Rank> checked_output_shape(const std::string& operation, const Shape<Rank>& f, const Shape<Rank>& g, Mode mode) {
  const std::string where = operation + "(" + to_string(mode) + "): ";
  if (mode != Mode::full && mode != Mode::same && mode != Mode::valid) {
    throw value_error(operation + ": unknown " + to_string(mode) + ", expected full, same or valid");
  }
  if (shape_size(f) == 0 || shape_size(g) == 0) {
    throw shape_error(where + "signal f " + fovea::to_string(f) + " and kernel g " + fovea::to_string(g) +
                      " must both be non-empty");
  }
  Shape<Rank> out{};
  for (std::size_t axis = 0; axis < Rank; ++axis) {
    if (mode == Mode::valid && g[axis] > f[axis]) {
      throw shape_error(where + "kernel g " + fovea::to_string(g) + " is larger than signal f " + fovea::to_string(f) +
                        "; valid mode needs g no larger than f in every dimension");
    }
    out[axis] = output_window(f[axis], g[axis], mode).length;
  }
  return out;
}

// Multiply-adds the direct path performs along one dimension: for each
// output, the number of kernel taps that land inside the signal.
inline double direct_taps(Index n, Index k, Window window) {
  const Index offset = window.start - (k - 1);
  double taps = 0;
  for (Index i = 0; i < window.length; ++i) {
    const Index first = std::max<Index>(0, -(i + offset));
    const Index last = std::min<Index>(k, n - (i + offset));
    taps += static_cast<double>(std::max<Index>(0, last - first));
  }
  return taps;
}

// True when n has no prime factor other than 2, 3 and 5. Eigen's kissfft has
// butterflies for 2, 3, 4 and 5 only; any other prime factor p costs O(p^2)
// per stage, so a prime length would make the "fast" path quadratic.
inline bool is_fft_friendly(Index n) {
  for (Index p : {2, 3, 5}) {
    while (n % p == 0) n /= p;
  }
  return n == 1;
}

// Smallest FFT-friendly length >= n that is a multiple of `multiple` (kissfft
// takes its fast real-input path only for lengths divisible by 4).
inline Index fft_length(Index n, Index multiple) {
  Index m = std::max<Index>(n, 1);
  m = (m + multiple - 1) / multiple * multiple;
  while (!is_fft_friendly(m)) m += multiple;
  return m;
}

// Padded length along one dimension: it must hold both inputs, and the
// circular result of that length must hold the kept window without
// wrap-around touching it. Full-result indices m >= length fold onto
// m - length, so every kept index must be < length and every index up to the
// end of the full result (n + k - 1) must fold below the window's start. Valid
// mode therefore needs only n points, not n + k - 1.
inline Index padded_length(Index n, Index k, Window window) {
  return std::max({n, k, window.start + window.length, n + k - 1 - window.start});
}

struct FftGrid {
  Index rows;  // complex transforms down the columns (1: none, a 1D signal)
  Index cols;  // real transforms along the rows
};

inline FftGrid fft_grid(Index f_rows, Index f_cols, Index g_rows, Index g_cols, Window rows, Window cols) {
  return {fft_length(padded_length(f_rows, g_rows, rows), 1), fft_length(padded_length(f_cols, g_cols, cols), 4)};
}

// out [rows.length, cols.length] = the window of the full correlation of f
// with g, summed directly. The output row is accumulated one kernel tap at a
// time (out[j] += g[p, q] * f[r, j + shift], a contiguous, vectorised axpy)
// over column chunks small enough that the chunk of out stays in L1 while
// every tap passes over it.
template <class T>
void correlate_direct(Grid<T> f, Grid<T> g, Window rows, Window cols, T* out) {
  constexpr Index chunk = 1024;
  const Index row_offset = rows.start - (g.rows - 1);
  const Index col_offset = cols.start - (g.cols - 1);
  std::fill_n(out, rows.length * cols.length, T{0});
  for (Index i = 0; i < rows.length; ++i) {
    T* out_row = out + i * cols.length;
    const Index first_kernel_row = std::max<Index>(0, -(i + row_offset));
    const Index end_kernel_row = std::min<Index>(g.rows, f.rows - (i + row_offset));
    for (Index chunk_begin = 0; chunk_begin < cols.length; chunk_begin += chunk) {
      const Index chunk_end = std::min(cols.length, chunk_begin + chunk);
      for (Index p = first_kernel_row; p < end_kernel_row; ++p) {
        const T* f_row = f.data + (i + row_offset + p) * f.cols;
        const T* g_row = g.data + p * g.cols;
        for (Index q = 0; q < g.cols; ++q) {
          const Index shift = col_offset + q;  // f column of output column j is j + shift
          const Index begin = std::max(chunk_begin, -shift);
          const Index end = std::min(chunk_end, f.cols - shift);
          if (begin >= end) continue;
          ArrayMap<T>(out_row + begin, end - begin) += g_row[q] * ArrayMap<const T>(f_row + begin + shift, end - begin);
        }
      }
    }
  }
}

// The same result through the FFT: f and the reversed kernel are zero-padded
// to a grid [P, Q] (see padded_length), transformed (real FFTs along rows,
// keeping Q/2 + 1 bins, then complex FFTs down those columns), multiplied, and
// transformed back; circular convolution with the reversed kernel is
// correlation, and the padding keeps wrap-around out of the kept window.
template <class T>
void correlate_fft(Grid<T> f, Grid<T> g, Window rows, Window cols, T* out) {
  using Complex = std::complex<T>;
  const FftGrid grid = fft_grid(f.rows, f.cols, g.rows, g.cols, rows, cols);
  const Index bins = grid.cols / 2 + 1;
  Eigen::FFT<T> fft;
  fft.SetFlag(Eigen::FFT<T>::HalfSpectrum);

  std::vector<T> padded_row(static_cast<std::size_t>(grid.cols));
  std::vector<Complex> column_in(static_cast<std::size_t>(grid.rows));
  std::vector<Complex> column_out(static_cast<std::size_t>(grid.rows));

  // Column transforms of a [grid.rows, bins] spectrum, in place through a copy
  // (kissfft does not transform in place).
  const auto transform_columns = [&](Complex* bin, bool inverse) {
    if (grid.rows == 1) return;
    for (Index c = 0; c < bins; ++c) {
      for (Index r = 0; r < grid.rows; ++r) column_in[static_cast<std::size_t>(r)] = bin[r * bins + c];
      if (inverse) {
        fft.inv(column_out.data(), column_in.data(), grid.rows);
      } else {
        fft.fwd(column_out.data(), column_in.data(), grid.rows);
      }
      for (Index r = 0; r < grid.rows; ++r) bin[r * bins + c] = column_out[static_cast<std::size_t>(r)];
    }
  };

  // Rows past the signal are zero, and so is their spectrum: only the signal's rows are transformed.
  const auto spectrum_of = [&](Grid<T> x, bool reversed, Complex* spectrum) {
    std::fill_n(spectrum, grid.rows * bins, Complex{0});
    for (Index r = 0; r < x.rows; ++r) {
      std::fill(padded_row.begin(), padded_row.end(), T{0});
      const T* source = x.data + (reversed ? x.rows - 1 - r : r) * x.cols;
      if (reversed) {
        std::reverse_copy(source, source + x.cols, padded_row.begin());
      } else {
        std::copy_n(source, x.cols, padded_row.begin());
      }
      fft.fwd(spectrum + r * bins, padded_row.data(), grid.cols);
    }
    transform_columns(spectrum, false);
  };

  // Aligned spectra: Eigen's vectorised product peels a scalar prefix up to
  // the first aligned element, and the scalar and vector complex products
  // round differently, so a heap address that varied from call to call would
  // change the last bits of the result. Same input, same bits.
  fovea::detail::AlignedBuffer<Complex> product(grid.rows * bins);
  fovea::detail::AlignedBuffer<Complex> kernel_spectrum(grid.rows * bins);
  spectrum_of(f, false, product.data());
  spectrum_of(g, true, kernel_spectrum.data());
  using ComplexArray = Eigen::Array<Complex, Eigen::Dynamic, 1>;
  Eigen::Map<ComplexArray, Eigen::Aligned64>(product.data(), grid.rows * bins) *=
      Eigen::Map<const ComplexArray, Eigen::Aligned64>(kernel_spectrum.data(), grid.rows * bins);
  transform_columns(product.data(), true);

  // Full-result row m sits at grid row m (padded_length keeps it below grid.rows);
  // only the kept rows are transformed back.
  for (Index i = 0; i < rows.length; ++i) {
    fft.inv(padded_row.data(), product.data() + (rows.start + i) * bins, grid.cols);
    std::copy_n(padded_row.data() + cols.start, cols.length, out + i * cols.length);
  }
}

template <class T>
Method resolve_method(Grid<T> f, Grid<T> g, Mode mode, Method method, bool is_2d) {
  if (method != Method::automatic) return method;
  const Window rows = output_window(f.rows, g.rows, mode);
  const Window cols = output_window(f.cols, g.cols, mode);
  const double multiply_adds = direct_taps(f.rows, g.rows, rows) * direct_taps(f.cols, g.cols, cols);
  const FftGrid grid = fft_grid(f.rows, f.cols, g.rows, g.cols, rows, cols);
  const double points = static_cast<double>(grid.rows * grid.cols);
  const double break_even = is_2d ? fft_break_even_2d<T> : fft_break_even_1d<T>;
  return multiply_adds > break_even * points * std::log2(points) ? Method::fft : Method::direct;
}

template <class T, std::size_t Rank>
Tensor<T, Rank> correlate_checked(const std::string& operation, TensorView<const T, Rank> f,
                                  TensorView<const T, Rank> g, Mode mode, Method method) {
  if (method != Method::automatic && method != Method::direct && method != Method::fft) {
    throw value_error(operation + ": unknown " + to_string(method) + ", expected automatic, direct or fft");
  }
  Tensor<T, Rank> out(checked_output_shape(operation, f.shape(), g.shape(), mode));
  const Grid<T> f_grid = as_grid(f);
  const Grid<T> g_grid = as_grid(g);
  const Window rows = output_window(f_grid.rows, g_grid.rows, mode);
  const Window cols = output_window(f_grid.cols, g_grid.cols, mode);
  if (resolve_method(f_grid, g_grid, mode, method, Rank == 2) == Method::fft) {
    correlate_fft(f_grid, g_grid, rows, cols, out.data());
  } else {
    correlate_direct(f_grid, g_grid, rows, cols, out.data());
  }
  return out;
}

}  // namespace detail

/// The shape convolve and correlate return; throws shape_error for an empty
/// input, or for a kernel larger than the signal in valid mode, and
/// value_error for a mode outside the enumeration.
template <std::size_t Rank>
Shape<Rank> output_shape(const Shape<Rank>& f, const Shape<Rank>& g, Mode mode) {
  return detail::checked_output_shape("output_shape", f, g, mode);
}

/// The method Method::automatic picks for these inputs: direct or fft.
/// Throws as output_shape does.
template <class F, class G>
requires detail::SignalPair<F, G> Method automatic_method(const F& f, const G& g, Mode mode = Mode::full) {
  const auto f_view = detail::read_only(f);
  const auto g_view = detail::read_only(g);
  detail::checked_output_shape("automatic_method", f_view.shape(), g_view.shape(), mode);
  return detail::resolve_method(detail::as_grid(f_view), detail::as_grid(g_view), mode, Method::automatic,
                                detail::signal_rank_v<F> == 2);
}

/// x reversed along every dimension: x[n - 1 - i] (1D), x[r - 1 - i, c - 1 - j] (2D).
/// x is a float or double Tensor or TensorView of rank 1 or 2; the result is a new Tensor.
template <class X>
requires detail::Signal<X> Tensor<detail::signal_value_t<X>, detail::signal_rank_v<X>> flip(const X& x) {
  const auto view = detail::read_only(x);
  Tensor<detail::signal_value_t<X>, detail::signal_rank_v<X>> flipped(view.shape());
  // Reversing the row-major storage reverses every dimension at once.
  std::reverse_copy(view.begin(), view.end(), flipped.begin());
  return flipped;
}

/// correlate(f, g)[n] = sum over j of f[n + j] g[j]: the kernel slides without
/// a flip (CNN layers, image filters). f: [n] or [H, W]; g: same rank; the
/// result has output_shape(f, g, mode). f and g are float or double Tensors or
/// TensorViews with the same element type. Throws as output_shape does, and
/// value_error for a method outside the enumeration.
template <class F, class G>
requires detail::SignalPair<F, G> Tensor<detail::signal_value_t<F>, detail::signal_rank_v<F>> correlate(
    const F& f, const G& g, Mode mode = Mode::full, Method method = Method::automatic) {
  return detail::correlate_checked("correlate", detail::read_only(f), detail::read_only(g), mode, method);
}

/// convolve(f, g)[n] = sum over a + b = n of f[a] g[b]: true convolution,
/// correlate with the kernel flipped. f: [n] or [H, W]; g: same rank; the
/// result has output_shape(f, g, mode). Throws as correlate does.
template <class F, class G>
requires detail::SignalPair<F, G> Tensor<detail::signal_value_t<F>, detail::signal_rank_v<F>> convolve(
    const F& f, const G& g, Mode mode = Mode::full, Method method = Method::automatic) {
  const auto g_view = detail::read_only(g);
  // Check before flipping so that an empty kernel is reported as such, with both shapes.
  detail::checked_output_shape("convolve", detail::read_only(f).shape(), g_view.shape(), mode);
  const auto flipped = flip(g_view);
  return detail::correlate_checked("convolve", detail::read_only(f), flipped.view(), mode, method);
}

}  // namespace fovea::signal
