#pragma once

// Shared by the layer tests: one layer run in several execution contexts at
// once must give each context what it would get alone (layers/layer.hpp).

#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <tuple>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea::test {

// How check_interleaved_contexts sets up its contexts.
struct ContextCheckOptions {
  bool training = true;        // LayerContext::training
  bool relu_epilogue = false;  // LayerContext::relu_epilogue (for layers that support it)
  std::uint64_t seed = 77;     // for the output gradients
};

// One execution: a context the layer made, its own parameter gradients
// (zeroed, one per params() entry), and the buffers of one forward and backward.
template <class T>
struct ContextRun {
  std::unique_ptr<LayerContext<T>> context;
  std::vector<Tensor<T, 1>> gradients;
  Tensor<T, 4> y, dx;

  ContextRun(Layer<T>& layer, const Tensor<T, 4>& x, Index batch_offset, const ContextCheckOptions& options)
      : context(layer.make_context()),
        y(batch_shape(x.dim(0), layer.output_shape(sample_shape(x.shape())))),
        dx(x.shape()) {
    context->training = options.training;
    context->relu_epilogue = options.relu_epilogue;
    context->batch_offset = batch_offset;
    for (const auto& p : layer.params()) gradients.emplace_back(p.grad.shape());  // zeros
    for (auto& g : gradients) context->gradients.push_back(g.view());
  }
  void forward(const Layer<T>& layer, const Tensor<T, 4>& x) { layer.forward(x, y, *context); }
  void backward(const Layer<T>& layer, const Tensor<T, 4>& x, const Tensor<T, 4>& dy) {
    layer.backward(x, y, dy, dx, *context);
  }
};

template <class T, std::size_t Rank>
bool same_bits(const Tensor<T, Rank>& a, const Tensor<T, Rank>& b) {
  return a.shape() == b.shape() && (a.array() == b.array()).all();
}

// Two contexts made by make_context() on one layer, run interleaved (forward
// A, forward B, backward A, backward B), each give the output, input gradient
// and parameter gradients, bit for bit, that a lone forward and backward in a
// fresh context give. A and B are two lanes of one batch: A's samples come
// first (batch_offset 0), B's after them; a training check starts that batch
// once (start_batch()) before any forward.
template <class T>
void check_interleaved_contexts(Layer<T>& layer, const Tensor<T, 4>& xa, const Tensor<T, 4>& xb,
                                const ContextCheckOptions& options = {}) {
  INFO(layer.describe() << ", inputs " << to_string(xa.shape()) << " and " << to_string(xb.shape()) << ", training "
                        << options.training << ", ReLU epilogue " << options.relu_epilogue);
  if (options.training) layer.start_batch(xa.dim(0) + xb.dim(0));
  Rng rng(options.seed);
  const Shape<4> ya_shape = batch_shape(xa.dim(0), layer.output_shape(sample_shape(xa.shape())));
  const Shape<4> yb_shape = batch_shape(xb.dim(0), layer.output_shape(sample_shape(xb.shape())));
  const auto dya = Tensor<T, 4>::uniform(ya_shape, rng, T{-1}, T{1});
  const auto dyb = Tensor<T, 4>::uniform(yb_shape, rng, T{-1}, T{1});

  // Alone: each lane's forward and backward in a context of its own.
  ContextRun<T> alone_a(layer, xa, 0, options), alone_b(layer, xb, xa.dim(0), options);
  alone_a.forward(layer, xa);
  alone_a.backward(layer, xa, dya);
  alone_b.forward(layer, xb);
  alone_b.backward(layer, xb, dyb);

  // Interleaved: B's forward runs between A's forward and A's backward.
  ContextRun<T> a(layer, xa, 0, options), b(layer, xb, xa.dim(0), options);
  a.forward(layer, xa);
  b.forward(layer, xb);
  a.backward(layer, xa, dya);
  b.backward(layer, xb, dyb);

  for (auto [run, alone, name] : {std::tuple{&a, &alone_a, "A"}, std::tuple{&b, &alone_b, "B"}}) {
    INFO("context " << name);
    CHECK(same_bits(run->y, alone->y));
    CHECK(same_bits(run->dx, alone->dx));
    REQUIRE(run->gradients.size() == alone->gradients.size());
    for (std::size_t i = 0; i < run->gradients.size(); ++i) {
      INFO("gradient " << i);
      CHECK(same_bits(run->gradients[i], alone->gradients[i]));
    }
  }
}

}  // namespace fovea::test
