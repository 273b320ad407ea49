// fovea::onnx::load on the committed fixtures (scripts/make-onnx-fixtures.py):
// every one imports and reproduces PyTorch's output to 1e-4 of its largest
// magnitude, and models fovea cannot run are refused whole with onnx_error.

#include "fovea/onnx.hpp"

#include <catch2/catch.hpp>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "fovea/io/data/npy.hpp"
#include "fovea/io/model_file.hpp"
#include "fovea/nn/registry.hpp"
#include "fovea/optim/sgd.hpp"
#include "fovea/train/loss.hpp"
#include "fuzz/onnx_target.hpp"
#include "onnx/testdata.hpp"

using Catch::Contains;
using fovea::Index;
namespace fs = std::filesystem;

namespace {

const fs::path fixtures = FOVEA_ONNX_FIXTURES_DIR;

std::vector<std::string> fixture_names() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(fixtures)) {
    if (entry.is_directory()) names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// The largest |a - b| over the largest |b|.
double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return diff / std::max(scale, 1e-30);
}

onnx::ModelProto lenet() { return fovea::onnx_test::read_model(fixtures / "lenet5_opset13" / "model.onnx"); }

std::string bytes_of(const onnx::ModelProto& model) { return model.SerializeAsString(); }

}  // namespace

TEST_CASE("every fixture imports and matches PyTorch's output", "[onnx][import]") {
  const auto names = fixture_names();
  CHECK(names.size() >= 60);
  for (const auto& name : names) {
    INFO(name);
    const fs::path folder = fixtures / name;
    auto imported = fovea::onnx::import_file<float>(folder / "model.onnx");
    const auto input = fovea::read_npy<float, 4>(folder / "input.npy");
    const auto expected = fovea::read_npy<float>(folder / "expected.npy");
    const auto y = imported.graph.infer(input);
    REQUIRE(imported.output_ranks.size() == 1);
    CHECK(static_cast<std::size_t>(imported.output_ranks[0]) == expected.shape.size());
    REQUIRE(static_cast<std::size_t>(y.size()) == expected.values.size());
    CHECK(y.dim(0) == expected.shape[0]);
    CHECK(y.dim(1) == expected.shape[1]);
    const std::vector<float> got(y.begin(), y.end());
    CHECK(relative_error(got, expected.values) < 1e-4);
  }
}

TEST_CASE("an imported network runs any batch size", "[onnx][import]") {
  auto net = fovea::onnx::load<float>(fixtures / "resnet8_opset13" / "model.onnx");
  const auto input = fovea::read_npy<float, 4>(fixtures / "resnet8_opset13" / "input.npy");
  const auto expected = fovea::read_npy<float>(fixtures / "resnet8_opset13" / "expected.npy");
  // The second sample alone gives the second row of the batch's output.
  fovea::Tensor<float, 4> one({1, input.dim(1), input.dim(2), input.dim(3)});
  std::copy(input.begin() + one.size(), input.end(), one.begin());
  const auto y = net.infer(one);
  std::vector<float> want(expected.values.begin() + y.size(), expected.values.end());
  CHECK(relative_error(std::vector<float>(y.begin(), y.end()), want) < 1e-4);
}

TEST_CASE("a model with symbolic height and width imports at a given size and runs at any", "[onnx][import]") {
  // ResNet-8 (convolutions, batch norm, global pooling, then the classifier)
  // with its input's height and width made dynamic axes, as
  // torch.onnx.export(..., dynamic_axes={"input": {2: "H", 3: "W"}}) writes them.
  const fs::path folder = fixtures / "resnet8_opset13";
  const auto with_dims = [&](const std::string& h, const std::string& w) {
    onnx::ModelProto model = fovea::onnx_test::read_model(folder / "model.onnx");
    auto* dims = model.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
    for (int d : {2, 3}) {
      const std::string& extent = d == 2 ? h : w;
      auto* dim = dims->mutable_dim(d);
      dim->Clear();
      if (std::isdigit(static_cast<unsigned char>(extent[0]))) {
        dim->set_dim_value(std::stoll(extent));
      } else {
        dim->set_dim_param(extent);
      }
    }
    return bytes_of(model);
  };
  const std::string dynamic = with_dims("H", "W");
  CHECK_THROWS_WITH(fovea::onnx::import_bytes<float>(dynamic),
                    Contains("input 'input'") && Contains("symbolic height") && Contains("ImportOptions::height"));

  // At the fixture's own size: PyTorch's output.
  auto imported = fovea::onnx::import_bytes<float>(dynamic, {.height = 28, .width = 28});
  CHECK(imported.dynamic_size);
  const auto input = fovea::read_npy<float, 4>(folder / "input.npy");
  const auto expected = fovea::read_npy<float>(folder / "expected.npy");
  const auto y = imported.graph.infer(input);
  CHECK(relative_error(std::vector<float>(y.begin(), y.end()), expected.values) < 1e-4);

  // At another size: what the model imported with that size fixed gives.
  imported.graph.set_input_shape({1, 36, 44});
  auto fixed = fovea::onnx::import_bytes<float>(with_dims("36", "44"));
  CHECK_FALSE(fixed.dynamic_size);
  fovea::Tensor<float, 4> larger({3, 1, 36, 44});
  fovea::Rng rng(3);
  for (float& v : larger) v = static_cast<float>(rng.uniform(-1, 1));
  const fovea::Tensor<float, 4> want(fixed.graph.infer(larger));
  const auto got = imported.graph.infer(larger);
  REQUIRE(got.shape() == want.shape());
  CHECK(relative_error(std::vector<float>(got.begin(), got.end()), std::vector<float>(want.begin(), want.end())) <
        1e-6);
}

