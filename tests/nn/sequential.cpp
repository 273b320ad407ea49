#include "fovea/nn/sequential.hpp"

#include <catch2/catch.hpp>
#include <vector>

#include "fovea/testing/gradcheck.hpp"
#include "support/small_cnn.hpp"

using namespace fovea;

TEST_CASE("shapes are inferred as layers are added and mismatches fail at once", "[nn]") {
  Sequential<float> net({1, 28, 28});
  net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2});
  CHECK(net.output_shape() == SampleShape{6, 28, 28});
  net.emplace<ReLU<float>>();
  net.emplace<Pool2d<float>>(Pool2dOptions{});
  CHECK(net.output_shape() == SampleShape{6, 14, 14});
  net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 6, .out_channels = 16, .kernel = 5});
  net.emplace<Pool2d<float>>(Pool2dOptions{});
  net.emplace<Flatten<float>>();
  CHECK(net.output_shape() == SampleShape{400, 1, 1});
  CHECK_THROWS_AS(net.emplace<Linear<float>>(401, 120), shape_error);
  CHECK_THROWS_WITH(net.emplace<Linear<float>>(401, 120), "layer 6 Linear(401->120): input has 400 features");
  CHECK(net.size() == 6);  // the failed layer was not added
  net.emplace<Linear<float>>(400, 120);
  CHECK(net.shape_after(6) == SampleShape{120, 1, 1});
  CHECK(net.parameter_count() == 156 + 2416 + 48120);

  Sequential<float> rgb({3, 8, 8});
  CHECK_THROWS_WITH(rgb.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 1, .out_channels = 2, .kernel = 3}),
                    Catch::StartsWith("layer 0 Conv2d(1->2"));
  CHECK_THROWS_AS(Sequential<float>({0, 28, 28}), shape_error);
}

TEST_CASE("summary lists every layer with shapes, parameters and totals", "[nn]") {
  auto net = test::small_cnn<float>(1);
  const std::string text = net.summary(64);
  CHECK(text.find("0 Conv2d(1->4") != std::string::npos);
  CHECK(text.find("[4, 16, 16]") != std::string::npos);
  CHECK(text.find("[256]") != std::string::npos);
  CHECK(text.find("Total parameters: 1,068") != std::string::npos);  // 4*9+4 + 256*4+4
  CHECK(text.find("Activation memory, batch 64") != std::string::npos);
  CHECK(text.find("Forward FLOPs per image") != std::string::npos);
}

TEST_CASE("forward and backward through a whole network match finite differences", "[nn][gradcheck]") {
  const bool second_conv = GENERATE(false, true);  // true: a fused Conv2d + ReLU on the vector path too
  INFO("second convolution: " << second_conv);
  auto net = test::small_cnn<double>(2, 8, /*dropout=*/false, second_conv);
  Rng rng(3);
  auto x = Tensor<double, 4>::uniform({3, 1, 8, 8}, rng, 0.0, 1.0);
  // L = sum(output * r): dL/doutput = r.
  auto r = Tensor<double, 4>::uniform({3, 4, 1, 1}, rng, -1.0, 1.0);
  auto loss = [&] {
    auto y = net.forward(x);
    double s = 0;
    for (Index i = 0; i < y.size(); ++i) s += y.data()[i] * r.data()[i];
    return s;
  };
  net.zero_grad();
  loss();
  net.backward(r);
  double worst = 0;
  for (const auto& p : net.params()) {
    Tensor<double, 1> analytic(p.grad);
    for (Index i = 0; i < p.value.size(); i += 3) {
      const double saved = p.value(i);
      p.value(i) = saved + 1e-6;
      const double plus = loss();
      p.value(i) = saved - 1e-6;
      const double minus = loss();
      p.value(i) = saved;
      const double numeric = (plus - minus) / 2e-6;
      worst = std::max(worst, testing::detail::relative_error(analytic(i), numeric, 1e-3));
    }
  }
  CHECK(worst < 1e-6);
}

