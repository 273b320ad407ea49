#include "fovea/layers/conv2d.hpp"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <new>

#include "fovea/testing/gradcheck.hpp"
#include "support/context_checks.hpp"
#include "support/naive_conv.hpp"

// Every heap allocation in this program is counted, so a test can show that a
// steady-state forward and backward allocate nothing.
namespace {
std::atomic<long> heap_allocations{0};
void* counted_alloc(std::size_t size, std::size_t alignment) {
  ++heap_allocations;
  const std::size_t rounded = (std::max<std::size_t>(size, 1) + alignment - 1) / alignment * alignment;
  if (void* p = std::aligned_alloc(alignment, rounded)) return p;
  throw std::bad_alloc();
}
}  // namespace
void* operator new(std::size_t size) { return counted_alloc(size, alignof(std::max_align_t)); }
void* operator new(std::size_t size, std::align_val_t a) { return counted_alloc(size, static_cast<std::size_t>(a)); }
// The nothrow forms too (Catch2 uses them), so every allocation meets our free().
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  try {
    return counted_alloc(size, alignof(std::max_align_t));
  } catch (const std::bad_alloc&) {
    return nullptr;
  }
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using fovea::Conv2d;
using fovea::Conv2dOptions;
using fovea::Index;
using fovea::Padding;
using fovea::SampleShape;
using fovea::Tensor;

namespace {

// Copies values into the layer's parameters through params(), as an initialiser would.
template <class T>
void set_params(Conv2d<T>& conv, const Tensor<T, 4>& weight, const Tensor<T, 1>& bias) {
  for (auto& p : conv.params()) {
    if (p.name == "weight") p.value.copy_from(weight.flatten());
    if (p.name == "bias") p.value.copy_from(bias.flatten());
  }
}

// The same values rounded to float.
template <std::size_t Rank>
Tensor<float, Rank> to_float(const Tensor<double, Rank>& t) {
  Tensor<float, Rank> out(t.shape());
  for (Index i = 0; i < t.size(); ++i) out.data()[i] = static_cast<float>(t.data()[i]);
  return out;
}

template <class T>
Conv2d<T> layer_for(const naive::ConvCase& c) {
  return Conv2d<T>({.in_channels = c.Cin,
                    .out_channels = c.Cout,
                    .kernel = {c.KH, c.KW},
                    .stride = {c.s.stride_h, c.s.stride_w},
                    .padding = {c.s.pad_h, c.s.bottom(), c.s.pad_w, c.s.right()},
                    .dilation = {c.s.dilation_h, c.s.dilation_w},
                    .groups = c.s.groups,
                    .bias = c.bias});
}

}  // namespace

TEMPLATE_TEST_CASE("Conv2d describes itself and exposes true parameter shapes", "[conv2d]", float, double) {
  Conv2d<TestType> lenet({.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2});
  CHECK(lenet.describe() == "Conv2d(1->6, k5x5, s1, p2)");
  auto params = lenet.params();
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[0].shape == std::vector<Index>{6, 1, 5, 5});
  CHECK(params[0].value.size() == 150);
  CHECK(params[0].grad.size() == 150);
  CHECK(params[1].name == "bias");
  CHECK(params[1].shape == std::vector<Index>{6});
  CHECK(lenet.parameter_count() == 156);
  // The default start, uniform in +-1/sqrt(Cin*KH*KW) = +-0.2, the same for
  // the same seed (Conv2dOptions::seed) and other for another.
  for (const auto& p : params) {
    CHECK(p.value.array().abs().maxCoeff() < TestType(0.2));
    CHECK_FALSE(p.value.array().isZero(0));
  }
  Conv2d<TestType> same({.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2});
  Conv2d<TestType> reseeded({.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2, .seed = 3});
  CHECK(same.params()[0].value.array().isApprox(params[0].value.array(), TestType(0)));
  CHECK(same.params()[1].value.array().isApprox(params[1].value.array(), TestType(0)));
  CHECK_FALSE(reseeded.params()[0].value.array().isApprox(params[0].value.array(), TestType(0)));
  fovea::Rng rng(fovea::default_init_seed);
  CHECK(params[0].value(0) == static_cast<TestType>(rng.uniform(-0.2, 0.2)));
  CHECK(lenet.flops_per_sample({1, 28, 28}) == 2.0 * 6 * 25 * 28 * 28);

  Conv2d<TestType> odd({.in_channels = 3,
                        .out_channels = 8,
                        .kernel = {3, 5},
                        .stride = {2, 1},
                        .padding = {1, 2},
                        .dilation = 2,
                        .bias = false});
  CHECK(odd.describe() == "Conv2d(3->8, k3x5, s2x1, p1x2, d2, no bias)");
  REQUIRE(odd.params().size() == 1);
  CHECK(odd.params()[0].shape == std::vector<Index>{8, 3, 3, 5});
  CHECK(odd.bias().empty());
}

