#include "fovea/layers/batch_norm.hpp"

#include <unistd.h>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "fovea/io/model_file.hpp"
#include "fovea/layers/activation.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/linear.hpp"
#include "support/context_checks.hpp"
#include "support/layer_checks.hpp"

using namespace fovea;

namespace {

// The definition, one channel at a time in double.
struct NaiveBatchNorm {
  std::vector<double> mean, variance;  // biased variance of the batch
  Tensor<double, 4> y, dx;
  std::vector<double> dscale, dshift;
};
template <class T>
NaiveBatchNorm naive_batch_norm(const Tensor<T, 4>& x, const Tensor<T, 4>& dy, const std::vector<double>& scale,
                                const std::vector<double>& shift, double epsilon, bool batch_statistics,
                                const std::vector<double>& running_mean, const std::vector<double>& running_var) {
  const Index N = x.dim(0), C = x.dim(1), H = x.dim(2), W = x.dim(3);
  const double M = static_cast<double>(N * H * W);
  NaiveBatchNorm r{std::vector<double>(C),       std::vector<double>(C), Tensor<double, 4>(x.shape()),
                   Tensor<double, 4>(x.shape()), std::vector<double>(C), std::vector<double>(C)};
  for (Index c = 0; c < C; ++c) {
    double sum = 0;
    for (Index n = 0; n < N; ++n)
      for (Index h = 0; h < H; ++h)
        for (Index w = 0; w < W; ++w) sum += x(n, c, h, w);
    const double mean = sum / M;
    double squares = 0;
    for (Index n = 0; n < N; ++n)
      for (Index h = 0; h < H; ++h)
        for (Index w = 0; w < W; ++w) squares += (x(n, c, h, w) - mean) * (x(n, c, h, w) - mean);
    r.mean[c] = mean;
    r.variance[c] = squares / M;
    const double m = batch_statistics ? mean : running_mean[c];
    const double inv_std = 1 / std::sqrt((batch_statistics ? squares / M : running_var[c]) + epsilon);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (Index n = 0; n < N; ++n)
      for (Index h = 0; h < H; ++h)
        for (Index w = 0; w < W; ++w) {
          const double x_hat = (x(n, c, h, w) - m) * inv_std;
          r.y(n, c, h, w) = scale[c] * x_hat + shift[c];
          sum_dy += dy(n, c, h, w);
          sum_dy_xhat += dy(n, c, h, w) * x_hat;
        }
    r.dscale[c] = sum_dy_xhat;
    r.dshift[c] = sum_dy;
    for (Index n = 0; n < N; ++n)
      for (Index h = 0; h < H; ++h)
        for (Index w = 0; w < W; ++w) {
          const double x_hat = (x(n, c, h, w) - m) * inv_std;
          r.dx(n, c, h, w) = batch_statistics
                                 ? scale[c] * inv_std * (dy(n, c, h, w) - sum_dy / M - x_hat * sum_dy_xhat / M)
                                 : scale[c] * inv_std * dy(n, c, h, w);
        }
  }
  return r;
}

std::filesystem::path scratch(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("fovea_batch_norm_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}

}  // namespace

TEMPLATE_TEST_CASE("BatchNorm agrees with a naive reference in training and inference", "[layers][batch_norm]", float,
                   double) {
  using T = TestType;
  const double tolerance = std::is_same_v<T, float> ? 2e-5 : 1e-12;
  Rng rng(5);
  for (const Shape<4> shape : {Shape<4>{4, 3, 5, 6}, Shape<4>{7, 5, 1, 1}, Shape<4>{2, 2, 40, 30}}) {
    const Index C = shape[1];
    BatchNorm<T> norm({.channels = C, .momentum = 0.2});
    const auto params = norm.params();
    std::vector<double> scale(C), shift(C);
    for (Index c = 0; c < C; ++c) {
      params[0].value(c) = static_cast<T>(rng.uniform(0.5, 2.0));
      params[1].value(c) = static_cast<T>(rng.uniform(-1.0, 1.0));
      scale[c] = params[0].value(c);
      shift[c] = params[1].value(c);
    }
    // Off-centre data: the mean must really be subtracted.
    const auto x = Tensor<T, 4>::normal(shape, rng, T{3}, T{2});
    const auto dy = Tensor<T, 4>::normal(shape, rng, T{0}, T{1});

    // Training: batch statistics; the running ones move by momentum, the variance unbiased.
    const auto y = fovea::forward<T>(norm, x, true);
    for (auto& p : params) p.grad.fill(T{0});
    const auto dx = fovea::backward<T>(norm, x, y, dy);
    const auto want = naive_batch_norm(x, dy, scale, shift, 1e-5, true, {}, {});
    const double M = static_cast<double>(shape[0] * shape[2] * shape[3]);
    for (Index i = 0; i < x.size(); ++i) {
      CHECK(y.data()[i] == Approx(want.y.data()[i]).margin(tolerance * 10).epsilon(tolerance));
      CHECK(dx.data()[i] == Approx(want.dx.data()[i]).margin(tolerance * 10).epsilon(tolerance * 10));
    }
    for (Index c = 0; c < C; ++c) {
      CHECK(params[0].grad(c) == Approx(want.dscale[c]).margin(tolerance * M).epsilon(tolerance * 10));
      CHECK(params[1].grad(c) == Approx(want.dshift[c]).margin(tolerance * M).epsilon(tolerance * 10));
      CHECK(norm.running_mean()(c) == Approx(0.2 * want.mean[c]).epsilon(tolerance));
      CHECK(norm.running_var()(c) == Approx(0.8 + 0.2 * want.variance[c] * M / (M - 1)).epsilon(tolerance));
    }

    // Inference: the running statistics, a per-channel affine map; they do not move.
    std::vector<double> running_mean(C), running_var(C);
    for (Index c = 0; c < C; ++c) {
      running_mean[c] = norm.running_mean()(c);
      running_var[c] = norm.running_var()(c);
    }
    const auto y_inference = fovea::forward<T>(norm, x, false);
    for (auto& p : params) p.grad.fill(T{0});
    const auto dx_inference = fovea::backward<T>(norm, x, y_inference, dy);
    const auto fixed = naive_batch_norm(x, dy, scale, shift, 1e-5, false, running_mean, running_var);
    for (Index i = 0; i < x.size(); ++i) {
      CHECK(y_inference.data()[i] == Approx(fixed.y.data()[i]).margin(tolerance * 10).epsilon(tolerance));
      CHECK(dx_inference.data()[i] == Approx(fixed.dx.data()[i]).margin(tolerance * 10).epsilon(tolerance));
    }
    for (Index c = 0; c < C; ++c) {
      CHECK(params[0].grad(c) == Approx(fixed.dscale[c]).margin(tolerance * M).epsilon(tolerance * 10));
      CHECK(norm.running_mean()(c) == static_cast<T>(running_mean[c]));
    }
  }
}

TEST_CASE("BatchNorm's output has zero mean and unit variance per channel in training", "[layers][batch_norm]") {
  Rng rng(6);
  BatchNorm<double> norm({.channels = 2});
  const auto x = Tensor<double, 4>::normal({5, 2, 3, 3}, rng, 10.0, 4.0);
  const auto y = fovea::forward<double>(norm, x, true);
  for (Index c = 0; c < 2; ++c) {
    double sum = 0, squares = 0;
    for (Index n = 0; n < 5; ++n)
      for (Index i = 0; i < 9; ++i) sum += y(n, c, i / 3, i % 3);
    for (Index n = 0; n < 5; ++n)
      for (Index i = 0; i < 9; ++i) squares += y(n, c, i / 3, i % 3) * y(n, c, i / 3, i % 3);
    CHECK(sum / 45 == Approx(0).margin(1e-12));
    CHECK(squares / 45 == Approx(1).epsilon(1e-5));  // epsilon 1e-5 in the denominator
  }
}

TEST_CASE("BatchNorm gradients agree with finite differences", "[layers][batch_norm][gradcheck]") {
  Rng rng(7);
  for (const bool affine : {true, false}) {
    for (const bool training : {true, false}) {
      for (const Shape<4> shape : {Shape<4>{3, 2, 3, 4}, Shape<4>{6, 4, 1, 1}}) {
        BatchNorm<double> norm({.channels = shape[1], .affine = affine});
        for (const auto& p : norm.params()) {
          for (double& v : p.value) v = rng.uniform(0.5, 1.5) * (p.name == "bias" ? 0.3 : 1.0);
        }
        // Running statistics away from 0 and 1, so inference is not the identity.
        fovea::forward<double>(norm, Tensor<double, 4>::normal(shape, rng, 1.0, 2.0), true);
        const auto x = Tensor<double, 4>::normal(shape, rng, 0.5, 1.5);
        const auto result = testing::check_gradients(norm, x, {.training = training});
        INFO(norm.describe() << (training ? " training" : " inference") << " on " << to_string(shape) << ", worst "
                             << result.worst);
        CHECK(result.checked == x.size() + (affine ? 2 * shape[1] : 0));
        CHECK(result.ok);
      }
    }
  }
}

TEST_CASE("BatchNorm describes itself, counts FLOPs and rebuilds from its spec", "[layers][batch_norm]") {
  BatchNorm<float> norm({.channels = 16});
  CHECK(norm.describe() == "BatchNorm(16)");
  CHECK(norm.spec() == LayerSpec{"BatchNorm", {{"channels", 16}, {"momentum", 0.1}, {"epsilon", 1e-5}, {"affine", 1}}});
  CHECK(norm.output_shape({16, 7, 5}) == SampleShape{16, 7, 5});
  CHECK(norm.flops_per_sample({16, 7, 5}) == 2.0 * 16 * 35);
  CHECK(norm.parameter_count() == 32);
  CHECK(norm.params()[0].name == "weight");
  CHECK(norm.params()[1].name == "bias");
  CHECK(norm.params()[0].value(3) == 1.0F);
  CHECK(norm.params()[1].value(3) == 0.0F);
  REQUIRE(norm.buffers().size() == 2);
  CHECK(norm.buffers()[0].name == "running_mean");
  CHECK(norm.buffers()[1].name == "running_var");
  CHECK(norm.buffers()[1].value(0) == 1.0F);
  const auto rebuilt = BatchNorm<float>::from_spec(norm.spec());
  CHECK(rebuilt.spec() == norm.spec());

  BatchNorm<float> plain({.channels = 3, .momentum = 0.01, .epsilon = 1e-3, .affine = false});
  CHECK(plain.describe() == "BatchNorm(3, momentum=0.01, eps=0.001, no affine)");
  CHECK(plain.params().empty());
  CHECK(BatchNorm<float>::from_spec(plain.spec()).describe() == plain.describe());
  fovea::test::check_forward_record(plain, Tensor<float, 4>::full({2, 3, 2, 2}, 1.0F));
}

TEST_CASE("BatchNorm rejects bad settings and inputs with clear messages", "[layers][batch_norm][errors]") {
  CHECK_THROWS_AS(BatchNorm<float>({.channels = 0}), value_error);
  CHECK_THROWS_WITH(BatchNorm<float>({.channels = 0}), "BatchNorm: channels must be positive, got 0");
  CHECK_THROWS_WITH(BatchNorm<float>({.channels = 2, .momentum = 1.5}),
                    "BatchNorm: momentum must be in [0, 1], got 1.5");
  CHECK_THROWS_WITH(BatchNorm<float>({.channels = 2, .momentum = NAN}),
                    "BatchNorm: momentum must be in [0, 1], got nan");
  CHECK_THROWS_WITH(BatchNorm<float>({.channels = 2, .epsilon = 0}),
                    "BatchNorm: epsilon must be positive and finite, got 0");
  CHECK_THROWS_WITH(BatchNorm<float>::from_spec({"BatchNorm", {{"channels", 2}}}),
                    "BatchNorm: missing setting 'momentum'");
  CHECK_THROWS_WITH(BatchNorm<float>::from_spec({"ReLU", {}}), "BatchNorm::from_spec: spec is for a 'ReLU' layer");

  BatchNorm<float> norm({.channels = 3});
  CHECK_THROWS_AS(norm.output_shape({4, 5, 5}), shape_error);
  CHECK_THROWS_WITH(norm.output_shape({4, 5, 5}), "BatchNorm(3)::output_shape: input [4, 5, 5], expected 3 channel(s)");
  // One value per channel: no variance to normalise by in training; inference is fine.
  const Tensor<float, 4> single({1, 3, 1, 1});
  Tensor<float, 4> y({1, 3, 1, 1});
  CHECK_THROWS_AS(norm.forward(single, y, true), value_error);
  CHECK_THROWS_WITH(norm.forward(single, y, true),
                    "BatchNorm(3)::forward: training on input [1, 3, 1, 1] has one value per channel; batch "
                    "statistics need at least 2 (use inference mode)");
  CHECK_NOTHROW(norm.forward(single, y, false));
  CHECK_THROWS_WITH(
      batch_norm_statistics<float>(single, 1e-5, Tensor<float, 1>({3}), Tensor<float, 1>({3}), Tensor<float, 1>({3})),
      "batch_norm_statistics: input [1, 3, 1, 1] has one value per channel; batch statistics need at "
      "least 2");
  Tensor<float, 1> two({2}), three({3});
  CHECK_THROWS_WITH(batch_norm_forward<float>(single, two, three, three, three, y),
                    "batch_norm_forward: mean [2], expected [3] (one per channel)");
}

TEMPLATE_TEST_CASE("BatchNorm runs in two contexts at once as in one alone", "[layers][batch_norm][context]", float,
                   double) {
  using T = TestType;
  Rng rng(17);
  // Different statistics in the two lanes: a shared mean or inv_std would show.
  const auto xa = Tensor<T, 4>::normal({3, 4, 5, 5}, rng, T{1}, T{2});
  const auto xb = Tensor<T, 4>::normal({2, 4, 5, 5}, rng, T{-3}, T{0.5});
  for (bool affine : {true, false}) {
    BatchNorm<T> norm({.channels = 4, .affine = affine});
    for (auto& p : norm.params()) {
      for (T& v : p.value) v = static_cast<T>(rng.uniform(0.5, 1.5));
    }
    fovea::test::check_interleaved_contexts<T>(norm, xa, xb);
    fovea::test::check_interleaved_contexts<T>(norm, xa, xb, {.training = false});
    fovea::test::check_interleaved_contexts<T>(norm, xa, xb, {.relu_epilogue = true});
  }
}

TEMPLATE_TEST_CASE("BatchNorm's clamp epilogue gives the bits of BatchNorm then ReLU, ReLU6 or Clip",
                   "[layers][batch_norm][context]", float, double) {
  using T = TestType;
  Rng rng(18);
  BatchNorm<T> norm({.channels = 3});
  for (auto& p : norm.params()) {
    for (T& v : p.value) v = static_cast<T>(rng.uniform(-1.5, 1.5));
  }
  const auto x = Tensor<T, 4>::normal({4, 3, 5, 6}, rng, T{0.2}, T{1});
  const auto dy = Tensor<T, 4>::uniform(x.shape(), rng, T{-1}, T{1});
  // One execution of the layer: a context that leaves the running statistics
  // alone, with the epilogue asked for, and zeroed gradients of its own.
  struct Execution {
    Tensor<T, 1> dscale{Shape<1>{3}}, dshift{Shape<1>{3}};
    std::unique_ptr<fovea::LayerContext<T>> context;
    Execution(const BatchNorm<T>& norm, bool training, std::optional<fovea::Clamp> epilogue)
        : context(norm.make_context()) {
      dscale.fill(T{0});
      dshift.fill(T{0});
      context->training = training;
      context->update_buffers = false;
      context->epilogue = epilogue;
      context->gradients = {dscale.view(), dshift.view()};
    }
  };
  // The clamps as the activation layers report them.
  for (const fovea::Clamp clamp :
       {*fovea::ReLU<T>().clamp(), *fovea::ReLU6<T>().clamp(), *fovea::Clip<T>(-0.5, 0.75).clamp()}) {
    REQUIRE(norm.supports_epilogue(clamp));
    const auto low = static_cast<T>(clamp.low), high = static_cast<T>(clamp.high);
    for (const bool training : {true, false}) {
      INFO((training ? "training" : "inference") << ", clamp [" << clamp.low << ", " << clamp.high << "]");
      // Apart: y = BatchNorm(x), then the clamp, whose backward passes dy where low < y < high.
      Execution apart(norm, training, std::nullopt);
      Tensor<T, 4> y(x.shape()), dx_apart(x.shape()), clamped_y(x.shape()), clamped_dy(x.shape());
      norm.forward(x, y, *apart.context);
      for (Index i = 0; i < y.size(); ++i) {
        clamped_y.data()[i] = std::min(std::max(y.data()[i], low), high);
        clamped_dy.data()[i] = y.data()[i] > low && y.data()[i] < high ? dy.data()[i] : T{0};
      }
      norm.backward(x, y, clamped_dy, dx_apart, *apart.context);

      // Fused: the layer applies the clamp and takes y and dy after it.
      Execution fused(norm, training, clamp);
      Tensor<T, 4> y_fused(x.shape()), dx_fused(x.shape());
      norm.forward(x, y_fused, *fused.context);
      norm.backward(x, y_fused, dy, dx_fused, *fused.context);

      CHECK((y_fused.array() == clamped_y.array()).all());
      CHECK((dx_fused.array() == dx_apart.array()).all());
      CHECK((fused.dscale.array() == apart.dscale.array()).all());
      CHECK((fused.dshift.array() == apart.dshift.array()).all());
      CHECK((clamped_y.array() == low).any());                       // the clamp cut something
      if (clamp.high < 1) CHECK((clamped_y.array() == high).any());  // the Clip's upper bound too
    }
  }
}

TEST_CASE("BatchNorm's training forwards move the running statistics, inference ones only read them",
          "[layers][batch_norm][context]") {
  Rng rng(18);
  const auto x = Tensor<double, 4>::normal({4, 2, 3, 3}, rng, 5.0, 2.0);
  Tensor<double, 4> y(x.shape());
  BatchNorm<double> norm({.channels = 2, .momentum = 0.5});
  auto inference = norm.make_context();
  inference->training = false;
  norm.forward(x, y, *inference);
  CHECK(norm.running_mean()(0) == 0);
  CHECK(norm.running_var()(1) == 1);

  auto training = norm.make_context();
  norm.forward(x, y, *training);
  double sum = 0;
  for (Index n = 0; n < 4; ++n)
    for (Index h = 0; h < 3; ++h)
      for (Index w = 0; w < 3; ++w) sum += x(n, 0, h, w);
  CHECK(norm.running_mean()(0) == Approx(0.5 * sum / 36));
  CHECK(norm.running_var()(1) != 1);
}

TEST_CASE("BatchNorm's parameters and running statistics survive a save and load", "[layers][batch_norm][io]") {
  Rng rng(8);
  Sequential<float> net({3, 4, 4});
  net.emplace<BatchNorm<float>>(BatchNormOptions{.channels = 3, .momentum = 0.3});
  net.emplace<Flatten<float>>();
  net.emplace<Linear<float>>(48, 2);
  initialize_all(net.layer(2).params(), {}, rng);
  for (const auto& p : net.layer(0).params()) {
    for (float& v : p.value) v = static_cast<float>(rng.uniform(0.5, 1.5));
  }
  for (int step = 0; step < 3; ++step) net.forward(Tensor<float, 4>::normal({5, 3, 4, 4}, rng, 2.0F, 3.0F));
  const auto path = scratch("batch_norm.fovea");
  save(net, path);

  Sequential<float> loaded = load<float>(path);
  REQUIRE(loaded.size() == 3);
  CHECK(loaded.layer(0).describe() == "BatchNorm(3, momentum=0.3)");
  for (std::size_t b = 0; b < 2; ++b) {
    const auto want = net.layer(0).buffers()[b].value;
    const auto got = loaded.layer(0).buffers()[b].value;
    for (Index c = 0; c < 3; ++c) CHECK(got(c) == want(c));
  }
  net.set_training(false);
  loaded.set_training(false);
  const auto test_batch = Tensor<float, 4>::normal({4, 3, 4, 4}, rng, 2.0F, 3.0F);
  const auto a = net.predict(test_batch);
  const auto b = loaded.predict(test_batch);
  CHECK(std::equal(a.begin(), a.end(), b.begin()));

  // Into a network of the same architecture whose statistics are still the initial ones.
  Sequential<float> fresh({3, 4, 4});
  fresh.emplace<BatchNorm<float>>(BatchNormOptions{.channels = 3, .momentum = 0.3});
  fresh.emplace<Flatten<float>>();
  fresh.emplace<Linear<float>>(48, 2);
  load_into(fresh, path);
  CHECK(fresh.layer(0).buffers()[1].value(2) == net.layer(0).buffers()[1].value(2));
  CHECK(fresh.layer(0).buffers()[1].value(2) != 1.0F);
  std::filesystem::remove_all(path.parent_path());
}

TEST_CASE("BatchNorm gives the same bits on one thread and on several", "[layers][batch_norm][threads]") {
  const int saved = max_threads();
  Rng rng(40);
  const auto x = Tensor<float, 4>::normal({8, 16, 16, 16}, rng, 1.0F, 2.0F);  // above the parallel threshold
  const auto dy = Tensor<float, 4>::normal(x.shape(), rng, 0.0F, 1.0F);
  std::vector<float> first;
  for (const int threads : {1, 2, 3}) {
    set_threads(threads);
    BatchNorm<float> layer({.channels = 16});
    const auto y = fovea::forward<float>(layer, x);
    const auto dx = fovea::backward<float>(layer, x, y, dy);
    std::vector<float> bits(y.begin(), y.end());
    bits.insert(bits.end(), dx.begin(), dx.end());
    for (const auto& p : layer.params()) bits.insert(bits.end(), p.grad.begin(), p.grad.end());
    if (first.empty()) first = bits;
    CHECK(std::memcmp(bits.data(), first.data(), first.size() * sizeof(float)) == 0);
  }
  set_threads(saved);
}
