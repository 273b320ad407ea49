#pragma once

// The small CNN the engine tests train: conv -> ReLU -> pool -> linear; with
// `second_conv`, a 4 -> 8 channel convolution + ReLU before the pool (the
// convolution's few-input-channel "vector" path).

#include "fovea/layers/activation.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/nn/init.hpp"
#include "fovea/nn/sequential.hpp"

namespace fovea::test {

template <class T>
Sequential<T> small_cnn(std::uint64_t seed, Index side = 16, bool dropout = false, bool second_conv = false) {
  Sequential<T> net({1, side, side});
  net.template emplace<Conv2d<T>>(
      Conv2dOptions{.in_channels = 1, .out_channels = 4, .kernel = 3, .padding = Padding::same});
  net.template emplace<ReLU<T>>();
  const Index channels = second_conv ? 8 : 4;
  if (second_conv) {
    net.template emplace<Conv2d<T>>(
        Conv2dOptions{.in_channels = 4, .out_channels = channels, .kernel = 3, .padding = Padding::same});
    net.template emplace<ReLU<T>>();
  }
  net.template emplace<Pool2d<T>>(Pool2dOptions{.kind = PoolKind::max, .window = {2, 2}, .stride = {2, 2}});
  net.template emplace<Flatten<T>>();
  if (dropout) net.template emplace<Dropout<T>>(0.2, seed + 1);
  net.template emplace<Linear<T>>(channels * (side / 2) * (side / 2), 4);
  Rng rng(seed);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  return net;
}

}  // namespace fovea::test