TEMPLATE_TEST_CASE("Conv2d reproduces the worked examples", "[conv2d]", float, double) {
  SECTION("the 5x5 binary image and the X-shaped filter") {
    Conv2d<TestType> conv({.in_channels = 1, .out_channels = 1, .kernel = 3, .bias = false});
    set_params(conv, Tensor<TestType, 4>({1, 1, 3, 3}, {1, 0, 1, 0, 1, 0, 1, 0, 1}), {});
    const Tensor<TestType, 4> x({1, 1, 5, 5},
                                {1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0});
    const auto y = fovea::forward<TestType>(conv, x);
    REQUIRE(y.shape() == fovea::Shape<4>{1, 1, 3, 3});
    const Tensor<TestType, 4> expected({1, 1, 3, 3}, {4, 3, 4, 2, 4, 3, 2, 3, 4});
    CHECK(y.matrix(3) == expected.matrix(3));
  }
  SECTION("32x32x3, ten 5x5 filters, stride 1, pad 2: 32x32x10 and 760 parameters") {
    Conv2d<TestType> conv({.in_channels = 3, .out_channels = 10, .kernel = 5, .padding = 2});
    CHECK(conv.output_shape({3, 32, 32}) == SampleShape{10, 32, 32});
    CHECK(conv.parameter_count() == 760);
  }
  SECTION("227x227x3, 96 11x11 filters, stride 4, no padding: 55x55x96") {
    Conv2d<TestType> conv({.in_channels = 3, .out_channels = 96, .kernel = 11, .stride = 4});
    CHECK(conv.output_shape({3, 227, 227}) == SampleShape{96, 55, 55});
    CHECK(conv.parameter_count() == 96 * 3 * 11 * 11 + 96);
  }
  SECTION("7x7 with 3x3: 5x5 at stride 1, 3x3 at stride 2") {
    CHECK(Conv2d<TestType>({.in_channels = 1, .out_channels = 1, .kernel = 3}).output_shape({1, 7, 7}) ==
          SampleShape{1, 5, 5});
    CHECK(Conv2d<TestType>({.in_channels = 1, .out_channels = 1, .kernel = 3, .stride = 2}).output_shape({1, 7, 7}) ==
          SampleShape{1, 3, 3});
  }
}

TEMPLATE_TEST_CASE("Padding::same keeps the size at stride 1 and valid pads nothing", "[conv2d]", float, double) {
  Conv2d<TestType> same5({.in_channels = 1, .out_channels = 2, .kernel = 5, .padding = Padding::same});
  CHECK(same5.describe() == "Conv2d(1->2, k5x5, s1, p2)");
  CHECK(same5.output_shape({1, 28, 28}) == SampleShape{2, 28, 28});
  Conv2d<TestType> same_rect({.in_channels = 1, .out_channels = 2, .kernel = {3, 7}, .padding = Padding::same});
  CHECK(same_rect.output_shape({1, 9, 10}) == SampleShape{2, 9, 10});
  Conv2d<TestType> dilated({.in_channels = 1, .out_channels = 2, .kernel = 3, .padding = Padding::same, .dilation = 2});
  CHECK(dilated.describe() == "Conv2d(1->2, k3x3, s1, p2, d2)");
  CHECK(dilated.output_shape({1, 6, 5}) == SampleShape{2, 6, 5});
  Conv2d<TestType> strided({.in_channels = 1, .out_channels = 2, .kernel = 3, .stride = 2, .padding = Padding::same});
  CHECK(strided.output_shape({1, 7, 8}) == SampleShape{2, 4, 4});  // ceil(I/S)
  Conv2d<TestType> valid({.in_channels = 1, .out_channels = 2, .kernel = 3, .padding = Padding::valid});
  CHECK(valid.describe() == "Conv2d(1->2, k3x3, s1, p0)");
  CHECK(valid.output_shape({1, 7, 7}) == SampleShape{2, 5, 5});
  CHECK_THROWS_AS(Conv2d<TestType>({.in_channels = 1, .out_channels = 2, .kernel = 4, .padding = Padding::same}),
                  fovea::value_error);
  CHECK_THROWS_WITH(Conv2d<TestType>({.in_channels = 1, .out_channels = 2, .kernel = {3, 4}, .padding = Padding::same}),
                    "Conv2d: Padding::same needs an odd kernel extent, got 3x4");
}

