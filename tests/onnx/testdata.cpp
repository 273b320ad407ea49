// tests/onnx/testdata.hpp on a few of ONNX's own node test cases (Debian's
// libonnx-testdata): models, input and output tensors, their shapes and values.

#include "onnx/testdata.hpp"

#include <catch2/catch.hpp>
#include <filesystem>

using fovea::Index;
using fovea::onnx_test::read_test_case;
using fovea::onnx_test::to_array;
namespace fs = std::filesystem;

namespace {

const fs::path cases = FOVEA_ONNX_TESTDATA_DIR;

bool have_cases() {
  if (fs::is_directory(cases)) return true;
  WARN("skipped: no ONNX node test cases in " << cases << " (apt install libonnx-testdata)");
  return false;
}

}  // namespace

TEST_CASE("read_test_case reads test_relu", "[onnx][testdata]") {
  if (!have_cases()) return;
  const auto test = read_test_case(cases / "test_relu");
  CHECK(test.name == "test_relu");
  CHECK(fovea::onnx_test::opset_of(test.model) >= 6);
  CHECK(fovea::onnx_test::op_types(test.model) == std::set<std::string>{"Relu"});
  REQUIRE(test.data_sets.size() == 1);
  REQUIRE(test.data_sets[0].inputs.size() == 1);
  REQUIRE(test.data_sets[0].outputs.size() == 1);
  const auto x = to_array(test.data_sets[0].inputs[0]);
  const auto y = to_array<double>(test.data_sets[0].outputs[0]);
  CHECK(x.shape == std::vector<Index>{3, 4, 5});
  CHECK(y.shape == std::vector<Index>{3, 4, 5});
  // y = max(x, 0), element by element.
  for (std::size_t i = 0; i < x.values.size(); ++i) CHECK(y.values[i] == std::max(0.0, double{x.values[i]}));
}

TEST_CASE("read_test_case reads test_conv_with_strides_padding", "[onnx][testdata]") {
  if (!have_cases()) return;
  const auto test = read_test_case(cases / "test_conv_with_strides_padding");
  REQUIRE(test.data_sets.size() == 1);
  const auto& set = test.data_sets[0];
  REQUIRE(set.inputs.size() == 2);
  REQUIRE(set.outputs.size() == 1);
  CHECK(set.inputs[0].name() == "x");
  CHECK(set.inputs[1].name() == "W");
  const auto x = to_array(set.inputs[0]);
  const auto w = to_array(set.inputs[1]);
  const auto y = to_array(set.outputs[0]);
  CHECK(x.shape == std::vector<Index>{1, 1, 7, 5});
  CHECK(w.shape == std::vector<Index>{1, 1, 3, 3});
  CHECK(y.shape == std::vector<Index>{1, 1, 4, 3});  // stride 2, padding 1
  // x is 0..34 row by row and W all ones: y[0, 0] sums x over rows -1..1 and
  // columns -1..1 with zero padding = 0 + 1 + 5 + 6 = 12.
  CHECK(x.values[34] == 34.0F);
  CHECK(y.values[0] == 12.0F);
  CHECK(y.values[1] == 27.0F);
  // The graph's one Conv reads the inputs in the data set's order.
  const auto& conv = test.model.graph().node(0);
  CHECK(conv.op_type() == "Conv");
  CHECK(conv.input(0) == set.inputs[0].name());
  CHECK(conv.input(1) == set.inputs[1].name());
}

TEST_CASE("read_test_case reads integer inputs and several cases", "[onnx][testdata]") {
  if (!have_cases()) return;
  const auto reshape = read_test_case(cases / "test_reshape_negative_dim");
  const auto& set = reshape.data_sets[0];
  REQUIRE(set.inputs.size() == 2);
  CHECK(fovea::onnx_test::int64_values(set.inputs[1]) == std::vector<std::int64_t>{2, -1, 2});
  CHECK_THROWS_WITH(to_array(set.inputs[1]),
                    "onnx_test: tensor 'shape' [3] has data type INT64, expected FLOAT or DOUBLE");
  CHECK(to_array(set.outputs[0]).shape == std::vector<Index>{2, 6, 2});

  for (const char* name :
       {"test_maxpool_2d_ceil", "test_averagepool_2d_pads_count_include_pad", "test_batchnorm_example",
        "test_softmax_axis_1", "test_gemm_default_single_elem_vector_bias"}) {
    INFO(name);
    const auto test = read_test_case(cases / name);
    const auto& first = test.data_sets[0];
    CHECK(static_cast<int>(first.inputs.size()) <= test.model.graph().input_size());
    CHECK(static_cast<int>(first.outputs.size()) == test.model.graph().output_size());
    for (const auto& output : first.outputs) CHECK(to_array(output).size() > 0);
  }
}

TEST_CASE("read_test_case names what is missing", "[onnx][testdata]") {
  const fs::path missing = fs::temp_directory_path() / "fovea-no-such-onnx-case";
  CHECK_THROWS_WITH(read_test_case(missing), "onnx_test: cannot open '" + (missing / "model.onnx").string() + "'");
}
