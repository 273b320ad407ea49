#include "fovea/ops/conv2d.hpp"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

#include "support/naive_conv.hpp"

using fovea::Index;
using fovea::Shape;
using fovea::Tensor;
using fovea::TensorView;
using fovea::Window2d;

TEST_CASE("conv_output_size follows floor((W - F + 2P)/S) + 1", "[conv2d]") {
  using fovea::conv_output_size;
  CHECK(conv_output_size(32, 5, 1, 2) == 32);    // 32x32 input, 5x5 filters, pad 2: size kept
  CHECK(conv_output_size(227, 11, 4, 0) == 55);  // AlexNet's first layer
  CHECK(conv_output_size(7, 3, 1, 0) == 5);
  CHECK(conv_output_size(7, 3, 2, 0) == 3);
  CHECK(conv_output_size(5, 3) == 3);
  CHECK(conv_output_size(10, 3, 2, 0) == 4);           // (10 - 3)/2 + 1 = 4.5: floor, as PyTorch
  CHECK(conv_output_size(7, 3, 1, 0, 2) == 3);         // dilation 2: the 3x3 kernel spans 5
  CHECK(conv_output_size(3, 5, 1, 1) == 1);            // the kernel exactly covers the padded input
  CHECK(conv_output_size(11, 3, 2, 1, 1, true) == 6);  // strict accepts an exact fit
}

TEST_CASE("conv_output_size explains what it cannot do", "[conv2d][errors]") {
  using fovea::conv_output_size;
  CHECK_THROWS_AS(conv_output_size(10, 3, 2, 0, 1, true), fovea::shape_error);
  CHECK_THROWS_WITH(conv_output_size(10, 3, 2, 0, 1, true),
                    "conv_output_size: (10 - 3 + 2*0)/2 + 1 = 4.5 is not an integer");
  CHECK_THROWS_WITH(conv_output_size(8, 3, 3, 0, 1, true),
                    "conv_output_size: (8 - 3 + 2*0)/3 + 1 = 2.66667 is not an integer");
  CHECK_THROWS_WITH(conv_output_size(10, 3, 2, 0, 2, true),
                    "conv_output_size: (10 - 5 + 2*0)/2 + 1 = 3.5 is not an integer");
  CHECK_THROWS_AS(conv_output_size(3, 5, 1, 0), fovea::shape_error);
  CHECK_THROWS_WITH(conv_output_size(3, 5, 1, 0),
                    "conv_output_size: kernel extent 5 is larger than the padded input 3 + 2*0 = 3");
  CHECK_THROWS_WITH(conv_output_size(4, 3, 1, 0, 2),
                    "conv_output_size: kernel extent 5 (3 dilated by 2) is larger than the padded input 4 + 2*0 = 4");
  CHECK_THROWS_WITH(conv_output_size(0, 1), "conv_output_size: input size must be positive, got 0");
  CHECK_THROWS_AS(conv_output_size(8, 3, 0), fovea::value_error);
  CHECK_THROWS_WITH(conv_output_size(8, 3, 0), "conv_output_size: stride must be positive, got 0");
  CHECK_THROWS_WITH(conv_output_size(8, 3, -2), "conv_output_size: stride must be positive, got -2");
  CHECK_THROWS_AS(conv_output_size(8, 3, 1, -1), fovea::value_error);
  CHECK_THROWS_WITH(conv_output_size(8, 3, 1, -1), "conv_output_size: padding must be non-negative, got -1");
  CHECK_THROWS_WITH(conv_output_size(8, 3, 1, 0, 0), "conv_output_size: dilation must be positive, got 0");
  CHECK_THROWS_WITH(conv_output_size(8, 0), "conv_output_size: kernel size must be positive, got 0");
}

namespace {

// Runs the fast path for one case with weights and inputs from `rng`.
template <class T>
struct FastConv {
  naive::ConvCase c;
  Tensor<T, 4> x, w, y, dy, dx, dw;
  Tensor<T, 1> b, db;
  fovea::Conv2dWorkspace<T> workspace;

  FastConv(const naive::ConvCase& config, fovea::Rng& rng) : c(config) {
    const Window2d win = c.window();
    x = Tensor<T, 4>::uniform({c.N, c.Cin, c.H, c.W}, rng, -1, 1);
    w = Tensor<T, 4>::uniform({c.Cout, c.Cin / c.s.groups, c.KH, c.KW}, rng, -1, 1);
    if (c.bias) b = Tensor<T, 1>::uniform({c.Cout}, rng, -1, 1);
    y.resize({c.N, c.Cout, win.out_h(c.H), win.out_w(c.W)});
    dy = Tensor<T, 4>::uniform(y.shape(), rng, -1, 1);
    dx.resize(x.shape());
    dw.resize(w.shape());
    db.resize(b.shape());
  }
  fovea::Conv2dParams params() const { return {c.window(), c.s.groups}; }
  fovea::Conv2dAlgorithm algorithm(fovea::Conv2dPass pass) const {
    return fovea::conv2d_algorithm(fovea::conv2d_geometry({c.Cin, c.H, c.W}, c.Cout, c.window(), c.s.groups), pass);
  }
  void forward() { fovea::conv2d_forward<T>(x, w, b, params(), y, workspace); }
  void backward() { fovea::conv2d_backward<T>(x, w, dy, params(), dx, dw, db, workspace); }
  // Both passes, the accumulated gradients zeroed first.
  void forward_backward() {
    dw.fill(T{0});
    db.fill(T{0});
    forward();
    backward();
  }
};

// The largest relative error (against max(1, |numeric|)) of the gradients
// `fast` holds after its backward, against central differences of
// L = <dy, conv(x; w, b)> (L is linear in each argument, so a wide step is
// exact up to rounding). `with_dx`: check dL/dx too.
double worst_gradient_error(FastConv<double>& fast, bool with_dx) {
  auto loss = [&] {
    fast.forward();
    return (fast.y.array() * fast.dy.array()).sum();
  };
  const double h = 1e-3;
  double worst = 0;
  auto compare = [&](double* values, const double* grads, Index size) {
    for (Index i = 0; i < size; ++i) {
      const double saved = values[i];
      values[i] = saved + h;
      const double up = loss();
      values[i] = saved - h;
      const double down = loss();
      values[i] = saved;
      const double want = (up - down) / (2 * h);
      worst = std::max(worst, std::abs(grads[i] - want) / std::max(1.0, std::abs(want)));
    }
  };
  compare(fast.w.data(), fast.dw.data(), fast.w.size());
  compare(fast.b.data(), fast.db.data(), fast.b.size());
  if (with_dx) compare(fast.x.data(), fast.dx.data(), fast.x.size());
  return worst;
}

}  // namespace