TEMPLATE_TEST_CASE("Conv2d rejects bad options with the value it got", "[conv2d][errors]", float, double) {
  using C = Conv2d<TestType>;
  CHECK_THROWS_AS(C({.in_channels = 0, .out_channels = 6, .kernel = 5}), fovea::value_error);
  CHECK_THROWS_WITH(C({.in_channels = 0, .out_channels = 6, .kernel = 5}),
                    "Conv2d: in_channels must be positive, got 0");
  CHECK_THROWS_WITH(C({.in_channels = 1, .out_channels = -1, .kernel = 5}),
                    "Conv2d: out_channels must be positive, got -1");
  CHECK_THROWS_WITH(C({.in_channels = 1, .out_channels = 6, .kernel = {0, 3}}),
                    "Conv2d: kernel must be positive, got 0x3");
  CHECK_THROWS_WITH(C({.in_channels = 1, .out_channels = 6, .kernel = 3, .stride = {1, 0}}),
                    "Conv2d: stride must be positive, got 1x0");
  CHECK_THROWS_WITH(C({.in_channels = 1, .out_channels = 6, .kernel = 3, .padding = -1}),
                    "Conv2d: padding must be non-negative, got -1x-1");
  CHECK_THROWS_WITH(C({.in_channels = 1, .out_channels = 6, .kernel = 3, .dilation = 0}),
                    "Conv2d: dilation must be positive, got 0x0");
  CHECK_THROWS_WITH(C({.in_channels = 1, .out_channels = 6, .kernel = 3, .padding = {1, 0, -2, 1}}),
                    "Conv2d: padding must be non-negative, got (t1, b0, l-2, r1)");
  CHECK_THROWS_AS(C({.in_channels = 6, .out_channels = 6, .kernel = 3, .groups = 0}), fovea::value_error);
  CHECK_THROWS_WITH(C({.in_channels = 6, .out_channels = 6, .kernel = 3, .groups = 0}),
                    "Conv2d: groups must be positive, got 0");
  CHECK_THROWS_WITH(C({.in_channels = 6, .out_channels = 8, .kernel = 3, .groups = 3}),
                    "Conv2d: in_channels 6 and out_channels 8 must be multiples of groups 3");
  CHECK_THROWS_WITH(C({.in_channels = 4, .out_channels = 6, .kernel = 3, .groups = 3}),
                    "Conv2d: in_channels 4 and out_channels 6 must be multiples of groups 3");
}

