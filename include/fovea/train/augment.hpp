#pragma once

/// @file
/// Data augmentation as part of the data pipeline: Augmented<D> wraps any
/// data set (a BatchSource) and changes each sample of every batch it makes
/// at random, so any trainer gets it by passing the wrapped set to fit():
///   - random crop: the image padded with `crop_padding` zeros on every side,
///     then cut back to its size at a random offset (a shift by up to
///     `crop_padding` pixels each way, zeros coming in);
///   - horizontal flip: mirrored left-right with probability 1/2.
/// Labels are unchanged. The draws come from the options' seed and the number
/// of batches made so far, so the same seed and the same sequence of batches
/// give the same images, run after run.
///
/// @code
/// Augmented train(dataset, {.crop_padding = 2, .horizontal_flip = true, .seed = 7});
/// fit(net, loss, sgd, train, validation, options);
/// @endcode

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "fovea/core/error.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/tensor_view.hpp"
#include "fovea/train/data.hpp"

namespace fovea {

/// What Augmented does to each sample.
struct AugmentOptions {
  Index crop_padding = 0;        ///< Zeros added on each side before a random crop back to size; 0: no crop.
  bool horizontal_flip = false;  ///< Mirror left-right with probability 1/2.
  std::uint64_t seed = 0;        ///< Seeds the draws, with the batch count.
};

/// Shifts one image [C, H, W] in place by (dy, dx), zeros coming in: out(h, w)
/// = in(h + dy, w + dx) where that lies inside, else 0. Then, if `flip`,
/// mirrors it left-right.
template <class T>
void shift_and_flip(TensorView<T, 3> image, Index dy, Index dx, bool flip) {
  const Index height = image.dim(1), width = image.dim(2);
  for (Index c = 0; c < image.dim(0); ++c) {
    T* plane = image.data() + c * height * width;
    // Rows and columns are visited in the order that reads each source before
    // it is overwritten (ascending when reading ahead, descending when behind).
    for (Index step = 0; step < height; ++step) {
      const Index h = dy >= 0 ? step : height - 1 - step;
      T* row = plane + h * width;
      const Index from_h = h + dy;
      if (from_h < 0 || from_h >= height) {
        std::fill_n(row, width, T{0});
        continue;
      }
      const T* source = plane + from_h * width;
      for (Index across = 0; across < width; ++across) {
        const Index w = dx >= 0 ? across : width - 1 - across;
        const Index from_w = w + dx;
        row[w] = from_w >= 0 && from_w < width ? source[from_w] : T{0};
      }
    }
    if (flip) {
      for (Index h = 0; h < height; ++h) std::reverse(plane + h * width, plane + (h + 1) * width);
    }
  }
}

/// A data set whose batches are those of `D`, augmented (see this file's
/// overview). Holds a pointer to the data: keep it alive while this is used.
template <class D>
class Augmented {
 public:
  /// Wraps `data`; throws value_error for a negative padding or one not
  /// smaller than the images' height and width.
  Augmented(const D& data, const AugmentOptions& options) : data_(&data), options_(options) {
    const SampleShape shape = data.sample_shape();
    if (options.crop_padding < 0 || options.crop_padding >= std::min(shape[1], shape[2])) {
      throw value_error("Augmented: crop padding " + std::to_string(options.crop_padding) +
                        " must be at least 0 and less than the image's height and width " + to_string(shape));
    }
  }

  Index size() const { return data_->size(); }                        ///< As the wrapped data's.
  SampleShape sample_shape() const { return data_->sample_shape(); }  ///< As the wrapped data's.

  /// The wrapped data's batch, each sample shifted and flipped at random;
  /// throws what the wrapped make_batch throws.
  template <class T>
  void make_batch(std::span<const Index> indices, TensorView<T, 4> x, std::span<std::int32_t> labels) const {
    data_->make_batch(indices, x, labels);
    Rng rng(options_.seed ^ (0xD1B54A32D192ED03ULL * ++batches_));
    const Index pad = options_.crop_padding;
    for (Index i = 0; i < x.dim(0); ++i) {
      const Index dy = pad > 0 ? rng.uniform_index(2 * pad + 1) - pad : 0;
      const Index dx = pad > 0 ? rng.uniform_index(2 * pad + 1) - pad : 0;
      const bool flip = options_.horizontal_flip && rng.uniform_index(2) == 1;
      if (dy != 0 || dx != 0 || flip) shift_and_flip(x.item(i), dy, dx, flip);
    }
  }

 private:
  const D* data_;
  AugmentOptions options_;
  mutable std::uint64_t batches_ = 0;  // batches made so far: the draws of the next one
};

}  // namespace fovea