TEST_CASE(
    "Conv2d + ReLU and Linear + ReLU pairs run fused, Flattens as views, with the same bits as the layers "
    "run one by one",
    "[nn][fused]") {
  // Every convolution path: direct (1 channel, first layer: no dx), vector
  // (4 channels), im2col (stride 2); a LeakyReLU is not fused. Linear 75->1200
  // at batch 3 is large enough to split across threads; the network ends in a
  // Flatten, so its output and the gradient given to backward are views.
  const int threads = GENERATE(1, 2, 3);
  INFO(threads << " thread(s)");
  const int saved_threads = max_threads();
  set_threads(threads);
  Sequential<float> net({1, 10, 10});
  net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 1, .out_channels = 4, .kernel = 3, .padding = 1});
  net.emplace<ReLU<float>>();
  net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 4, .out_channels = 6, .kernel = 3});
  net.emplace<ReLU<float>>();
  net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 6, .out_channels = 5, .kernel = 3, .stride = 2});
  net.emplace<ReLU<float>>();
  net.emplace<Conv2d<float>>(Conv2dOptions{.in_channels = 5, .out_channels = 3, .kernel = 1, .padding = 1});
  net.emplace<LeakyReLU<float>>(0.1);
  net.emplace<Flatten<float>>();
  net.emplace<Linear<float>>(3 * 5 * 5, 1200);
  net.emplace<ReLU<float>>();
  net.emplace<Linear<float>>(1200, 16);
  net.emplace<ReLU<float>>();
  net.emplace<Flatten<float>>();
  net.emplace<Linear<float>>(16, 4);
  net.emplace<Flatten<float>>();
  Rng rng(21);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  const auto x = Tensor<float, 4>::uniform({3, 1, 10, 10}, rng, -1.0F, 1.0F);
  const auto r = Tensor<float, 4>::uniform({3, 4, 1, 1}, rng, -1.0F, 1.0F);

  // By hand, layer by layer: the reference.
  const std::size_t L = net.size();
  std::vector<Tensor<float, 4>> outputs(L), gradients(L);
  TensorView<const float, 4> current = x;
  for (std::size_t i = 0; i < L; ++i) {
    outputs[i].resize(batch_shape(3, net.shape_after(i)));
    net.layer(i).forward(current, outputs[i], true);
    current = outputs[i];
  }
  net.zero_grad();
  for (std::size_t k = L; k-- > 0;) {
    TensorView<const float, 4> in = k == 0 ? TensorView<const float, 4>(x) : TensorView<const float, 4>(outputs[k - 1]);
    TensorView<const float, 4> dy =
        k + 1 == L ? TensorView<const float, 4>(r) : TensorView<const float, 4>(gradients[k]);
    TensorView<float, 4> dx;
    if (k > 0) {
      gradients[k - 1].resize(in.shape());
      dx = gradients[k - 1];
    }
    net.layer(k).backward(in, outputs[k], dy, dx);
  }
  std::vector<std::vector<float>> want;
  for (const auto& p : net.params()) want.emplace_back(p.grad.begin(), p.grad.end());

  net.zero_grad();
  const auto y = net.forward(x);
  net.backward(r);
  CHECK(std::vector<float>(y.begin(), y.end()) == std::vector<float>(outputs.back().begin(), outputs.back().end()));
  for (std::size_t p = 0; p < want.size(); ++p) {
    INFO("parameter " << net.params()[p].name);
    CHECK(std::vector<float>(net.params()[p].grad.begin(), net.params()[p].grad.end()) == want[p]);
  }
  set_threads(saved_threads);
}

TEST_CASE("a network that starts with a Flatten passes the input on as a view", "[nn][fused]") {
  Sequential<double> net({2, 3, 1});
  net.emplace<Flatten<double>>();
  auto& linear = net.emplace<Linear<double>>(6, 2);
  Rng rng(5);
  initialize_all(net.params(), {.scheme = InitScheme::he_normal}, rng);
  const auto x = Tensor<double, 4>::uniform({4, 2, 3, 1}, rng, -1.0, 1.0);
  const auto r = Tensor<double, 4>::uniform({4, 2, 1, 1}, rng, -1.0, 1.0);
  net.zero_grad();
  const auto y = net.forward(x);
  net.backward(r);
  // y = x W^T + b and dW = r^T x, written out.
  for (Index n = 0; n < 4; ++n) {
    for (Index o = 0; o < 2; ++o) {
      double sum = linear.bias()(o);
      for (Index i = 0; i < 6; ++i) sum += x.data()[n * 6 + i] * linear.weight()(o, i);
      CHECK(y(n, o, 0, 0) == Approx(sum).epsilon(1e-12));
    }
  }
  for (Index o = 0; o < 2; ++o) {
    for (Index i = 0; i < 6; ++i) {
      double sum = 0;
      for (Index n = 0; n < 4; ++n) sum += r(n, o, 0, 0) * x.data()[n * 6 + i];
      CHECK(linear.weight_grad()(o, i) == Approx(sum).epsilon(1e-12));
    }
  }
}