TEMPLATE_TEST_CASE("Conv2d::output_shape names the layer and both shapes", "[conv2d][errors]", float, double) {
  Conv2d<TestType> lenet({.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2});
  CHECK_THROWS_AS(lenet.output_shape({3, 28, 28}), fovea::shape_error);
  CHECK_THROWS_WITH(lenet.output_shape({3, 28, 28}),
                    "Conv2d(1->6, k5x5, s1, p2): input [3, 28, 28], expected 1 channel(s)");

  Conv2d<TestType> valid({.in_channels = 1, .out_channels = 6, .kernel = 5});
  CHECK_THROWS_WITH(valid.output_shape({1, 3, 9}),
                    "Conv2d(1->6, k5x5, s1, p0): input [1, 3, 9], height: kernel extent "
                    "5 is larger than the padded input 3 + 2*0 = 3");
  CHECK_THROWS_WITH(valid.output_shape({1, 9, 4}),
                    "Conv2d(1->6, k5x5, s1, p0): input [1, 9, 4], width: kernel extent "
                    "5 is larger than the padded input 4 + 2*0 = 4");

  Conv2d<TestType> strict({.in_channels = 1, .out_channels = 1, .kernel = 3, .stride = 2, .strict = true});
  CHECK(strict.output_shape({1, 11, 11}) == SampleShape{1, 5, 5});
  CHECK_THROWS_WITH(strict.output_shape({1, 10, 11}),
                    "Conv2d(1->1, k3x3, s2, p0): input [1, 10, 11], height: (10 - 3 "
                    "+ 2*0)/2 + 1 = 4.5 is not an integer");
  Conv2d<TestType> loose({.in_channels = 1, .out_channels = 1, .kernel = 3, .stride = 2});
  CHECK(loose.output_shape({1, 10, 11}) == SampleShape{1, 4, 5});
}

TEMPLATE_TEST_CASE("Conv2d forward and backward report misuse", "[conv2d][errors]", float, double) {
  Conv2d<TestType> conv({.in_channels = 1, .out_channels = 2, .kernel = 3, .padding = 1});
  Tensor<TestType, 4> x({4, 1, 6, 6}), y({4, 2, 6, 6}), dx({4, 1, 6, 6});
  CHECK_THROWS_AS(conv.backward(x, y, y, dx), fovea::state_error);
  CHECK_THROWS_WITH(conv.backward(x, y, y, dx), "Conv2d(1->2, k3x3, s1, p1)::backward: called before forward");
  Tensor<TestType, 4> y_wrong({4, 2, 4, 4});
  CHECK_THROWS_WITH(conv.forward(x, y_wrong, true),
                    "Conv2d(1->2, k3x3, s1, p1)::forward: output buffer [4, 2, 4, 4], "
                    "expected [4, 2, 6, 6] for input [4, 1, 6, 6]");
  Tensor<TestType, 4> x_rgb({4, 3, 6, 6});
  CHECK_THROWS_WITH(conv.forward(x_rgb, y, true), "Conv2d(1->2, k3x3, s1, p1): input [3, 6, 6], expected 1 channel(s)");
  conv.forward(x, y, true);
  CHECK_THROWS_AS(conv.backward(x, y, y_wrong, dx), fovea::shape_error);
  CHECK_THROWS_WITH(conv.backward(x, y, y_wrong, dx),
                    "Conv2d(1->2, k3x3, s1, p1)::backward: gradient [4, 2, 4, 4] does "
                    "not match the forward output [4, 2, 6, 6]");
  Tensor<TestType, 4> dx_wrong({4, 1, 5, 5});
  CHECK_THROWS_WITH(conv.backward(x, y, y, dx_wrong),
                    "Conv2d(1->2, k3x3, s1, p1)::backward: input gradient buffer [4, "
                    "1, 5, 5], expected [4, 1, 6, 6]");
}

TEMPLATE_TEST_CASE("Conv2d rebuilds itself from its spec", "[conv2d]", float, double) {
  Conv2d<TestType> conv({.in_channels = 3,
                         .out_channels = 8,
                         .kernel = {3, 5},
                         .stride = {2, 1},
                         .padding = Padding::same,
                         .dilation = {1, 2},
                         .bias = false,
                         .strict = true});
  const fovea::LayerSpec spec = conv.spec();
  CHECK(spec.type == "Conv2d");
  CHECK(spec.get("in") == 3);
  CHECK(spec.get("out") == 8);
  CHECK(spec.get("kh") == 3);
  CHECK(spec.get("kw") == 5);
  CHECK(spec.get("sh") == 2);
  CHECK(spec.get("sw") == 1);
  CHECK(spec.get("ph") == 1);  // same padding is stored resolved
  CHECK(spec.get("pw") == 4);
  CHECK(spec.get("pb") == 1);
  CHECK(spec.get("pr") == 4);
  CHECK(spec.get("dh") == 1);
  CHECK(spec.get("dw") == 2);
  CHECK(spec.get("groups") == 1);
  CHECK(spec.get("bias") == 0);
  CHECK(spec.get("strict") == 1);
  const auto rebuilt = Conv2d<TestType>::from_spec(spec);
  CHECK(rebuilt.describe() == conv.describe());
  CHECK(rebuilt.spec() == spec);
  CHECK(rebuilt.window() == conv.window());

  CHECK_THROWS_AS(Conv2d<TestType>::from_spec({"Linear", {}}), fovea::format_error);
  CHECK_THROWS_WITH(Conv2d<TestType>::from_spec({"Linear", {}}), "Conv2d::from_spec: spec is for a 'Linear' layer");
  CHECK_THROWS_WITH(Conv2d<TestType>::from_spec({"Conv2d", {{"in", 1}, {"out", 2}}}), "Conv2d: missing setting 'kh'");
}

