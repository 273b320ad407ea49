#pragma once

/// @file
/// Combining several tensors into one, forward and backward side by side:
/// the element-wise sum of a residual connection and the channel
/// concatenation of Inception and DenseNet blocks.
///   add:    x[i]: [N, C, H, W]   -> y: [N, C, H, W],        y = sum_i x[i]
///   concat: x[i]: [N, C_i, H, W] -> y: [N, sum_i C_i, H, W]

#include <algorithm>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "fovea/core/eigen.hpp"
#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor_view.hpp"
#include "fovea/ops/clamp.hpp"

namespace fovea {

/// Fills `shapes` with each input's per-sample shape [C, H, W] (reusing its
/// capacity); throws shape_error naming `layer` when the inputs' batch sizes
/// differ.
template <class T>
void merged_sample_shapes(const char* layer, std::span<const TensorView<const T, 4>> x, std::vector<Shape<3>>& shapes) {
  shapes.clear();
  for (const auto& in : x) {
    if (in.dim(0) != x[0].dim(0)) {
      throw shape_error(std::string(layer) + "::forward: inputs " + to_string(x[0].shape()) + " and " +
                        to_string(in.shape()) + " have different batch sizes");
    }
    shapes.push_back({in.dim(1), in.dim(2), in.dim(3)});
  }
}

/// y = x[0] + x[1] + ... (same shapes; the caller checks them), clamped by
/// `epilogue` when there is one (a residual block's ReLU after its sum). Each
/// element's sum is taken in input order, so the bits do not depend on the
/// threads; split by elements, so that one image uses them all.
template <class T>
void add_forward(std::span<const TensorView<const T, 4>> x, TensorView<T, 4> y,
                 std::optional<Clamp> epilogue = std::nullopt) {
  const auto clamp = detail::OutputClamp<T>::of(epilogue);
  detail::for_each_element_chunk(y.size(), [&, clamp](Index first, Index last) {
    // Pieces of 8 KB: the partial sum stays in L1 for the next input and the clamp.
    constexpr Index piece = 8192 / sizeof(T);
    for (Index begin = first; begin < last; begin += piece) {
      const Index count = std::min(piece, last - begin);
      T* out = y.data() + begin;
      const T* x0 = x[0].data() + begin;
      if (x.size() == 1) {
        std::copy_n(x0, count, out);
      } else {
        const T* x1 = x[1].data() + begin;
        for (Index k = 0; k < count; ++k) out[k] = x0[k] + x1[k];
      }
      for (std::size_t i = 2; i < x.size(); ++i) {
        const T* in = x[i].data() + begin;
        for (Index k = 0; k < count; ++k) out[k] += in[k];
      }
      if (clamp.active()) {
        ArrayMap<T> sum(out, count);
        clamp.write(sum, sum);
      }
    }
  });
}

/// dx[i] = dy for every input: the sum passes its gradient to each term;
/// with an epilogue, only where y (after the clamp) lies inside its bounds.
/// Empty dx[i] are skipped.
template <class T>
void add_backward(TensorView<const T, 4> dy, std::span<const TensorView<T, 4>> dx,
                  TensorView<const T, 4> clamped_output = {}, const Clamp& epilogue = Clamp::relu()) {
  const TensorView<T, 4>* first = nullptr;
  for (const auto& d : dx) {
    if (d.empty()) continue;
    if (first != nullptr) {
      std::copy(first->begin(), first->end(), d.begin());
    } else if (clamped_output.empty()) {
      std::copy(dy.begin(), dy.end(), d.begin());
    } else {
      detail::clamp_mask(VectorMap<T>(d.data(), d.size()), VectorMap<const T>(clamped_output.data(), dy.size()),
                         VectorMap<const T>(dy.data(), dy.size()), epilogue);
    }
    if (first == nullptr) first = &d;
  }
}

/// y[n] = [x[0][n]; x[1][n]; ...] along the channels: each input's maps are
/// one contiguous block of every output sample.
template <class T>
void concat_forward(std::span<const TensorView<const T, 4>> x, TensorView<T, 4> y) {
  const Index out_sample = y.size() / std::max<Index>(y.dim(0), 1);
  for (Index n = 0; n < y.dim(0); ++n) {
    T* out = y.data() + n * out_sample;
    for (const auto& in : x) {
      const Index in_sample = in.size() / in.dim(0);
      out = std::copy_n(in.data() + n * in_sample, in_sample, out);
    }
  }
}

/// dx[i][n] = the block of dy[n] that input x[i] filled (x gives the block
/// sizes); empty dx[i] are skipped.
template <class T>
void concat_backward(std::span<const TensorView<const T, 4>> x, TensorView<const T, 4> dy,
                     std::span<const TensorView<T, 4>> dx) {
  const Index out_sample = dy.size() / std::max<Index>(dy.dim(0), 1);
  for (Index n = 0; n < dy.dim(0); ++n) {
    const T* in = dy.data() + n * out_sample;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const Index block = x[i].size() / x[i].dim(0);
      if (!dx[i].empty()) std::copy_n(in, block, dx[i].data() + n * block);
      in += block;
    }
  }
}

}  // namespace fovea
