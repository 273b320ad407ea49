#pragma once

// Shared by the layer tests: executions of one layer in contexts of their own
// must not see each other, whatever order their calls come in. Threads that
// share a layer (training lanes, a server's requests) interleave exactly so
// (layers/layer.hpp).

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "fovea/core/random.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea::test {

// How check_interleaved_contexts sets up its contexts.
struct ContextCheckOptions {
  bool training = true;        // LayerContext::training
  bool relu_epilogue = false;  // LayerContext::epilogue a ReLU (for layers that support it)
  std::uint64_t seed = 77;     // for the output gradients
};

// One execution of `layer` in a context of its own: its inputs (one per input
// of a merging layer), dy, and what forward and backward write (y, dx, and the
// parameters' gradients, into zeroed tensors of its own).
template <class T>
class Execution {
 public:
  Execution(Layer<T>& layer, std::vector<Tensor<T, 4>> x, Tensor<T, 4> dy, const ContextCheckOptions& options = {},
            Index batch_offset = 0)
      : layer_(layer), x_(std::move(x)), dy_(std::move(dy)), context_(layer.make_context()), options_(options) {
    context_->training = options.training;
    if (options.relu_epilogue) context_->epilogue = Clamp::relu();
    context_->batch_offset = batch_offset;
    for (const auto& p : layer.params()) gradients_.emplace_back(Shape<1>{p.value.size()});
    for (auto& g : gradients_) context_->gradients.push_back(g.view());
    std::vector<SampleShape> samples;
    for (const auto& in : x_) {
      x_views_.push_back(in.view());
      dx_.emplace_back(in.shape());
      samples.push_back(sample_shape(in.shape()));
    }
    for (auto& d : dx_) dx_views_.push_back(d.view());
    y_ = Tensor<T, 4>(batch_shape(
        x_[0].dim(0), layer.merges_inputs() ? layer.merged_output_shape(samples) : layer.output_shape(samples[0])));
  }

  void forward() {
    const Layer<T>& layer = layer_;
    if (layer.merges_inputs()) {
      layer.forward_merged(x_views_, y_, *context_);
    } else {
      layer.forward(x_views_[0], y_, *context_);
    }
  }
  void backward() {
    const Layer<T>& layer = layer_;
    if (layer.merges_inputs()) {
      layer.backward_merged(x_views_, y_, dy_, dx_views_, *context_);
    } else {
      layer.backward(x_views_[0], y_, dy_, dx_views_[0], *context_);
    }
  }
  // Forward and backward through the standalone members instead (the layer's
  // own context, its gradients zeroed first), the gradients copied here.
  void standalone() {
    const auto params = layer_.params();
    zero_gradients(params);
    if (layer_.merges_inputs()) {
      layer_.forward_merged(x_views_, y_, options_.training);
      layer_.backward_merged(x_views_, y_, dy_, dx_views_);
    } else {
      layer_.forward(x_views_[0], y_, options_.training);
      layer_.backward(x_views_[0], y_, dy_, dx_views_[0]);
    }
    for (std::size_t i = 0; i < params.size(); ++i) gradients_[i].view().copy_from(params[i].grad);
  }

  const Tensor<T, 4>& y() const { return y_; }
  const std::vector<Tensor<T, 4>>& dx() const { return dx_; }
  const std::vector<Tensor<T, 1>>& gradients() const { return gradients_; }

 private:
  Layer<T>& layer_;
  std::vector<Tensor<T, 4>> x_;
  Tensor<T, 4> dy_;
  std::unique_ptr<LayerContext<T>> context_;
  std::vector<Tensor<T, 1>> gradients_;
  std::vector<TensorView<const T, 4>> x_views_;
  std::vector<Tensor<T, 4>> dx_;
  std::vector<TensorView<T, 4>> dx_views_;
  Tensor<T, 4> y_;
  ContextCheckOptions options_;
};

// Same shape, same bits.
template <class T, std::size_t Rank>
bool identical(const Tensor<T, Rank>& a, const Tensor<T, Rank>& b) {
  return a.shape() == b.shape() && std::equal(a.begin(), a.end(), b.begin());
}