TEMPLATE_TEST_CASE("Conv2d with groups and one-sided padding: shapes, description and spec", "[conv2d][groups]", float,
                   double) {
  Conv2d<TestType> depthwise({.in_channels = 6, .out_channels = 12, .kernel = 3, .padding = 1, .groups = 6});
  CHECK(depthwise.describe() == "Conv2d(6->12, k3x3, s1, p1, g6)");
  CHECK(depthwise.groups() == 6);
  CHECK(depthwise.params()[0].shape == std::vector<Index>{12, 1, 3, 3});
  CHECK(depthwise.weight().shape() == fovea::Shape<4>{12, 1, 3, 3});
  CHECK(depthwise.flops_per_sample({6, 8, 8}) == 2.0 * 12 * 8 * 8 * 9);
  CHECK(depthwise.output_shape({6, 8, 8}) == SampleShape{12, 8, 8});
  CHECK_THROWS_WITH(depthwise.output_shape({4, 8, 8}),
                    "Conv2d(6->12, k3x3, s1, p1, g6): input [4, 8, 8], expected 6 channel(s)");

  // TensorFlow's "same" at stride 2 on an even input: one more row and column after than before.
  Conv2d<TestType> tf({.in_channels = 4,
                       .out_channels = 6,
                       .kernel = 3,
                       .stride = 2,
                       .padding = {0, 1, 0, 1},
                       .groups = 2,
                       .bias = false});
  CHECK(tf.describe() == "Conv2d(4->6, k3x3, s2, p(t0, b1, l0, r1), g2, no bias)");
  CHECK(tf.params()[0].shape == std::vector<Index>{6, 2, 3, 3});
  CHECK(tf.output_shape({4, 8, 8}) == SampleShape{6, 4, 4});
  CHECK_THROWS_WITH(tf.output_shape({4, 1, 8}),
                    "Conv2d(4->6, k3x3, s2, p(t0, b1, l0, r1), g2, no bias): input [4, 1, 8], height: kernel extent 3 "
                    "is larger than the padded input 1 + 0 + 1 = 2");

  const fovea::LayerSpec spec = tf.spec();
  CHECK(spec.get("ph") == 0);
  CHECK(spec.get("pb") == 1);
  CHECK(spec.get("pw") == 0);
  CHECK(spec.get("pr") == 1);
  CHECK(spec.get("groups") == 2);
  const auto rebuilt = Conv2d<TestType>::from_spec(spec);
  CHECK(rebuilt.describe() == tf.describe());
  CHECK(rebuilt.spec() == spec);
  CHECK(rebuilt.window() == tf.window());
  CHECK(rebuilt.groups() == 2);
}

TEMPLATE_TEST_CASE("Conv2d loads a spec written before groups and one-sided padding", "[conv2d][groups]", float,
                   double) {
  // The settings a file of an earlier version holds: no pb, pr or groups.
  const fovea::LayerSpec old{"Conv2d",
                             {{"in", 3},
                              {"out", 4},
                              {"kh", 3},
                              {"kw", 3},
                              {"sh", 1},
                              {"sw", 1},
                              {"ph", 1},
                              {"pw", 2},
                              {"dh", 1},
                              {"dw", 1},
                              {"bias", 1},
                              {"strict", 0}}};
  const auto conv = Conv2d<TestType>::from_spec(old);
  CHECK(conv.describe() == "Conv2d(3->4, k3x3, s1, p1x2)");
  CHECK(conv.groups() == 1);
  CHECK(conv.window().pad_bottom == 1);
  CHECK(conv.window().pad_right == 2);
}

