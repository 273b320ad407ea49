// Every optimizer's update rule against steps worked by hand
// (w = [1, -2], constant gradient g = [0.5, 0.25]).
#include <atomic>
#include <catch2/catch.hpp>
#include <limits>

#include "fovea/optim/adagrad.hpp"
#include "fovea/optim/adam.hpp"
#include "fovea/optim/rmsprop.hpp"
#include "fovea/optim/sgd.hpp"

using fovea::Parameter;
using fovea::Tensor;

namespace {
struct OneParameter {
  Tensor<double, 1> value{{2}, {1.0, -2.0}};
  Tensor<double, 1> grad{{2}, {0.5, 0.25}};
  std::vector<Parameter<double>> params() { return {{"weight", {2}, value, grad}}; }
  void reset_grad() { grad.copy_from(Tensor<double, 1>({2}, {0.5, 0.25})); }
};
}  // namespace

TEST_CASE("SGD: plain, momentum, Nesterov and weight decay follow their rules", "[optim]") {
  SECTION("plain") {
    OneParameter p;
    fovea::Sgd<double> sgd(p.params(), {.learning_rate = 0.1});
    sgd.step();
    CHECK(p.value(0) == Approx(0.95));
    CHECK(p.value(1) == Approx(-2.025));
    CHECK(sgd.steps() == 1);
  }
  SECTION("momentum") {
    OneParameter p;
    fovea::Sgd<double> sgd(p.params(), {.learning_rate = 0.1, .momentum = 0.9});
    sgd.step();
    CHECK(p.value(0) == Approx(0.95));
    sgd.step();  // v = 0.9 * 0.5 + 0.5 = 0.95
    CHECK(p.value(0) == Approx(0.855));
    CHECK(p.value(1) == Approx(-2.0725));
  }
  SECTION("nesterov") {
    OneParameter p;
    fovea::Sgd<double> sgd(p.params(), {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true});
    sgd.step();  // v = 0.5; w -= 0.1 * (0.5 + 0.45)
    CHECK(p.value(0) == Approx(0.905));
    sgd.step();  // v = 0.95; w -= 0.1 * (0.5 + 0.855)
    CHECK(p.value(0) == Approx(0.7695));
  }
  SECTION("weight decay is added to the gradient") {
    OneParameter p;
    fovea::Sgd<double> sgd(p.params(), {.learning_rate = 0.1, .weight_decay = 0.1});
    sgd.step();  // g = 0.5 + 0.1 * 1
    CHECK(p.value(0) == Approx(0.94));
  }
  SECTION("zero_grad clears the gradients it steps on") {
    OneParameter p;
    fovea::Sgd<double> sgd(p.params(), {.learning_rate = 0.1});
    sgd.zero_grad();
    CHECK(p.grad(0) == 0);
    sgd.step();
    CHECK(p.value(0) == 1.0);
  }
  OneParameter p;
  CHECK_THROWS_WITH(fovea::Sgd<double>(p.params(), {.learning_rate = 0}),
                    "optimizer: learning rate must be positive and finite, got 0");
  CHECK_THROWS_WITH(fovea::Sgd<double>(p.params(), {.learning_rate = 0.1, .momentum = 1.0}),
                    "SGD: momentum must be in [0, 1), got 1");
  CHECK_THROWS_WITH(fovea::Sgd<double>(p.params(), {.learning_rate = 0.1, .nesterov = true}),
                    "SGD: Nesterov momentum needs momentum > 0");
}