TEMPLATE_TEST_CASE("conv2d_forward computes the worked 5x5 example exactly", "[conv2d]", float, double) {
  const Tensor<TestType, 4> x({1, 1, 5, 5}, {1, 1, 1, 0, 0,  //
                                             0, 1, 1, 1, 0,  //
                                             0, 0, 1, 1, 1,  //
                                             0, 0, 1, 1, 0,  //
                                             0, 1, 1, 0, 0});
  const Tensor<TestType, 4> w({1, 1, 3, 3}, {1, 0, 1, 0, 1, 0, 1, 0, 1});
  Tensor<TestType, 4> y({1, 1, 3, 3});
  fovea::Conv2dWorkspace<TestType> workspace;
  fovea::conv2d_forward<TestType>(x, w, {}, Window2d{.kernel_h = 3, .kernel_w = 3}, y, workspace);
  const Tensor<TestType, 4> expected({1, 1, 3, 3}, {4, 3, 4, 2, 4, 3, 2, 3, 4});
  CHECK(y.matrix(3) == expected.matrix(3));
}

TEST_CASE("the fast path agrees with the naive loops in float, forward and backward", "[conv2d]") {
  fovea::Rng rng(11);
  for (const naive::ConvCase& c : naive::conv_cases(60)) {
    INFO(c.describe());
    FastConv<float> fast(c, rng);
    fast.forward();
    CHECK(naive::relative_error(fast.y, naive::conv2d(fast.x, fast.w, fast.b, c.s)) < 1e-5);

    // Gradients accumulate: start from a known value and expect it plus the reference.
    fast.dw.fill(0.5f);
    fast.db.fill(0.25f);
    fast.backward();
    naive::ConvGradients ref = naive::conv2d_backward(fast.x, fast.w, fast.dy, c.s);
    ref.dw.array() += 0.5;
    CHECK(naive::relative_error(fast.dx, ref.dx) < 1e-5);
    CHECK(naive::relative_error(fast.dw, ref.dw) < 1e-5);
    if (c.bias) {
      ref.db.array() += 0.25;
      CHECK(naive::relative_error(fast.db, ref.db) < 1e-5);
    }
  }
}

TEST_CASE("backward skips the input gradient when dx is empty", "[conv2d]") {
  fovea::Rng rng(3);
  for (const naive::ConvCase& c : naive::conv_cases(0)) {
    INFO(c.describe());
    FastConv<double> fast(c, rng);
    fast.forward();
    fast.dx = Tensor<double, 4>();
    fast.backward();
    const naive::ConvGradients ref = naive::conv2d_backward(fast.x, fast.w, fast.dy, c.s);
    CHECK(naive::relative_error(fast.dw, ref.dw) < 1e-12);
  }
}

TEST_CASE("one input channel (direct path) agrees with the naive loops in float, with and without dx",
          "[conv2d][direct]") {
  const int saved = fovea::max_threads();
  fovea::Rng rng(13);
  for (int threads : {1, 2}) {
    fovea::set_threads(threads);
    for (const naive::ConvCase& c : naive::direct_cases()) {
      INFO(c.describe() << ", " << threads << " thread(s)");
      FastConv<float> fast(c, rng);
      fast.forward();
      CHECK(naive::relative_error(fast.y, naive::conv2d(fast.x, fast.w, fast.b, c.s)) < 1e-5);
      naive::ConvGradients ref = naive::conv2d_backward(fast.x, fast.w, fast.dy, c.s);
      ref.dw.array() += 0.5;
      ref.db.array() += 0.25;

      // First layer: no dx, so dW and db come from the direct loops. They accumulate.
      fast.dw.fill(0.5f);
      fast.db.fill(0.25f);
      fovea::conv2d_backward<float>(fast.x, fast.w, fast.dy, c.window(), {}, fast.dw, fast.db, fast.workspace);
      CHECK(naive::relative_error(fast.dw, ref.dw) < 1e-5);
      if (c.bias) CHECK(naive::relative_error(fast.db, ref.db) < 1e-5);

      // With dx the layer falls back to im2col + col2im; same workspace.
      fast.dw.fill(0.5f);
      fast.db.fill(0.25f);
      fast.backward();
      CHECK(naive::relative_error(fast.dx, ref.dx) < 1e-5);
      CHECK(naive::relative_error(fast.dw, ref.dw) < 1e-5);
      if (c.bias) CHECK(naive::relative_error(fast.db, ref.db) < 1e-5);

      // And the forward again after the fallback used the workspace.
      fast.forward();
      CHECK(naive::relative_error(fast.y, naive::conv2d(fast.x, fast.w, fast.b, c.s)) < 1e-5);
    }
  }
  fovea::set_threads(saved);
}