TEST_CASE("models fovea cannot run are refused whole with onnx_error", "[onnx][import][errors]") {
  SECTION("not a model") { CHECK_THROWS_AS(fovea::onnx::load_bytes<float>("this is not protobuf"), fovea::onnx_error); }
  SECTION("a truncated file") {
    const std::string bytes = bytes_of(lenet());
    for (std::size_t cut : {bytes.size() / 3, bytes.size() / 2, bytes.size() - 7}) {
      CHECK_THROWS_AS(fovea::onnx::load_bytes<float>(std::string_view(bytes).substr(0, cut)), fovea::onnx_error);
    }
  }
  SECTION("an unsupported operator names the node") {
    auto model = lenet();
    model.mutable_graph()->mutable_node(1)->set_op_type("Selu");
    const auto& node = model.graph().node(1);
    CHECK_THROWS_WITH(fovea::onnx::load_bytes<float>(bytes_of(model)),
                      Contains("node '" + node.name() + "' (Selu): operator 'Selu' is not supported"));
  }
  SECTION("an unsupported opset") {
    auto model = lenet();
    model.mutable_opset_import(0)->set_version(8);
    CHECK_THROWS_AS(fovea::onnx::load_bytes<float>(bytes_of(model)), fovea::onnx_error);  // ONNX's checker
    CHECK_THROWS_WITH(fovea::onnx::import_model<float>(model), Contains("opset 8; fovea reads opsets 9 to 17"));
  }
  SECTION("another domain") {
    auto model = lenet();
    model.mutable_graph()->mutable_node(0)->set_domain("com.example");
    auto* entry = model.add_opset_import();
    entry->set_domain("com.example");
    entry->set_version(1);
    CHECK_THROWS_WITH(fovea::onnx::load_bytes<float>(bytes_of(model)), Contains("domain 'com.example'"));
  }
  SECTION("a tensor nothing produces") {
    auto model = lenet();
    model.mutable_graph()->mutable_node(2)->set_input(0, "nowhere");
    CHECK_THROWS_AS(fovea::onnx::load_bytes<float>(bytes_of(model)), fovea::onnx_error);
    CHECK_THROWS_WITH(fovea::onnx::import_model<float>(model),
                      Contains("reads tensor 'nowhere', which nothing produces"));
  }
  SECTION("a cycle") {
    auto model = lenet();
    auto* graph = model.mutable_graph();
    graph->mutable_node(0)->set_input(0, graph->node(2).output(0));
    CHECK_THROWS_WITH(fovea::onnx::import_model<float>(model), Contains("before node 2 produces it"));
  }
  SECTION("an initializer whose data does not match its dims") {
    auto model = lenet();
    auto* init = model.mutable_graph()->mutable_initializer(0);
    init->set_raw_data(init->raw_data().substr(4));
    CHECK_THROWS_WITH(fovea::onnx::import_model<float>(model), Contains("its dims need"));
  }
  SECTION("absurd dimensions") {
    auto model = lenet();
    auto* init = model.mutable_graph()->mutable_initializer(0);
    init->set_dims(0, std::int64_t{1} << 40);
    CHECK_THROWS_WITH(fovea::onnx::import_model<float>(model), Contains("or a negative extent"));
  }
}

