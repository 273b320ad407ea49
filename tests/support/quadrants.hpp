#pragma once

// A synthetic but non-trivial classification task, generated from a seed:
// a bright Gaussian blob of random size, brightness and position on a noisy
// background; the label is the quadrant (0..3) the blob's centre lies in.

#include <cmath>
#include <cstdint>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/train/data.hpp"

namespace fovea::test {

template <class T>
TensorDataset<T> quadrant_blobs(Index count, std::uint64_t seed, Index side = 16) {
  Rng rng(seed);
  Tensor<T, 4> images({count, 1, side, side});
  std::vector<std::int32_t> labels(static_cast<std::size_t>(count));
  const double half = static_cast<double>(side) / 2;
  for (Index n = 0; n < count; ++n) {
    const auto quadrant = static_cast<std::int32_t>(rng.uniform_index(4));
    // Keep the centre at least one pixel off the dividing lines.
    const double cy = (quadrant / 2) * half + rng.uniform(1, half - 1);
    const double cx = (quadrant % 2) * half + rng.uniform(1, half - 1);
    const double radius = rng.uniform(1.0, 2.5);
    const double brightness = rng.uniform(0.6, 1.0);
    for (Index y = 0; y < side; ++y) {
      for (Index x = 0; x < side; ++x) {
        const double d2 = (y + 0.5 - cy) * (y + 0.5 - cy) + (x + 0.5 - cx) * (x + 0.5 - cx);
        images(n, 0, y, x) = static_cast<T>(brightness * std::exp(-d2 / (2 * radius * radius)) + rng.uniform(0, 0.3));
      }
    }
    labels[static_cast<std::size_t>(n)] = quadrant;
  }
  return TensorDataset<T>(std::move(images), std::move(labels));
}

}  // namespace fovea::test