TEST_CASE("the direct path's weight and bias gradients pass the numeric check in double",
          "[conv2d][direct][gradcheck]") {
  fovea::Rng rng(17);
  for (const naive::ConvCase& c : naive::direct_cases()) {
    INFO(c.describe());
    FastConv<double> fast(c, rng);
    fast.dw.fill(0.0);
    fast.db.fill(0.0);
    // An empty dx: the direct path is the first-layer case.
    fovea::conv2d_backward<double>(fast.x, fast.w, fast.dy, c.window(), {}, fast.dw, fast.db, fast.workspace);
    CHECK(worst_gradient_error(fast, false) < 1e-6);
  }
}

TEST_CASE("conv2d_algorithm picks the algorithm by shape and pass", "[conv2d][dispatch]") {
  using fovea::Conv2dAlgorithm;
  using fovea::Conv2dPass;
  auto pick = [](Index channels, Window2d window, Index groups = 1, Conv2dPass pass = Conv2dPass::forward) {
    return fovea::conv2d_algorithm(fovea::conv2d_geometry({channels, 12, 12}, 12, window, groups), pass);
  };
  const Window2d k5{.kernel_h = 5, .kernel_w = 5};
  const Window2d k5_pad{.kernel_h = 5, .kernel_w = 5, .pad_top = 2, .pad_bottom = 2, .pad_left = 2, .pad_right = 2};
  const Window2d k3_tf{.kernel_h = 3, .kernel_w = 3, .pad_top = 0, .pad_bottom = 1, .pad_left = 1, .pad_right = 0};
  CHECK(pick(1, k5) == Conv2dAlgorithm::direct);
  CHECK(pick(1, k5_pad) == Conv2dAlgorithm::direct);
  CHECK(pick(1, k3_tf) == Conv2dAlgorithm::direct);
  CHECK(pick(1, k5, 1, Conv2dPass::weight_gradient) == Conv2dAlgorithm::direct);
  CHECK(pick(1, k5, 1, Conv2dPass::backward) == Conv2dAlgorithm::im2col);  // the direct loops have no dx
  CHECK(pick(1, {}, 1, Conv2dPass::backward) == Conv2dAlgorithm::pointwise);
  CHECK(pick(2, k5) == Conv2dAlgorithm::vector);
  CHECK(pick(6, k5, 1, Conv2dPass::backward) == Conv2dAlgorithm::vector);
  CHECK(pick(16, k5_pad) == Conv2dAlgorithm::vector);
  CHECK(pick(6, k3_tf) == Conv2dAlgorithm::vector);
  CHECK(pick(64, k5_pad, 1, Conv2dPass::backward) == Conv2dAlgorithm::vector);
  CHECK(pick(65, k5) == Conv2dAlgorithm::im2col);  // many channels: im2col + GEMM
  CHECK(pick(1, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2}) == Conv2dAlgorithm::im2col);
  CHECK(pick(6, {.kernel_h = 3, .kernel_w = 3, .stride_w = 2}) == Conv2dAlgorithm::vector);  // any stride
  CHECK(pick(6, {.kernel_h = 3, .kernel_w = 3, .stride_w = 2}, 1, Conv2dPass::backward) == Conv2dAlgorithm::vector);
  CHECK(pick(6, {.kernel_h = 3, .kernel_w = 3, .dilation_h = 2}) == Conv2dAlgorithm::im2col);
  CHECK(pick(1, {.kernel_h = 3, .kernel_w = 3, .dilation_w = 2}) == Conv2dAlgorithm::im2col);
  CHECK(pick(6, {}) == Conv2dAlgorithm::pointwise);  // x is already the column matrix
  CHECK(pick(6, {}, 3) == Conv2dAlgorithm::pointwise);
  CHECK(pick(6, {.pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1}) == Conv2dAlgorithm::vector);
  CHECK(pick(6, k5, 2) == Conv2dAlgorithm::im2col);  // groups: im2col group by group
  CHECK(pick(6, k5, 6) == Conv2dAlgorithm::depthwise);
  CHECK(pick(6, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .dilation_w = 2}, 6) == Conv2dAlgorithm::depthwise);
  CHECK(pick(12, {}, 12) == Conv2dAlgorithm::depthwise);
  CHECK(fovea::to_string(Conv2dAlgorithm::depthwise) == "depthwise");
  const Window2d k3_same{.kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
  CHECK(pick(64, k3_same) == Conv2dAlgorithm::winograd);  // forward only
  CHECK(pick(64, k3_same, 1, Conv2dPass::backward) == Conv2dAlgorithm::vector);
  CHECK(pick(64, k3_same, 1, Conv2dPass::weight_gradient) == Conv2dAlgorithm::vector);
  CHECK(pick(65, k3_same) == Conv2dAlgorithm::winograd);
  CHECK(pick(65, k3_same, 1, Conv2dPass::backward) == Conv2dAlgorithm::im2col);
  CHECK(pick(63, k3_same) == Conv2dAlgorithm::vector);  // too few channels
  CHECK(pick(64, {.kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2}) == Conv2dAlgorithm::vector);
  CHECK(pick(64, {.kernel_h = 3, .kernel_w = 3, .dilation_h = 2}) == Conv2dAlgorithm::im2col);
  CHECK(pick(64, k3_same, 2) == Conv2dAlgorithm::im2col);  // groups
  CHECK(pick(64, k5) == Conv2dAlgorithm::vector);          // 5x5
  const auto narrow = [&](Index width) {                   // an output `width` wide
    return fovea::conv2d_algorithm(fovea::conv2d_geometry({64, 12, width}, 64, k3_same));
  };
  CHECK(narrow(8) == Conv2dAlgorithm::winograd);
  CHECK(narrow(7) == Conv2dAlgorithm::vector);
  CHECK(fovea::to_string(Conv2dAlgorithm::winograd) == "winograd");
}

