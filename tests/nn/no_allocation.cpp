// After the first step, a training step (forward, loss, backward, optimizer
// update) performs no heap allocation: every buffer is planned once. This
// binary replaces the global operator new to count allocations.
#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <new>

#include "fovea/layers/batch_norm.hpp"
#include "fovea/layers/local_response_norm.hpp"
#include "fovea/layers/prelu.hpp"
#include "fovea/optim/adam.hpp"
#include "fovea/optim/sgd.hpp"
#include "fovea/train/loss.hpp"
#include "support/quadrants.hpp"
#include "support/small_cnn.hpp"

// The replacements below pair malloc with free; GCC cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<long> allocations{0};
}

void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align) {
  ++allocations;
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (Catch2 uses it), so every allocation meets our free().
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace fovea;

TEMPLATE_TEST_CASE("a steady-state training step allocates nothing", "[nn][memory]", float, double) {
  const bool second_conv = GENERATE(false, true);  // true: a Conv2d on the few-input-channel path too
  INFO("second convolution: " << second_conv);
  auto net = test::small_cnn<TestType>(1, 16, /*dropout=*/true, second_conv);
  const auto data = test::quadrant_blobs<TestType>(64, 2);
  SoftmaxCrossEntropy<TestType> loss;
  Adam<TestType> adam(net.params(), {.learning_rate = 0.01});
  Tensor<TestType, 4> x({32, 1, 16, 16});
  Tensor<TestType, 4> dy({32, 4, 1, 1});
  std::vector<std::int32_t> labels(32);
  std::vector<Index> indices(32);

  auto step = [&](Index offset) {
    for (Index i = 0; i < 32; ++i) indices[static_cast<std::size_t>(i)] = offset + i;
    data.make_batch(indices, x, labels);
    auto out = net.forward(x).reshape(Shape<2>{32, 4});
    loss.forward_backward(out, Targets<TestType>(std::span<const std::int32_t>(labels)), dy.reshape(Shape<2>{32, 4}));
    adam.zero_grad();
    net.backward(dy);
    adam.step();
  };
  step(0);  // plans every buffer
  const long before = allocations.load();
  for (int i = 0; i < 5; ++i) step((i % 2) * 32);
  CHECK(allocations.load() - before == 0);
}

TEMPLATE_TEST_CASE("a steady-state training step through the normalisation layers allocates nothing", "[nn][memory]",
                   float, double) {
  using T = TestType;
  // conv -> BatchNorm -> PReLU -> LocalResponseNorm -> ReLU6 -> ceil-mode average pool -> linear.
  Sequential<T> net({1, 16, 16});
  net.template emplace<Conv2d<T>>(Conv2dOptions{.in_channels = 1, .out_channels = 4, .kernel = 3});
  net.template emplace<BatchNorm<T>>(BatchNormOptions{.channels = 4});
  net.template emplace<PReLU<T>>(4);
  net.template emplace<LocalResponseNorm<T>>(LocalResponseNormOptions{.size = 3});
  net.template emplace<ReLU6<T>>();
  net.template emplace<Pool2d<T>>(
      Pool2dOptions{.kind = PoolKind::average, .window = 3, .stride = 2, .padding = {0, 1, 0, 1}, .ceil_mode = true});
  net.template emplace<Flatten<T>>();
  net.template emplace<Linear<T>>(4 * 7 * 7, 4);
  Rng rng(3);
  initialize_all(net.layer(0).params(), {.scheme = InitScheme::he_normal}, rng);
  initialize_all(net.layer(7).params(), {.scheme = InitScheme::he_normal}, rng);
  const auto data = test::quadrant_blobs<T>(64, 2);
  SoftmaxCrossEntropy<T> loss;
  Sgd<T> sgd(net.params(), {.learning_rate = 0.01, .momentum = 0.9});
  Tensor<T, 4> x({32, 1, 16, 16});
  Tensor<T, 4> dy({32, 4, 1, 1});
  std::vector<std::int32_t> labels(32);
  std::vector<Index> indices(32);

  auto step = [&](Index offset) {
    for (Index i = 0; i < 32; ++i) indices[static_cast<std::size_t>(i)] = offset + i;
    data.make_batch(indices, x, labels);
    auto out = net.forward(x).reshape(Shape<2>{32, 4});
    loss.forward_backward(out, Targets<T>(std::span<const std::int32_t>(labels)), dy.reshape(Shape<2>{32, 4}));
    sgd.zero_grad();
    net.backward(dy);
    sgd.step();
  };
  step(0);  // plans every buffer
  const long before = allocations.load();
  for (int i = 0; i < 5; ++i) step((i % 2) * 32);
  CHECK(allocations.load() - before == 0);
}

TEMPLATE_TEST_CASE("batch-1 inference on two threads allocates nothing, through every convolution algorithm",
                   "[nn][memory][threads]", float, double) {
  using T = TestType;
  const int saved = max_threads();
  set_threads(2);  // one image: each convolution shares its sample among the threads
  Sequential<T> net({1, 32, 32});
  net.template emplace<Conv2d<T>>(Conv2dOptions{.in_channels = 1, .out_channels = 8, .kernel = 3, .padding = 1});
  net.template emplace<Conv2d<T>>(Conv2dOptions{.in_channels = 8, .out_channels = 16, .kernel = 3, .padding = 1});
  net.template emplace<ReLU<T>>();
  net.template emplace<Conv2d<T>>(
      Conv2dOptions{.in_channels = 16, .out_channels = 16, .kernel = 3, .padding = 1, .groups = 16});
  net.template emplace<Conv2d<T>>(Conv2dOptions{.in_channels = 16, .out_channels = 32, .kernel = 1});
  net.template emplace<Conv2d<T>>(
      Conv2dOptions{.in_channels = 32, .out_channels = 70, .kernel = 3, .stride = 2, .padding = 1});
  net.template emplace<Conv2d<T>>(Conv2dOptions{.in_channels = 70, .out_channels = 80, .kernel = 3, .padding = 1});
  net.template emplace<Flatten<T>>();
  net.template emplace<Linear<T>>(80 * 16 * 16, 600);
  Rng rng(5);
  const auto x = Tensor<T, 4>::normal({1, 1, 32, 32}, rng, 0.0, 1.0);
  const Tensor<T, 4> first(net.infer(x));  // plans every buffer
  const long before = allocations.load();
  for (int i = 0; i < 5; ++i) net.infer(x);
  CHECK(allocations.load() - before == 0);
  CHECK(net.infer(x).flatten().vector() == first.flatten().vector());
  set_threads(saved);
}