TEST_CASE("predict gives probabilities and respects eval mode", "[nn]") {
  auto net = test::small_cnn<float>(4, 16, /*dropout=*/true);
  Rng rng(5);
  auto x = Tensor<float, 4>::uniform({5, 1, 16, 16}, rng, 0.0f, 1.0f);
  auto p = net.predict(x);
  CHECK(p.shape() == Shape<2>{5, 4});
  for (Index i = 0; i < 5; ++i) CHECK(p.matrix().row(i).sum() == Approx(1.0f).epsilon(1e-5));
  // Inference is deterministic even with dropout in the network.
  auto again = net.predict(x);
  CHECK(p.array().isApprox(again.array(), 0));
  CHECK(net.training());  // predict restored the mode
  net.set_training(true);
  Tensor<float, 2> a(net.forward(x).reshape(Shape<2>{5, 4}));
  Tensor<float, 2> b(net.forward(x).reshape(Shape<2>{5, 4}));
  CHECK(!a.array().isApprox(b.array()));  // dropout draws a new mask per training forward
}

TEST_CASE("forward and backward reject bad input with shapes in the message", "[nn]") {
  auto net = test::small_cnn<float>(1);
  Tensor<float, 4> wrong({2, 3, 16, 16});
  CHECK_THROWS_WITH(net.forward(wrong),
                    "Sequential::forward: input [2, 3, 16, 16], expected [N, 1, 16, 16] with N > 0");
  Tensor<float, 4> dy({2, 4, 1, 1});
  CHECK_THROWS_WITH(net.backward(dy), "Sequential::backward: called before forward");
  Tensor<float, 4> x({2, 1, 16, 16});
  net.forward(x);
  Tensor<float, 4> dy_wrong({3, 4, 1, 1});
  CHECK_THROWS_WITH(net.backward(dy_wrong),
                    "Sequential::backward: gradient [3, 4, 1, 1] does not match the output [2, 4, 1, 1]");
  Sequential<float> empty({1, 2, 2});
  CHECK_THROWS_AS(empty.forward(Tensor<float, 4>({1, 1, 2, 2})), state_error);
}

TEST_CASE("backward can also give the gradient with respect to the input", "[nn]") {
  Sequential<double> net({2, 3, 1});
  net.emplace<Flatten<double>>();
  auto& linear = net.emplace<Linear<double>>(6, 2);
  Rng rng(6);
  const auto x = Tensor<double, 4>::uniform({4, 2, 3, 1}, rng, -1.0, 1.0);
  const auto r = Tensor<double, 4>::uniform({4, 2, 1, 1}, rng, -1.0, 1.0);
  net.forward(x);
  Tensor<double, 4> dx(x.shape());
  net.backward(r, dx);
  // dx = r W, through the Flatten's view.
  for (Index n = 0; n < 4; ++n) {
    for (Index i = 0; i < 6; ++i) {
      const double sum = r(n, 0, 0, 0) * linear.weight()(0, i) + r(n, 1, 0, 0) * linear.weight()(1, i);
      CHECK(dx.data()[n * 6 + i] == Approx(sum).epsilon(1e-12));
    }
  }
  Tensor<double, 4> wrong({4, 2, 1, 3});
  CHECK_THROWS_AS(net.backward(r, wrong), shape_error);
  CHECK_THROWS_WITH(net.backward(r, wrong),
                    "Sequential::backward: input gradient [4, 2, 1, 3] does not match the input [4, 2, 3, 1]");

  // A network of reshapes only: the input's gradient is the output's.
  Sequential<double> flat({2, 3, 1});
  flat.emplace<Flatten<double>>();
  flat.forward(x);
  const auto dy = Tensor<double, 4>::uniform({4, 6, 1, 1}, rng, -1.0, 1.0);
  flat.backward(dy, dx);
  CHECK(std::vector<double>(dx.begin(), dx.end()) == std::vector<double>(dy.begin(), dy.end()));
}