namespace {

// A copy of `net` without its last node: each layer rebuilt from its spec,
// its parameters and buffers copied.
fovea::Graph<float> without_head(fovea::Graph<float>& net) {
  fovea::Graph<float> copy(net.input_shape());
  std::vector<fovea::Node> ids{copy.input()};
  for (std::size_t i = 0; i + 1 < net.size(); ++i) {
    auto& layer = net.layer(i);
    auto rebuilt = fovea::make_layer<float>(layer.spec());
    auto from = layer.params(), to = rebuilt->params();
    for (std::size_t p = 0; p < from.size(); ++p) to[p].value.copy_from(from[p].value);
    auto bfrom = layer.buffers(), bto = rebuilt->buffers();
    for (std::size_t b = 0; b < bfrom.size(); ++b) bto[b].value.copy_from(bfrom[b].value);
    const fovea::Node node{static_cast<Index>(i + 1)};
    std::vector<fovea::Node> inputs;
    for (fovea::Node in : net.inputs(node)) inputs.push_back(ids[static_cast<std::size_t>(in.id)]);
    ids.push_back(copy.add(net.name(node), std::move(rebuilt), inputs));
  }
  return copy;
}

}  // namespace

TEST_CASE("an imported LeNet trains further with a new head, saves and exports", "[onnx][import][train]") {
  auto imported = fovea::onnx::load<float>(fixtures / "lenet5_opset13" / "model.onnx");
  auto net = without_head(imported);
  const Index features = fovea::shape_size(net.output_shape());
  net.add("head", fovea::Linear<float>(features, 3), net.outputs().front());
  net.set_training(true);

  fovea::Rng rng(5);
  // Three classes told apart by brightness.
  auto x = fovea::Tensor<float, 4>::uniform({12, 1, 28, 28}, rng, 0.0f, 0.5f);
  std::vector<std::int32_t> labels;
  for (int i = 0; i < 12; ++i) labels.push_back(i % 3);
  for (Index i = 0; i < x.size(); ++i)
    x.data()[i] += 0.5f * static_cast<float>(labels[static_cast<std::size_t>(i / 784)]);
  fovea::SoftmaxCrossEntropy<float> loss;
  fovea::Sgd<float> sgd(net.params(), {.learning_rate = 0.02, .momentum = 0.9});
  fovea::Tensor<float, 2> dy({12, 3});
  std::vector<float> losses;
  for (int step = 0; step < 30; ++step) {
    net.zero_grad();
    const auto y = net.forward(x);
    losses.push_back(loss.forward_backward(y.reshape(fovea::Shape<2>{12, 3}), fovea::Targets<float>(labels), dy));
    net.backward(dy.view().reshape(fovea::Shape<4>{12, 3, 1, 1}));
    sgd.step();
  }
  CHECK(losses.back() < 0.8f * losses.front());

  // fovea's own format and ONNX again: both give the trained network's outputs.
  net.set_training(false);
  const fs::path dir = fs::path(FOVEA_TEST_BINARY_DIR) / "onnx_finetune";
  fs::create_directories(dir);
  fovea::save(net, dir / "lenet3.fovea");
  fovea::onnx::save(net, dir / "lenet3.onnx");
  const auto want = net.infer(x);
  const std::vector<float> expected(want.begin(), want.end());
  auto loaded = fovea::load_graph<float>(dir / "lenet3.fovea");
  const auto a = loaded.infer(x);
  CHECK(std::vector<float>(a.begin(), a.end()) == expected);
  auto reimported = fovea::onnx::load<float>(dir / "lenet3.onnx");
  const auto b = reimported.infer(x);
  CHECK(relative_error(std::vector<float>(b.begin(), b.end()), expected) < 1e-6);
}

TEST_CASE("every fixture exports, passes ONNX's checker and imports with the same outputs", "[onnx][export]") {
  for (const auto& name : fixture_names()) {
    INFO(name);
    const fs::path folder = fixtures / name;
    auto imported = fovea::onnx::import_file<float>(folder / "model.onnx");
    const auto input = fovea::read_npy<float, 4>(folder / "input.npy");
    const auto first = imported.graph.infer(input);
    const std::vector<float> want(first.begin(), first.end());
    const auto model = fovea::onnx::to_model(imported.graph, {.opset = 13});
    auto again = fovea::onnx::import_model<float>(model);
    CHECK(again.output_ranks == imported.output_ranks);
    const auto y = again.graph.infer(input);
    CHECK(relative_error(std::vector<float>(y.begin(), y.end()), want) < 1e-6);
    // Names are kept: every fovea node is an ONNX node of the same name.
    std::set<std::string> onnx_names;
    for (const auto& node : model.graph().node()) onnx_names.insert(node.name());
    for (std::size_t i = 0; i < imported.graph.size(); ++i) {
      CHECK(onnx_names.count(imported.graph.name(fovea::Node{static_cast<Index>(i + 1)})) == 1);
    }
  }
}