TEST_CASE("Adam moves each weight by about lr per step under a constant gradient", "[optim]") {
  OneParameter p;
  fovea::Adam<double> adam(p.params(), {.learning_rate = 0.1});
  adam.step();  // m_hat = g, v_hat = g^2: the step is lr * g / |g|
  CHECK(p.value(0) == Approx(0.9));
  CHECK(p.value(1) == Approx(-2.1));
  adam.step();
  CHECK(p.value(0) == Approx(0.8));
  CHECK(adam.steps() == 2);

  SECTION("coupled decay enters the moments; decoupled (AdamW) shrinks the weight") {
    OneParameter q;
    fovea::Adam<double> adamw(q.params(), {.learning_rate = 0.1, .weight_decay = 0.1, .decoupled_weight_decay = true});
    adamw.step();  // w = 1 * (1 - 0.01) - 0.1
    CHECK(q.value(0) == Approx(0.89));
    CHECK(adamw.describe().rfind("AdamW", 0) == 0);
    OneParameter r;
    fovea::Adam<double> coupled(r.params(), {.learning_rate = 0.1, .weight_decay = 0.1});
    coupled.step();  // g = 0.6: still a step of lr
    CHECK(r.value(0) == Approx(0.9));
  }
  CHECK_THROWS_WITH(fovea::Adam<double>(p.params(), {.beta1 = 1.5}), "Adam: beta1 must be in [0, 1), got 1.5");
}

TEST_CASE("RMSprop and Adagrad scale by accumulated squared gradients", "[optim]") {
  SECTION("rmsprop") {
    OneParameter p;
    fovea::Rmsprop<double> rms(p.params(), {.learning_rate = 0.01, .alpha = 0.99});
    rms.step();  // s = 0.01 * 0.25; step = 0.01 * 0.5 / 0.05
    CHECK(p.value(0) == Approx(0.9));
    rms.step();  // s = 0.99 * 0.0025 + 0.0025
    CHECK(p.value(0) == Approx(0.9 - 0.01 * 0.5 / std::sqrt(0.004975)));
  }
  SECTION("adagrad") {
    OneParameter p;
    fovea::Adagrad<double> ada(p.params(), {.learning_rate = 0.1});
    ada.step();  // s = 0.25
    CHECK(p.value(0) == Approx(0.9));
    ada.step();  // s = 0.5
    CHECK(p.value(0) == Approx(0.9 - 0.1 * 0.5 / std::sqrt(0.5)));
  }
}

// A parameter large enough to be updated by several threads at once
// (Linear(400, 120) has 48,000 weights), with an odd size so the chunks end
// mid-vector: each thread's range must get exactly the one-thread update.
TEMPLATE_TEST_CASE("a large parameter is updated across threads with the bits of one thread", "[optim][threads]", float,
                   double) {
  const int saved = fovea::max_threads();
  const fovea::Index n = 100'003;
  fovea::Rng rng(21);
  const auto start = Tensor<TestType, 1>::uniform({n}, rng, -1, 1);
  const auto gradient = Tensor<TestType, 1>::uniform({n}, rng, -1, 1);
  // Beside it a small and a middling parameter: each thread takes its piece
  // of every parameter, so these are split too.
  const auto small_start = Tensor<TestType, 1>::uniform({7}, rng, -1, 1);
  const auto middle_start = Tensor<TestType, 1>::uniform({1000}, rng, -1, 1);
  const auto train = [&](int threads, auto make_optimizer) {
    fovea::set_threads(threads);
    Tensor<TestType, 1> value = start, grad({n});
    Tensor<TestType, 1> small = small_start, small_grad({7}), middle = middle_start, middle_grad({1000});
    auto optimizer = make_optimizer(std::vector<Parameter<TestType>>{
        {"weight", {n}, value, grad}, {"bias", {7}, small, small_grad}, {"other", {1000}, middle, middle_grad}});
    for (int step = 0; step < 3; ++step) {
      optimizer.zero_grad();
      CHECK(grad.vector().isZero(0));
      CHECK(small_grad.vector().isZero(0));
      CHECK(middle_grad.vector().isZero(0));
      grad.copy_from(gradient);
      small_grad.copy_from(small_start);  // any fixed values
      middle_grad.copy_from(middle_start);
      optimizer.step();
    }
    Tensor<TestType, 1> all({n + 1007});
    all.slice(0, n).copy_from(value);
    all.slice(n, n + 7).copy_from(small);
    all.slice(n + 7, n + 1007).copy_from(middle);
    return all;
  };
  const auto sgd = [](auto params) {
    return fovea::Sgd<TestType>(params, {.learning_rate = 0.1, .momentum = 0.9, .weight_decay = 0.01});
  };
  const auto nesterov = [](auto params) {
    return fovea::Sgd<TestType>(params, {.learning_rate = 0.1, .momentum = 0.9, .nesterov = true});
  };
  const auto adamw = [](auto params) {
    return fovea::Adam<TestType>(params, {.learning_rate = 0.01, .weight_decay = 0.1, .decoupled_weight_decay = true});
  };
  const auto rmsprop = [](auto params) { return fovea::Rmsprop<TestType>(params, {.learning_rate = 0.01}); };
  const auto adagrad = [](auto params) { return fovea::Adagrad<TestType>(params, {.learning_rate = 0.1}); };
  CHECK(train(2, sgd).vector() == train(1, sgd).vector());
  CHECK(train(3, nesterov).vector() == train(1, nesterov).vector());
  CHECK(train(2, adamw).vector() == train(1, adamw).vector());
  CHECK(train(2, rmsprop).vector() == train(1, rmsprop).vector());
  CHECK(train(2, adagrad).vector() == train(1, adagrad).vector());
  CHECK_FALSE(train(1, sgd).slice(0, n).vector() == start.vector());  // the updates did happen
  CHECK_FALSE(train(2, sgd).slice(n, n + 7).vector() == small_start.vector());
  fovea::set_threads(saved);
}