// Two contexts of one layer, run interleaved (forward A, forward B, backward
// A, backward B) on different inputs through the const members, give each
// what a lone forward and backward give: the same y, dx and parameter
// gradients, bit for bit. A and B are two lanes of one batch: A's samples
// come first (batch_offset 0), B's after them, and a training check starts
// that batch once (start_batch()) before any forward. A lone execution in
// turn gives what the standalone members give, whose gradients land in the
// layer's own: so a layer that writes its gradients anywhere but the
// context's fails (not checked with the ReLU epilogue, which the standalone
// members do not ask for, nor for a layer drawing random numbers, whose
// standalone forward starts a batch of its own). Give the two executions
// different batch sizes, so that shapes or scratch left in the layer,
// instead of in the context, show. Leaves the layer's own gradients holding
// one backward's worth.
template <class T>
void check_interleaved_contexts(Layer<T>& layer, const std::vector<Tensor<T, 4>>& x_a,
                                const std::vector<Tensor<T, 4>>& x_b, const ContextCheckOptions& options = {}) {
  INFO(layer.describe() << ", training " << options.training << ", ReLU epilogue " << options.relu_epilogue);
  Rng rng(options.seed);
  auto make_dy = [&](const std::vector<Tensor<T, 4>>& x) {
    return Tensor<T, 4>::uniform(Execution<T>(layer, x, {}).y().shape(), rng, T{-1}, T{1});
  };
  const Tensor<T, 4> dy_a = make_dy(x_a), dy_b = make_dy(x_b);
  const Index offset_b = x_a[0].dim(0);
  if (options.training) layer.start_batch(offset_b + x_b[0].dim(0));

  Execution<T> lone_a(layer, x_a, dy_a, options), lone_b(layer, x_b, dy_b, options, offset_b);
  lone_a.forward();
  lone_a.backward();
  lone_b.forward();
  lone_b.backward();

  Execution<T> a(layer, x_a, dy_a, options), b(layer, x_b, dy_b, options, offset_b);
  a.forward();
  b.forward();
  a.backward();
  b.backward();

  std::vector<std::tuple<const Execution<T>*, const Execution<T>*, const char*>> pairs = {{&a, &lone_a, "A"},
                                                                                          {&b, &lone_b, "B"}};
  Execution<T> standalone(layer, x_a, dy_a, options);
  if (!options.relu_epilogue && layer.rng() == nullptr) {
    standalone.standalone();
    pairs.emplace_back(&standalone, &lone_a, "standalone");
  }
  for (const auto& [run, lone, name] : pairs) {
    INFO("execution " << name);
    CHECK(identical(run->y(), lone->y()));
    for (std::size_t i = 0; i < run->dx().size(); ++i) CHECK(identical(run->dx()[i], lone->dx()[i]));
    REQUIRE(run->gradients().size() == lone->gradients().size());
    for (std::size_t i = 0; i < run->gradients().size(); ++i) {
      CHECK(identical(run->gradients()[i], lone->gradients()[i]));
    }
  }
}

// The same for a layer of one input.
template <class T>
void check_interleaved_contexts(Layer<T>& layer, const Tensor<T, 4>& x_a, const Tensor<T, 4>& x_b,
                                const ContextCheckOptions& options = {}) {
  check_interleaved_contexts(layer, std::vector<Tensor<T, 4>>{x_a}, std::vector<Tensor<T, 4>>{x_b}, options);
}
// With the output gradients drawn from `rng`.
template <class T>
void check_interleaved_contexts(Layer<T>& layer, const std::vector<Tensor<T, 4>>& x_a,
                                const std::vector<Tensor<T, 4>>& x_b, Rng& rng) {
  check_interleaved_contexts(layer, x_a, x_b, ContextCheckOptions{.seed = rng()});
}
// With the output gradients drawn from `rng`, for a layer of one input.
template <class T>
void check_interleaved_contexts(Layer<T>& layer, const Tensor<T, 4>& x_a, const Tensor<T, 4>& x_b, Rng& rng) {
  check_interleaved_contexts(layer, x_a, x_b, ContextCheckOptions{.seed = rng()});
}

}  // namespace fovea::test