TEST_CASE("a few input channels (vector path) agree with the naive loops in float, with and without dx",
          "[conv2d][vector]") {
  const int saved = fovea::max_threads();
  fovea::Rng rng(19);
  for (int threads : {1, 2}) {
    fovea::set_threads(threads);
    for (const naive::ConvCase& c : naive::vector_cases()) {
      INFO(c.describe() << ", " << threads << " thread(s)");
      REQUIRE(fovea::conv2d_algorithm(fovea::conv2d_geometry({c.Cin, c.H, c.W}, c.Cout, c.window()),
                                      fovea::Conv2dPass::backward) == fovea::Conv2dAlgorithm::vector);
      FastConv<float> fast(c, rng);
      fast.forward();
      CHECK(naive::relative_error(fast.y, naive::conv2d(fast.x, fast.w, fast.b, c.s)) < 1e-5);
      naive::ConvGradients ref = naive::conv2d_backward(fast.x, fast.w, fast.dy, c.s);
      ref.dw.array() += 0.5;
      ref.db.array() += 0.25;

      // dx is written (not accumulated): start it from garbage.
      fast.dx.fill(7.0f);
      fast.dw.fill(0.5f);
      fast.db.fill(0.25f);
      fast.backward();
      CHECK(naive::relative_error(fast.dx, ref.dx) < 1e-5);
      CHECK(naive::relative_error(fast.dw, ref.dw) < 1e-5);
      if (c.bias) CHECK(naive::relative_error(fast.db, ref.db) < 1e-5);

      // A first layer: no dx, same workspace.
      fast.dw.fill(0.5f);
      fast.db.fill(0.25f);
      fovea::conv2d_backward<float>(fast.x, fast.w, fast.dy, c.window(), {}, fast.dw, fast.db, fast.workspace);
      CHECK(naive::relative_error(fast.dw, ref.dw) < 1e-5);
      if (c.bias) CHECK(naive::relative_error(fast.db, ref.db) < 1e-5);
    }
  }
  fovea::set_threads(saved);
}

TEST_CASE("the vector path's gradients pass the numeric check in double", "[conv2d][vector][gradcheck]") {
  fovea::Rng rng(23);
  for (const naive::ConvCase& c : naive::vector_cases()) {
    INFO(c.describe());
    FastConv<double> fast(c, rng);
    fast.dw.fill(0.0);
    fast.db.fill(0.0);
    fast.backward();
    CHECK(worst_gradient_error(fast, true) < 1e-6);
  }
}

TEST_CASE("a fused clamp: y = min(max(conv, low), high) and dy masked inside the bounds, on every path",
          "[conv2d][relu]") {
  fovea::Rng rng(29);
  std::vector<naive::ConvCase> cases = naive::conv_cases(10);
  for (const auto& list : {naive::direct_cases(), naive::vector_cases(), naive::grouped_cases(),
                           naive::asymmetric_cases(), naive::winograd_cases()})
    cases.insert(cases.end(), list.begin(), list.end());
  // A ReLU, a ReLU6 and a Clip that cuts on both sides; the references once
  // per case and clamp (the naive loops in double are most of the test's time).
  const fovea::Clamp clamps[] = {fovea::Clamp::relu(), fovea::Clamp{0, 6}, fovea::Clamp{-0.3, 0.4}};
  for (const naive::ConvCase& c : cases) {
    FastConv<float> fast(c, rng);
    const Tensor<double, 4> unclamped = naive::conv2d(fast.x, fast.w, fast.b, c.s);
    for (const fovea::Clamp& clamp : clamps) {
      INFO(c.describe() << ", clamp [" << clamp.low << ", " << clamp.high << "]");
      const auto low = static_cast<float>(clamp.low), high = static_cast<float>(clamp.high);
      fovea::conv2d_forward<float>(fast.x, fast.w, fast.b, fast.params(), fast.y, fast.workspace, clamp);
      Tensor<double, 4> want = unclamped;
      want.array() = want.array().max(clamp.low).min(clamp.high);
      // Float's rounding is relative to the convolution's scale, not the clamp's.
      CHECK(naive::relative_error(fast.y, want) * want.array().abs().maxCoeff() / unclamped.array().abs().maxCoeff() <
            1e-5);
      CHECK((fast.y.array() >= low && fast.y.array() <= high).all());

      Tensor<float, 4> masked(fast.dy.shape());
      masked.array() = (fast.y.array() > low && fast.y.array() < high).select(fast.dy.array(), 0.0f);
      const naive::ConvGradients ref = naive::conv2d_backward(fast.x, fast.w, masked, c.s);
      for (const bool first_layer : {false, true}) {
        INFO((first_layer ? "no dx" : "dx"));
        fast.dw.fill(0.0f);
        fast.db.fill(0.0f);
        TensorView<float, 4> dx = first_layer ? TensorView<float, 4>() : TensorView<float, 4>(fast.dx);
        fovea::conv2d_backward<float>(fast.x, fast.w, fast.dy, fast.params(), dx, fast.dw, fast.db, fast.workspace,
                                      fast.y, clamp);
        if (!first_layer) CHECK(naive::relative_error(fast.dx, ref.dx) < 1e-5);
        CHECK(naive::relative_error(fast.dw, ref.dw) < 1e-5);
        if (c.bias) CHECK(naive::relative_error(fast.db, ref.db) < 1e-5);
      }
    }
  }
}