TEST_CASE("each thread takes its piece of every parameter, every element once", "[optim][threads]") {
  const int saved = fovea::max_threads();
  std::vector<Tensor<float, 1>> values, grads;
  for (fovea::Index size : {40'000, 5, 64, 129, 1000}) {
    values.emplace_back(fovea::Shape<1>{size});
    grads.emplace_back(fovea::Shape<1>{size});
  }
  std::vector<Parameter<float>> params;
  for (std::size_t i = 0; i < values.size(); ++i) params.push_back({"p", {values[i].size()}, values[i], grads[i]});
  for (int threads : {1, 2, 3}) {
    INFO(threads << " threads");
    fovea::set_threads(threads);
    for (auto& v : values) v.fill(0);
    std::atomic<bool> aligned{true};  // no Catch2 assertion inside the pieces: they may run on other threads
    fovea::detail::for_each_parameter_piece(params, [&](std::size_t i, fovea::Index begin, fovea::Index end) {
      if (begin % 64 != 0) aligned = false;  // cuts on whole packets: the bits of one pass
      for (fovea::Index k = begin; k < end; ++k) params[i].value.data()[k] += 1;
    });
    CHECK(aligned);
    for (const auto& v : values) CHECK((v.array() == 1.0F).all());
  }
  fovea::set_threads(saved);
}

TEST_CASE("optimizers refuse an infinite learning rate or epsilon", "[optim]") {
  OneParameter p;
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(fovea::Sgd<double>(p.params(), {.learning_rate = inf}),
                    "optimizer: learning rate must be positive and finite, got inf");
  // Finite in double, infinite once the float update multiplies by it.
  Tensor<float, 1> value({2}), grad({2});
  const std::vector<Parameter<float>> floats = {{"weight", {2}, value, grad}};
  CHECK_THROWS_WITH(fovea::Sgd<float>(floats, {.learning_rate = 1e39}),
                    Catch::StartsWith("optimizer: learning rate must be positive and finite, got "));
  fovea::Sgd<double> sgd(p.params(), {.learning_rate = 0.1});
  CHECK_THROWS_WITH(sgd.set_learning_rate(inf), "optimizer: learning rate must be positive and finite, got inf");
  CHECK(sgd.learning_rate() == 0.1);
  // An infinite epsilon divides every update down to 0: nothing would train.
  CHECK_THROWS_WITH(fovea::Adam<double>(p.params(), {.epsilon = inf}),
                    "Adam: epsilon must be positive and finite, got inf");
  CHECK_THROWS_WITH(fovea::Rmsprop<double>(p.params(), {.epsilon = inf}),
                    "RMSprop: epsilon must be positive and finite, got inf");
  CHECK_THROWS_WITH(fovea::Adagrad<double>(p.params(), {.epsilon = -1}),
                    "Adagrad: epsilon must be positive and finite, got -1.000000");
}