TEST_CASE("Conv2d with groups or one-sided padding agrees with the naive loops in float and double",
          "[conv2d][groups]") {
  fovea::Rng rng(23);
  std::vector<naive::ConvCase> cases = naive::grouped_cases();
  const std::vector<naive::ConvCase> asymmetric = naive::asymmetric_cases();
  cases.insert(cases.end(), asymmetric.begin(), asymmetric.end());
  for (const naive::ConvCase& c : cases) {
    INFO(c.describe());
    auto single = layer_for<float>(c);
    auto twice = layer_for<double>(c);
    const auto w = Tensor<double, 4>::uniform({c.Cout, c.Cin / c.s.groups, c.KH, c.KW}, rng, -1, 1);
    const auto b = c.bias ? Tensor<double, 1>::uniform({c.Cout}, rng, -1, 1) : Tensor<double, 1>();
    set_params(twice, w, b);
    set_params(single, to_float(w), to_float(b));
    const auto x = Tensor<double, 4>::uniform({c.N, c.Cin, c.H, c.W}, rng, -1, 1);
    const auto want = naive::conv2d(x, w, b, c.s);
    CHECK(naive::relative_error(fovea::forward<double>(twice, x), want) < 1e-12);
    CHECK(naive::relative_error(fovea::forward<float>(single, to_float(x)), want) < 1e-5);
  }
}

TEST_CASE("Conv2d with groups or one-sided padding passes the numeric check in double", "[conv2d][groups][gradcheck]") {
  fovea::Rng rng(39);
  std::vector<naive::ConvCase> cases = naive::grouped_cases();
  const std::vector<naive::ConvCase> asymmetric = naive::asymmetric_cases();
  cases.insert(cases.end(), asymmetric.begin(), asymmetric.end());
  for (const naive::ConvCase& c : cases) {
    INFO(c.describe());
    auto conv = layer_for<double>(c);
    for (auto& p : conv.params()) {
      for (double& v : p.value) v = rng.uniform(-1, 1);
    }
    const auto x = Tensor<double, 4>::uniform({c.N, c.Cin, c.H, c.W}, rng, -1, 1);
    const auto result = fovea::testing::check_gradients(conv, x, {.step = 1e-3});
    INFO(result.worst);
    CHECK(result.ok);
    CHECK(result.max_relative_error < 1e-6);
    CHECK(result.checked == x.size() + conv.parameter_count());
  }
}

TEST_CASE("Conv2d's forward agrees with the naive loops through the layer", "[conv2d]") {
  fovea::Rng rng(21);
  for (const naive::ConvCase& c : naive::conv_cases(20, 77)) {
    INFO(c.describe());
    auto conv = layer_for<float>(c);
    const auto w = Tensor<float, 4>::uniform({c.Cout, c.Cin, c.KH, c.KW}, rng, -1, 1);
    const auto b = c.bias ? Tensor<float, 1>::uniform({c.Cout}, rng, -1, 1) : Tensor<float, 1>();
    set_params(conv, w, b);
    const auto x = Tensor<float, 4>::uniform({c.N, c.Cin, c.H, c.W}, rng, -1, 1);
    const auto y = fovea::forward<float>(conv, x);
    CHECK(naive::relative_error(y, naive::conv2d(x, w, b, c.s)) < 1e-5);
  }
}

TEST_CASE("Conv2d's gradients pass the numeric check in double", "[conv2d][gradcheck]") {
  fovea::Rng rng(33);
  for (const naive::ConvCase& c : naive::conv_cases(30, 99)) {
    INFO(c.describe());
    auto conv = layer_for<double>(c);
    for (auto& p : conv.params()) {
      for (double& v : p.value) v = rng.uniform(-1, 1);
    }
    const auto x = Tensor<double, 4>::uniform({c.N, c.Cin, c.H, c.W}, rng, -1, 1);
    const auto result = fovea::testing::check_gradients(conv, x);
    INFO(result.worst);
    CHECK(result.ok);
    CHECK(result.max_relative_error < 1e-6);
    CHECK(result.checked == x.size() + conv.parameter_count());
  }
}