// Same size and bit for bit the same values (memcmp; not for empty tensors, whose data() may be null).
template <class A>
bool same_bits(const A& a, const A& b) {
  return a.size() == b.size() &&
         (a.size() == 0 ||
          std::memcmp(a.data(), b.data(), static_cast<std::size_t>(a.size()) * sizeof(*a.data())) == 0);
}

TEST_CASE("the result does not depend on the run: two threads, twice, same bits", "[conv2d][threads]") {
  const int saved = fovea::max_threads();
  fovea::set_threads(2);
  fovea::Rng rng(5);
  // Odd batches split unevenly across the two threads.
  std::vector<naive::ConvCase> cases = naive::conv_cases(4);
  for (const auto& list :
       {naive::vector_cases(), naive::grouped_cases(), naive::asymmetric_cases(), naive::winograd_cases()})
    cases.insert(cases.end(), list.begin(), list.end());
  for (const naive::ConvCase& base : cases) {
    naive::ConvCase c = base;
    c.N = 5;
    INFO(c.describe());
    FastConv<float> first(c, rng);
    FastConv<float> second = first;
    first.forward();
    first.backward();
    second.forward();
    second.backward();
    CHECK(same_bits(first.y, second.y));
    CHECK(same_bits(first.dx, second.dx));
    CHECK(same_bits(first.dw, second.dw));
    CHECK(same_bits(first.db, second.db));
    // And the threaded result is the same convolution.
    CHECK(naive::relative_error(first.y, naive::conv2d(first.x, first.w, first.b, c.s)) < 1e-5);
    // The output and the input gradient are computed sample by sample, so
    // they keep their bits on any thread count (wherever the cut between the
    // threads falls); the weight gradient keeps its bits for a given thread
    // count (its partials follow the blocks, which depend on it).
    FastConv<float> again = first;
    for (int threads : {2, 1, 3, 2}) {
      fovea::set_threads(threads);
      for (int call = 0; call < 2; ++call) {
        again.forward_backward();
        CHECK(same_bits(again.y, first.y));
        CHECK(same_bits(again.dx, first.dx));
        if (threads == 2) CHECK(same_bits(again.dw, first.dw));
      }
    }
    fovea::set_threads(2);
  }
  fovea::set_threads(saved);
}

TEST_CASE("which thread runs which samples does not change the bits", "[conv2d][threads]") {
  // Two threads split a batch of 64 into blocks, and a thread that is ahead
  // takes blocks from the other: how many each runs depends on timing. A third
  // thread spinning on the two cores makes that timing differ from call to
  // call; every call must still give the first call's bits (the weight
  // gradient is summed per block, and the blocks are fixed).
  if (std::thread::hardware_concurrency() < 2) return;
  const int saved = fovea::max_threads();
  fovea::set_threads(2);
  fovea::Rng rng(9);
  std::vector<naive::ConvCase> cases = naive::conv_cases(3);
  for (const naive::ConvCase& v : naive::vector_cases()) cases.push_back(v);
  std::atomic<bool> stop{false};
  std::thread noise([&] {
    while (!stop.load()) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (std::chrono::steady_clock::now() < until) {
      }
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  });
  for (naive::ConvCase c : cases) {
    c.N = 64;
    INFO(c.describe());
    FastConv<float> first(c, rng);
    first.forward_backward();
    for (int call = 0; call < 12; ++call) {
      FastConv<float> again = first;
      again.forward_backward();
      CHECK(same_bits(again.y, first.y));
      CHECK(same_bits(again.dx, first.dx));
      CHECK(same_bits(again.dw, first.dw));
      CHECK(same_bits(again.db, first.db));
    }
  }
  stop = true;
  noise.join();
  fovea::set_threads(saved);
}

TEMPLATE_TEST_CASE("conv2d_forward and conv2d_backward name the shapes they cannot take", "[conv2d][errors]", float,
                   double) {
  fovea::Conv2dWorkspace<TestType> ws;
  const Window2d win{.kernel_h = 5, .kernel_w = 5, .pad_top = 2, .pad_bottom = 2, .pad_left = 2, .pad_right = 2};
  Tensor<TestType, 4> x({8, 1, 28, 28}), w({6, 1, 5, 5}), y({8, 6, 28, 28});
  Tensor<TestType, 1> b({6});

  Tensor<TestType, 4> rgb({8, 3, 28, 28});
  CHECK_THROWS_AS(fovea::conv2d_forward<TestType>(rgb, w, b, win, y, ws), fovea::shape_error);
  CHECK_THROWS_WITH(fovea::conv2d_forward<TestType>(rgb, w, b, win, y, ws),
                    "conv2d_forward: weight [6, 1, 5, 5] for input [8, 3, 28, 28] and window (k5x5, s1x1, p2x2, "
                    "d1x1), expected [6, 3, 5, 5]");
  Tensor<TestType, 1> b5({5});
  CHECK_THROWS_WITH(fovea::conv2d_forward<TestType>(x, w, b5, win, y, ws),
                    "conv2d_forward: bias [5], expected [6] or none");
  Tensor<TestType, 4> y_small({8, 6, 24, 24});
  CHECK_THROWS_WITH(fovea::conv2d_forward<TestType>(x, w, b, win, y_small, ws),
                    "conv2d_forward: output [8, 6, 24, 24], expected [8, 6, 28, 28]");
  const Window2d huge{.kernel_h = 5, .kernel_w = 5};
  Tensor<TestType, 4> tiny({1, 1, 3, 3});
  CHECK_THROWS_WITH(fovea::conv2d_forward<TestType>(tiny, w, b, huge, y, ws),
                    "conv_output_size: kernel extent 5 is larger than the padded input 3 + 2*0 = 3");

  Tensor<TestType, 4> dx(x.shape()), dw(w.shape());
  Tensor<TestType, 1> db({6});
  CHECK_THROWS_WITH(fovea::conv2d_backward<TestType>(x, w, y_small, win, dx, dw, db, ws),
                    "conv2d_backward: output gradient [8, 6, 24, 24], expected [8, 6, 28, 28]");
  Tensor<TestType, 4> dw_wrong({6, 1, 3, 3});
  CHECK_THROWS_WITH(fovea::conv2d_backward<TestType>(x, w, y, win, dx, dw_wrong, db, ws),
                    "conv2d_backward: weight gradient [6, 1, 3, 3], expected [6, 1, 5, 5]");
  Tensor<TestType, 4> dx_wrong({4, 1, 28, 28});
  CHECK_THROWS_WITH(fovea::conv2d_backward<TestType>(x, w, y, win, dx_wrong, dw, db, ws),
                    "conv2d_backward: input gradient [4, 1, 28, 28], expected [8, 1, 28, 28]");
}