TEST_CASE("export writes every opset from 9 to 17 and refuses what ONNX cannot express", "[onnx][export]") {
  auto net = fovea::onnx::load<float>(fixtures / "resnet8_opset13" / "model.onnx");
  for (std::int64_t opset = 9; opset <= 17; ++opset) {
    INFO(opset);
    CHECK_NOTHROW(fovea::onnx::to_model(net, {.opset = opset}));
  }
  CHECK_THROWS_WITH(fovea::onnx::to_model(net, {.opset = 18}), Contains("opset 18; fovea writes opsets 9 to 17"));
  fovea::Graph<float> pools({1, 4, 4});
  pools.add("minpool", fovea::Pool2d<float>({.kind = fovea::PoolKind::min}), pools.input());
  CHECK_THROWS_WITH(fovea::onnx::to_model(pools), Contains("node 'minpool'"));
}

TEST_CASE("the ONNX fuzz target's regressions and mutated fixtures are refused cleanly", "[onnx][fuzz]") {
  const fs::path regressions = fs::path(FOVEA_ONNX_FIXTURES_DIR) / ".." / ".." / "fuzz" / "regressions" / "onnx";
  int replayed = 0;
  for (const auto& entry : fs::directory_iterator(regressions)) {
    INFO(entry.path());
    const std::string bytes = fovea::onnx_test::read_bytes(entry.path());
    CHECK_NOTHROW(
        fovea::fuzz::onnx_model(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size())));
    ++replayed;
  }
  CHECK(replayed >= 1);
  // Every prefix and single-byte change of a small model: a network or onnx_error.
  const std::string model = fovea::onnx_test::read_bytes(fixtures / "inception_opset13" / "model.onnx");
  for (std::size_t cut = 0; cut < model.size(); cut += 7) {
    INFO(cut);
    std::string bytes = model;
    bytes[cut] = static_cast<char>(bytes[cut] ^ 0x5a);
    CHECK_NOTHROW(
        fovea::fuzz::onnx_model(std::span(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size())));
    CHECK_NOTHROW(fovea::fuzz::onnx_model(std::span(reinterpret_cast<const std::uint8_t*>(model.data()), cut)));
  }
}

TEST_CASE("export writes the layers the fixtures lack and imports them back", "[onnx][export]") {
  fovea::Graph<float> net({3, 6, 6});
  auto c = net.add("conv", fovea::Conv2d<float>({.in_channels = 3, .out_channels = 4, .kernel = 3, .padding = 1}),
                   net.input());
  auto d = net.add("drop", fovea::Dropout<float>(0.3), c);
  auto e = net.add("elu", fovea::ELU<float>(0.7), c);
  auto sum = net.add("sum", fovea::Add<float>{}, {c, d, e});
  auto pool = net.add("gap", fovea::GlobalPool2d<float>(fovea::PoolKind::average), sum);
  net.add("probs", fovea::Softmax<float>{}, pool);
  net.set_training(false);
  fovea::Rng rng(3);
  const auto x = fovea::Tensor<float, 4>::uniform({2, 3, 6, 6}, rng, -1.0f, 1.0f);
  const auto y = net.infer(x);
  const std::vector<float> want(y.begin(), y.end());
  for (std::int64_t opset : {9, 13, 17}) {
    INFO(opset);
    const auto model = fovea::onnx::to_model(net, {.opset = opset});
    std::set<std::string> ops;
    for (const auto& node : model.graph().node()) ops.insert(node.op_type());
    CHECK(ops == std::set<std::string>{"Conv", "Dropout", "Elu", "Sum", "GlobalAveragePool", "Flatten", "Softmax"});
    auto again = fovea::onnx::import_model<float>(model);
    CHECK(again.output_ranks == std::vector<int>{2});
    const auto z = again.graph.infer(x);
    CHECK(relative_error(std::vector<float>(z.begin(), z.end()), want) < 1e-6);
  }
  // L2 pooling exports as LpPool (p = 2), which passes ONNX's checker; fovea does not import it.
  fovea::Graph<float> l2({1, 4, 4});
  l2.add("l2", fovea::Pool2d<float>({.kind = fovea::PoolKind::l2}), l2.input());
  const auto model = fovea::onnx::to_model(l2);
  CHECK(model.graph().node(0).op_type() == "LpPool");
  CHECK_THROWS_WITH(fovea::onnx::import_model<float>(model), Contains("(LpPool): operator 'LpPool' is not supported"));
}
