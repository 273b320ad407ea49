#pragma once

/// @file
/// Classic image-processing kernels as [KH, KW] tensors, written the way they
/// are applied with correlate (no flip), which is also how a Conv2d weight
/// reads them: copy one into weight[cout, cin] and the layer computes this
/// filter. With convolve, flip the asymmetric ones first (Sobel, emboss, the
/// two-pixel difference); the symmetric ones are the same either way.
///
/// Blurs sum to 1 (flat regions keep their brightness); sharpen, emboss and
/// identity sum to 1 too; edge detectors sum to 0 (a flat region gives 0).

#include <cmath>
#include <concepts>
#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/shape.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/number_format.hpp"

namespace fovea::signal {

namespace detail {
inline void require_odd_size(const char* operation, Index size) {
  if (size < 1 || size % 2 == 0) {
    throw value_error(std::string(operation) + ": size must be odd and positive (so the kernel has a centre), got " +
                      std::to_string(size));
  }
}
}  // namespace detail

/// size x size, every weight 1 / size^2: the mean of the neighbourhood.
/// Throws value_error unless size is odd and positive.
template <std::floating_point T = float>
Tensor<T, 2> box_blur(Index size = 3) {
  detail::require_odd_size("box_blur", size);
  return Tensor<T, 2>::full({size, size}, static_cast<T>(1.0 / static_cast<double>(size * size)));
}

/// size x size samples of exp(-(x^2 + y^2) / (2 sigma^2)) around the centre,
/// normalised to sum to 1. A size of about 6 sigma keeps nearly all the mass.
/// Throws value_error unless size is odd and positive and sigma positive and finite.
template <std::floating_point T = float>
Tensor<T, 2> gaussian_blur(Index size = 5, double sigma = 1.0) {
  detail::require_odd_size("gaussian_blur", size);
  if (!(sigma > 0) || !std::isfinite(sigma)) {
    throw value_error("gaussian_blur: sigma must be positive and finite, got " + fovea::detail::format_number(sigma));
  }
  const Index centre = size / 2;
  std::vector<double> weights(static_cast<std::size_t>(size * size));
  double total = 0;
  for (Index y = 0; y < size; ++y) {
    for (Index x = 0; x < size; ++x) {
      const double dy = static_cast<double>(y - centre);
      const double dx = static_cast<double>(x - centre);
      const double w = std::exp(-(dx * dx + dy * dy) / (2 * sigma * sigma));
      weights[static_cast<std::size_t>(y * size + x)] = w;
      total += w;
    }
  }
  Tensor<T, 2> kernel({size, size});
  for (Index i = 0; i < kernel.size(); ++i)
    kernel.data()[i] = static_cast<T>(weights[static_cast<std::size_t>(i)] / total);
  return kernel;
}

/// The centre minus the Laplacian: boosts each pixel against its 4 neighbours.
template <std::floating_point T = float>
Tensor<T, 2> sharpen() {
  return Tensor<T, 2>({3, 3}, {0, -1, 0, -1, 5, -1, 0, -1, 0});
}

/// [-1, 1] along a row: out[y, x] = f[y, x + 1] - f[y, x], the forward
/// difference, positive where brightness rises to the right.
template <std::floating_point T = float>
Tensor<T, 2> difference_x() {
  return Tensor<T, 2>({1, 2}, {-1, 1});
}

/// [-1, 1] down a column: positive where brightness rises downwards.
template <std::floating_point T = float>
Tensor<T, 2> difference_y() {
  return Tensor<T, 2>({2, 1}, {-1, 1});
}

/// Sobel: a central difference along x smoothed by [1, 2, 1] along y;
/// positive where brightness rises to the right.
template <std::floating_point T = float>
Tensor<T, 2> sobel_x() {
  return Tensor<T, 2>({3, 3}, {-1, 0, 1, -2, 0, 2, -1, 0, 1});
}

/// Sobel along y: positive where brightness rises downwards.
template <std::floating_point T = float>
Tensor<T, 2> sobel_y() {
  return Tensor<T, 2>({3, 3}, {-1, -2, -1, 0, 0, 0, 1, 2, 1});
}

/// The 4-neighbour discrete Laplacian: the sum of second differences in x and y.
template <std::floating_point T = float>
Tensor<T, 2> laplacian() {
  return Tensor<T, 2>({3, 3}, {0, 1, 0, 1, -4, 1, 0, 1, 0});
}

/// Emboss: a difference along the diagonal plus the pixel itself, so edges
/// look raised (lit from the top left) on the original grey level.
template <std::floating_point T = float>
Tensor<T, 2> emboss() {
  return Tensor<T, 2>({3, 3}, {-2, -1, 0, -1, 1, 1, 0, 1, 2});
}

/// size x size with a 1 in the centre: leaves the image as it is.
/// Throws value_error unless size is odd and positive.
template <std::floating_point T = float>
Tensor<T, 2> identity(Index size = 3) {
  detail::require_odd_size("identity", size);
  Tensor<T, 2> kernel({size, size});
  kernel(size / 2, size / 2) = 1;
  return kernel;
}

/// A kernel and the short name it goes by in classic_kernels().
template <std::floating_point T>
struct NamedKernel {
  std::string name;     ///< The function that made it: "sobel_x", "gaussian_blur", ...
  Tensor<T, 2> kernel;  ///< [KH, KW], to be applied with correlate.
};

/// Every kernel above under a short name, in a fixed order: a filter bank for
/// demonstrations (examples/image_filters.cpp).
template <std::floating_point T = float>
std::vector<NamedKernel<T>> classic_kernels() {
  std::vector<NamedKernel<T>> bank;
  bank.push_back({"identity", identity<T>()});
  bank.push_back({"box_blur", box_blur<T>()});
  bank.push_back({"gaussian_blur", gaussian_blur<T>(7, 1.5)});
  bank.push_back({"sharpen", sharpen<T>()});
  bank.push_back({"difference_x", difference_x<T>()});
  bank.push_back({"difference_y", difference_y<T>()});
  bank.push_back({"sobel_x", sobel_x<T>()});
  bank.push_back({"sobel_y", sobel_y<T>()});
  bank.push_back({"laplacian", laplacian<T>()});
  bank.push_back({"emboss", emboss<T>()});
  return bank;
}

}  // namespace fovea::signal