TEST_CASE("a workspace is sized once: later calls on the same shape do not move it", "[conv2d]") {
  fovea::Rng rng(9);
  FastConv<float> fast(naive::conv_cases(0)[3], rng);
  fast.forward();
  fast.backward();
  const float* cols = fast.workspace.threads[0].cols.data();
  const float* dcols = fast.workspace.threads[0].dcols.data();
  for (int i = 0; i < 3; ++i) {
    fast.forward();
    fast.backward();
  }
  CHECK(fast.workspace.threads[0].cols.data() == cols);
  CHECK(fast.workspace.threads[0].dcols.data() == dcols);
}

TEMPLATE_TEST_CASE("grouped, depthwise and one-sided padding agree with the naive loops, forward and backward",
                   "[conv2d][groups][padding]", float, double) {
  const double tolerance = std::is_same_v<TestType, float> ? 1e-5 : 1e-12;
  const int saved = fovea::max_threads();
  fovea::Rng rng(31);
  std::vector<naive::ConvCase> cases = naive::grouped_cases();
  const std::vector<naive::ConvCase> asymmetric = naive::asymmetric_cases();
  cases.insert(cases.end(), asymmetric.begin(), asymmetric.end());
  for (int threads : {1, 2}) {
    fovea::set_threads(threads);
    for (const naive::ConvCase& c : cases) {
      FastConv<TestType> fast(c, rng);
      INFO(c.describe() << ", " << threads << " thread(s), "
                        << fovea::to_string(fast.algorithm(fovea::Conv2dPass::backward)));
      if (c.s.groups > 1 && c.s.groups == c.Cin) {
        CHECK(fast.algorithm(fovea::Conv2dPass::backward) == fovea::Conv2dAlgorithm::depthwise);
      }
      fast.forward();
      CHECK(naive::relative_error(fast.y, naive::conv2d(fast.x, fast.w, fast.b, c.s)) < tolerance);
      naive::ConvGradients ref = naive::conv2d_backward(fast.x, fast.w, fast.dy, c.s);
      ref.dw.array() += 0.5;
      ref.db.array() += 0.25;

      fast.dx.fill(TestType{7});  // written, not accumulated
      fast.dw.fill(TestType{0.5});
      fast.db.fill(TestType{0.25});
      fast.backward();
      CHECK(naive::relative_error(fast.dx, ref.dx) < tolerance);
      CHECK(naive::relative_error(fast.dw, ref.dw) < tolerance);
      if (c.bias) CHECK(naive::relative_error(fast.db, ref.db) < tolerance);

      // A first layer: no dx (the direct path where it applies), same workspace.
      fast.dw.fill(TestType{0.5});
      fast.db.fill(TestType{0.25});
      fovea::conv2d_backward<TestType>(fast.x, fast.w, fast.dy, fast.params(), {}, fast.dw, fast.db, fast.workspace);
      CHECK(naive::relative_error(fast.dw, ref.dw) < tolerance);
      if (c.bias) CHECK(naive::relative_error(fast.db, ref.db) < tolerance);
    }
  }
  fovea::set_threads(saved);
}

TEST_CASE("grouped, depthwise and one-sided padding pass the numeric gradient check in double",
          "[conv2d][groups][padding][gradcheck]") {
  fovea::Rng rng(37);
  std::vector<naive::ConvCase> cases = naive::grouped_cases();
  const std::vector<naive::ConvCase> asymmetric = naive::asymmetric_cases();
  cases.insert(cases.end(), asymmetric.begin(), asymmetric.end());
  for (const naive::ConvCase& c : cases) {
    INFO(c.describe());
    FastConv<double> fast(c, rng);
    fast.dw.fill(0.0);
    fast.db.fill(0.0);
    fast.backward();
    CHECK(worst_gradient_error(fast, true) < 1e-6);
  }
}