TEST_CASE("Conv2d with one input channel passes the numeric check in double", "[conv2d][gradcheck][direct]") {
  // Forward runs the direct loops; the check asks for dx, so backward runs im2col.
  fovea::Rng rng(35);
  for (const naive::ConvCase& c : naive::direct_cases()) {
    INFO(c.describe());
    auto conv = layer_for<double>(c);
    for (auto& p : conv.params()) {
      for (double& v : p.value) v = rng.uniform(-1, 1);
    }
    const auto x = Tensor<double, 4>::uniform({c.N, c.Cin, c.H, c.W}, rng, -1, 1);
    // The layer is linear in x and in w, so a wide step adds no truncation
    // error and keeps the rounding of these larger sums (28x28x6) below 1e-6.
    const auto result = fovea::testing::check_gradients(conv, x, {.step = 1e-3});
    INFO(result.worst);
    CHECK(result.ok);
    CHECK(result.max_relative_error < 1e-6);
  }
}

TEST_CASE("a steady-state Conv2d step allocates nothing, on one thread or two", "[conv2d]") {
  {
    const long before = heap_allocations.load();
    const Tensor<float, 1> probe({16});
    CHECK(heap_allocations.load() == before + 1);  // the counter sees fovea's aligned allocations
  }
  // As a network runs a layer: one context, made once, its gradients pointed once.
  const auto steady = [](Conv2d<float>& layer, const Tensor<float, 4>& x, Tensor<float, 4>& y, Tensor<float, 4>& dx,
                         bool relu_epilogue) {
    auto context = layer.make_context();
    if (relu_epilogue) context->epilogue = fovea::Clamp::relu();
    for (const auto& p : layer.params()) context->gradients.push_back(p.grad);
    const fovea::TensorView<float, 4> dx_view = dx.empty() ? fovea::TensorView<float, 4>() : dx.view();
    layer.forward(x, y, *context);
    layer.backward(x, y, y, dx_view, *context);
    const long before = heap_allocations.load();
    for (int step = 0; step < 3; ++step) {
      layer.forward(x, y, *context);
      layer.backward(x, y, y, dx_view, *context);
    }
    CHECK(heap_allocations.load() == before);
  };
  const int saved = fovea::max_threads();
  for (int threads : {1, 2}) {
    INFO(threads << " thread(s)");
    fovea::set_threads(threads);
    Conv2d<float> conv({.in_channels = 3, .out_channels = 4, .kernel = 3, .padding = 1});
    Conv2d<float> pointwise({.in_channels = 3, .out_channels = 4, .kernel = 1});
    Tensor<float, 4> x({5, 3, 8, 8}), y({5, 4, 8, 8}), dx(x.shape());
    for (auto* layer : {&conv, &pointwise}) {
      for (bool relu : {false, true}) steady(*layer, x, y, dx, relu);
    }
    // One input channel as a first layer (no dx): the direct path's buffers.
    Conv2d<float> first({.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2});
    Tensor<float, 4> image({5, 1, 20, 20}), features({5, 6, 20, 20}), no_dx;
    steady(first, image, features, no_dx, false);
  }
  fovea::set_threads(saved);
}

TEMPLATE_TEST_CASE("Conv2d runs in two contexts at once as in one alone", "[conv2d][context]", float, double) {
  using T = TestType;
  fovea::Rng rng(44);
  const std::vector<Conv2dOptions> cases = {
      {.in_channels = 3, .out_channels = 4, .kernel = 3, .padding = 1},               // im2col
      {.in_channels = 3, .out_channels = 5, .kernel = 1, .bias = false},              // pointwise
      {.in_channels = 1, .out_channels = 6, .kernel = 5, .padding = 2},               // direct forward
      {.in_channels = 4, .out_channels = 4, .kernel = 3, .stride = 2, .groups = 4},   // depthwise
      {.in_channels = 4, .out_channels = 6, .kernel = 3, .padding = 1, .groups = 2},  // groups
  };
  for (const Conv2dOptions& options : cases) {
    Conv2d<T> conv(options);
    const auto xa = Tensor<T, 4>::uniform({3, options.in_channels, 9, 9}, rng, -1, 1);
    const auto xb = Tensor<T, 4>::uniform({2, options.in_channels, 11, 7}, rng, -1, 1);
    fovea::test::check_interleaved_contexts<T>(conv, xa, xb);
    fovea::test::check_interleaved_contexts<T>(conv, xa, xb, {.relu_epilogue = true});
  }
}