TEMPLATE_TEST_CASE("grouped convolutions name the channel counts and weights they cannot take",
                   "[conv2d][groups][errors]", float, double) {
  fovea::Conv2dWorkspace<TestType> ws;
  const Window2d k3{.kernel_h = 3, .kernel_w = 3};
  const Tensor<TestType, 4> x({2, 6, 8, 8});
  Tensor<TestType, 4> y({2, 8, 6, 6});
  const Tensor<TestType, 4> w4({8, 6, 3, 3});
  CHECK_THROWS_AS(fovea::conv2d_forward<TestType>(x, w4, {}, {k3, 4}, y, ws), fovea::shape_error);
  CHECK_THROWS_WITH(fovea::conv2d_forward<TestType>(x, w4, {}, {k3, 4}, y, ws),
                    "conv2d_geometry: 4 groups for input [6, 8, 8] and 8 filters: both channel counts must be "
                    "multiples of it");
  CHECK_THROWS_AS(fovea::conv2d_forward<TestType>(x, w4, {}, {k3, 0}, y, ws), fovea::value_error);
  CHECK_THROWS_WITH(fovea::conv2d_forward<TestType>(x, w4, {}, {k3, 0}, y, ws),
                    "conv2d_geometry: groups must be positive, got 0");
  CHECK_THROWS_WITH(fovea::conv2d_forward<TestType>(x, w4, {}, {k3, 2}, y, ws),
                    "conv2d_forward: weight [8, 6, 3, 3] for input [2, 6, 8, 8] and window (k3x3, s1x1, p0x0, d1x1) "
                    "in 2 groups, expected [8, 3, 3, 3]");
  const Tensor<TestType, 4> w2({8, 3, 3, 3});
  fovea::conv2d_forward<TestType>(x, w2, {}, {k3, 2}, y, ws);  // the right weights for 2 groups
  const Window2d one_sided{.kernel_h = 3, .kernel_w = 3, .pad_top = 2};
  Tensor<TestType, 4> y_tall({2, 8, 8, 6});
  fovea::conv2d_forward<TestType>(x, w2, {}, {one_sided, 2}, y_tall, ws);  // (8 + 2 - 3) + 1 = 8 rows
  CHECK_THROWS_WITH(fovea::conv2d_forward<TestType>(x, w2, {}, {one_sided, 2}, y, ws),
                    "conv2d_forward: output [2, 8, 6, 6], expected [2, 8, 8, 6]");
}

TEST_CASE("conv2d_sample_threads shares a sample only when samples are fewer than threads and it is worth it",
          "[conv2d][threads][dispatch]") {
  const int saved = fovea::max_threads();
  const Window2d k3{.kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_bottom = 1, .pad_left = 1, .pad_right = 1};
  const fovea::Conv2dGeometry large = fovea::conv2d_geometry({64, 28, 28}, 64, k3);   // 29M multiply-adds
  const fovea::Conv2dGeometry small = fovea::conv2d_geometry({6, 14, 14}, 16, k3);    // 170k
  const fovea::Conv2dGeometry first = fovea::conv2d_geometry({1, 224, 224}, 64, k3);  // direct path
  fovea::set_threads(2);
  CHECK(fovea::conv2d_sample_threads(large, 1) == 2);
  CHECK(fovea::conv2d_sample_threads(large, 2) == 1);  // the threads split the batch
  CHECK(fovea::conv2d_sample_threads(small, 1) == 1);
  CHECK(fovea::conv2d_sample_threads(first, 1) == 1);
  fovea::set_threads(4);
  CHECK(fovea::conv2d_sample_threads(large, 3) == 4);
  CHECK(fovea::conv2d_sample_threads(large, 4) == 1);
  fovea::set_threads(1);
  CHECK(fovea::conv2d_sample_threads(large, 1) == 1);
  fovea::set_threads(saved);
}

TEST_CASE("one sample shared by the threads agrees with the naive loops on every path that splits",
          "[conv2d][threads]") {
  const int saved = fovea::max_threads();
  // Each is large enough to be shared (conv2d_sample_threads), one per algorithm.
  const std::vector<naive::ConvCase> cases = {
      {1, 32, 40, 15, 13, 3, 3, {2, 2, 1, 1, 1, 1}, true},              // im2col, stride 2, 40 filters
      {1, 24, 36, 16, 18, 3, 3, {1, 1, 1, 1, 1, 1, -1, -1, 2}, true},   // im2col, 2 groups
      {2, 48, 70, 20, 20, 1, 1, {}, true},                              // pointwise, 2 samples (3 threads)
      {1, 12, 33, 30, 29, 3, 3, {1, 1, 1, 1, 1, 1}, false},             // vector, rows shared
      {1, 40, 80, 33, 31, 3, 3, {1, 1, 1, 1, 1, 1, -1, -1, 40}, true},  // depthwise x2
      {1, 64, 130, 7, 7, 3, 3, {1, 1, 1, 1, 1, 1}, true},               // im2col, more rows than columns
      {1, 64, 48, 24, 22, 3, 3, {1, 1, 1, 1, 1, 1}, true},              // winograd, one pass shared
  };
  fovea::Rng rng(31);
  for (const naive::ConvCase& c : cases) {
    FastConv<float> fast(c, rng);
    const fovea::Conv2dGeometry g = fovea::conv2d_geometry({c.Cin, c.H, c.W}, c.Cout, c.window(), c.s.groups);
    Tensor<double, 4> want = naive::conv2d(fast.x, fast.w, fast.b, c.s);
    Tensor<double, 4> want_relu = want;
    want_relu.array() = want_relu.array().max(0.0);
    for (const int threads : {3, 2}) {
      fovea::set_threads(threads);
      INFO(c.describe() << ", " << threads << " threads, "
                        << fovea::to_string(fast.algorithm(fovea::Conv2dPass::forward)));
      REQUIRE(fovea::conv2d_sample_threads(g, c.N) == (c.N < threads ? threads : 1));
      fast.forward();
      CHECK(naive::relative_error(fast.y, want) < 1e-5);
      const Tensor<float, 4> first = fast.y;
      fast.forward();
      CHECK(same_bits(fast.y, first));  // the same cut every run
      fovea::conv2d_forward<float>(fast.x, fast.w, fast.b, fast.params(), fast.y, fast.workspace, fovea::Clamp::relu());
      CHECK(naive::relative_error(fast.y, want_relu) < 1e-5);
    }
  }
  fovea::set_threads(saved);
}