TEMPLATE_TEST_CASE("Conv2d's ReLU epilogue gives the bits of Conv2d then ReLU", "[conv2d][context]", float, double) {
  using T = TestType;
  fovea::Rng rng(45);
  for (Index in : {1, 3}) {  // the direct path and im2col
    Conv2d<T> conv({.in_channels = in, .out_channels = 4, .kernel = 3, .padding = 1});
    REQUIRE(conv.supports_epilogue(fovea::Clamp::relu()));
    const auto x = Tensor<T, 4>::uniform({2, in, 6, 6}, rng, -1, 1);
    const auto dy = Tensor<T, 4>::uniform({2, 4, 6, 6}, rng, -1, 1);
    const Index weights = conv.weight().size();

    // Apart: y = Conv2d(x), then the ReLU, whose backward passes dy where y > 0.
    auto apart = conv.make_context();
    Tensor<T, 1> dw_apart({weights}), db_apart({4});
    apart->gradients = {dw_apart.view(), db_apart.view()};
    Tensor<T, 4> y(dy.shape()), dx_apart(x.shape()), relu_y(dy.shape()), relu_dy(dy.shape());
    conv.forward(x, y, *apart);
    for (Index i = 0; i < y.size(); ++i) {
      relu_y.data()[i] = std::max(y.data()[i], T{0});
      relu_dy.data()[i] = y.data()[i] > 0 ? dy.data()[i] : T{0};
    }
    conv.backward(x, y, relu_dy, dx_apart, *apart);

    // Fused: the layer applies the ReLU and takes y and dy after it.
    auto fused = conv.make_context();
    fused->epilogue = fovea::Clamp::relu();
    Tensor<T, 1> dw_fused({weights}), db_fused({4});
    fused->gradients = {dw_fused.view(), db_fused.view()};
    Tensor<T, 4> y_fused(dy.shape()), dx_fused(x.shape());
    conv.forward(x, y_fused, *fused);
    conv.backward(x, y_fused, dy, dx_fused, *fused);

    CHECK((y_fused.array() == relu_y.array()).all());
    CHECK((dx_fused.array() == dx_apart.array()).all());
    CHECK((dw_fused.array() == dw_apart.array()).all());
    CHECK((db_fused.array() == db_apart.array()).all());
    // The layer's own gradients were left alone.
    CHECK((conv.weight_grad().flatten().array() == 0).all());
  }
}

TEST_CASE("Conv2d without gradient views computes dx only", "[conv2d][context]") {
  fovea::Rng rng(46);
  Conv2d<double> conv({.in_channels = 2, .out_channels = 3, .kernel = 3, .padding = 1});
  const auto x = Tensor<double, 4>::uniform({2, 2, 5, 5}, rng, -1, 1);
  const auto dy = Tensor<double, 4>::uniform({2, 3, 5, 5}, rng, -1, 1);
  Tensor<double, 4> y(dy.shape()), dx(x.shape()), dx_alone(x.shape());
  auto with_gradients = conv.make_context();
  Tensor<double, 1> dw({conv.weight().size()}), db({3});
  with_gradients->gradients = {dw.view(), db.view()};
  conv.forward(x, y, *with_gradients);
  conv.backward(x, y, dy, dx, *with_gradients);

  auto without = conv.make_context();
  conv.forward(x, y, *without);
  conv.backward(x, y, dy, dx_alone, *without);
  CHECK((dx_alone.array() == dx.array()).all());
  CHECK((conv.weight_grad().flatten().array() == 0).all());

  with_gradients->gradients = {dw.view()};
  CHECK_THROWS_AS(conv.backward(x, y, dy, dx, *with_gradients), fovea::state_error);
  CHECK_THROWS_WITH(conv.backward(x, y, dy, dx, *with_gradients),
                    "Conv2d(2->3, k3x3, s1, p1)::backward: given 1 gradient views, expected 2 (one per parameter)");
}