TEMPLATE_TEST_CASE("3x3 at stride 1 with many channels (Winograd) agrees with the naive loops", "[conv2d][winograd]",
                   float, double) {
  const int saved = fovea::max_threads();
  fovea::Rng rng(43);
  const double tolerance = std::is_same_v<TestType, float> ? 1e-5 : 1e-12;
  for (const naive::ConvCase& c : naive::winograd_cases()) {
    FastConv<TestType> fast(c, rng);
    REQUIRE(fast.algorithm(fovea::Conv2dPass::forward) == fovea::Conv2dAlgorithm::winograd);
    Tensor<double, 4> want = naive::conv2d(fast.x, fast.w, fast.b, c.s);
    Tensor<double, 4> want_relu = want;
    want_relu.array() = want_relu.array().max(0.0);
    Tensor<TestType, 4> first;
    for (int threads : {1, 2, 3}) {
      fovea::set_threads(threads);
      INFO(c.describe() << ", " << threads << " thread(s)");
      fast.y.fill(TestType{7});  // y is written, not accumulated
      fast.forward();
      CHECK(naive::relative_error(fast.y, want) < tolerance);
      if (threads == 1) first = fast.y;
      CHECK(same_bits(fast.y, first));  // passes are cut the same way on any thread count
      fovea::conv2d_forward<TestType>(fast.x, fast.w, fast.b, fast.params(), fast.y, fast.workspace,
                                      fovea::Clamp::relu());
      CHECK(naive::relative_error(fast.y, want_relu) < tolerance);
    }
  }
  fovea::set_threads(saved);
  naive::ConvCase empty = naive::winograd_cases().front();  // an empty batch: nothing to do
  empty.N = 0;
  FastConv<TestType> none(empty, rng);
  REQUIRE(none.algorithm(fovea::Conv2dPass::forward) == fovea::Conv2dAlgorithm::winograd);
  none.forward();
  CHECK(none.y.size() == 0);
}

TEST_CASE("Winograd's transformed weights follow every change of the weights", "[conv2d][winograd]") {
  const naive::ConvCase c{2, 64, 16, 8, 8, 3, 3, {1, 1, 1, 1}, true};
  fovea::Rng rng(47);
  FastConv<float> fast(c, rng);
  REQUIRE(fast.algorithm(fovea::Conv2dPass::forward) == fovea::Conv2dAlgorithm::winograd);
  const auto check = [&] {
    fast.forward();
    CHECK(naive::relative_error(fast.y, naive::conv2d(fast.x, fast.w, fast.b, c.s)) < 1e-5);
  };
  check();
  check();  // unchanged: the kept transform
  fast.w.data()[0] += 0.5f;
  check();
  fast.w.data()[fast.w.size() - 1] = -2.0f;
  check();
  fast.b.data()[3] = 3.0f;  // the bias is read in every call
  check();
}

TEST_CASE("the vector path takes any stride, forward and backward", "[conv2d][vector]") {
  const std::vector<naive::ConvCase> cases = {
      {2, 16, 32, 28, 28, 3, 3, {2, 2, 1, 1, 1, 1}, true},       // ResNet-8's 16 -> 32 downsampling
      {1, 5, 7, 11, 10, 3, 2, {2, 3, 1, 0, 1, 1, 0, 1}, false},  // unequal strides, one-sided padding
      {3, 64, 17, 9, 9, 1, 1, {2, 2, 0, 0, 1, 1}, true},         // a 1x1 projection at stride 2
  };
  fovea::Rng rng(37);
  for (const naive::ConvCase& c : cases) {
    INFO(c.describe());
    FastConv<float> fast(c, rng);
    REQUIRE(fast.algorithm(fovea::Conv2dPass::forward) == fovea::Conv2dAlgorithm::vector);
    REQUIRE(fast.algorithm(fovea::Conv2dPass::backward) == fovea::Conv2dAlgorithm::vector);
    fast.forward_backward();
    CHECK(naive::relative_error(fast.y, naive::conv2d(fast.x, fast.w, fast.b, c.s)) < 1e-5);
    const naive::ConvGradients ref = naive::conv2d_backward(fast.x, fast.w, fast.dy, c.s);
    CHECK(naive::relative_error(fast.dx, ref.dx) < 1e-5);
    CHECK(naive::relative_error(fast.dw, ref.dw) < 1e-5);
    if (c.bias) CHECK(naive::relative_error(fast.db, ref.db) < 1e-5);
  }
}

TEST_CASE("the vector path's transposed weights follow every change of the weights and bias", "[conv2d][vector]") {
  // It keeps the transposed weights while they stay the same (inference);
  // a weight changed in place, a bias dropped or added must be seen.
  const naive::ConvCase c{1, 6, 20, 7, 7, 3, 3, {1, 1, 1, 1, 1, 1}, true};
  fovea::Rng rng(41);
  FastConv<float> fast(c, rng);
  REQUIRE(fast.algorithm(fovea::Conv2dPass::forward) == fovea::Conv2dAlgorithm::vector);
  const auto check = [&](TensorView<const float, 1> bias) {
    fovea::conv2d_forward<float>(fast.x, fast.w, bias, fast.params(), fast.y, fast.workspace);
    const Tensor<float, 1> b = bias.empty() ? Tensor<float, 1>() : Tensor<float, 1>(bias);
    CHECK(naive::relative_error(fast.y, naive::conv2d(fast.x, fast.w, b, c.s)) < 1e-5);
  };
  check(fast.b);
  check(fast.b);  // unchanged: the kept copy
  fast.w.data()[5] += 0.5f;
  check(fast.b);
  fast.w.data()[fast.w.size() - 1] = -2.0f;  // the last weight, the one before the bias in the kept copy
  check(fast.b);
  fast.b.data()[19] = 3.0f;
  check(fast.b);
  check({});  // no bias
  check(fast.b);
}
