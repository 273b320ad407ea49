// ONNX's own node test cases (Debian's libonnx-testdata) through fovea's
// importer: every case docs/onnx-conformance.md lists is imported, its extra
// graph inputs (weights, bounds, shapes) bound as initializers, and run on
// input_0. A case either matches output_0 or is refused with onnx_error for
// the reason `refused` gives (and the page states); a refused case that
// imports, or a case that imports and differs, fails. Skips when the test
// data is not installed.

#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <string>
#include <vector>

#include "fovea/onnx.hpp"
#include "onnx/testdata.hpp"

using fovea::Index;
namespace fs = std::filesystem;

namespace {

const fs::path testdata = FOVEA_ONNX_TESTDATA_DIR;
const fs::path page = FOVEA_ONNX_CONFORMANCE_DOC;

// The cases the page lists: "| `test_...` | opset | ..." rows.
std::vector<std::string> listed_cases() {
  std::ifstream in(page);
  REQUIRE(in);
  std::vector<std::string> cases;
  const std::regex row(R"(^\| `(test_[A-Za-z0-9_]+)` \| [0-9]+ \|)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_search(line, m, row)) cases.push_back(m[1]);
  }
  return cases;
}

// The model with every graph input after the first bound to its data set value.
onnx::ModelProto bound(const fovea::onnx_test::TestCase& test) {
  onnx::ModelProto model = test.model;
  auto* graph = model.mutable_graph();
  const auto& inputs = test.data_sets[0].inputs;
  for (int k = graph->input_size() - 1; k >= 1; --k) {
    if (static_cast<std::size_t>(k) >= inputs.size()) continue;
    onnx::TensorProto value = inputs[static_cast<std::size_t>(k)];
    value.set_name(graph->input(k).name());
    *graph->add_initializer() = value;
    graph->mutable_input()->DeleteSubrange(k, 1);
  }
  return model;
}

}  // namespace

// Why each refused case is refused: a part of the onnx_error's message.
extern const std::map<std::string, std::string> refused;

TEST_CASE("ONNX's node test cases for fovea's operators pass or are refused as documented", "[onnx][conformance]") {
  if (!fs::is_directory(testdata)) {
    WARN("no ONNX test data at " << testdata << " (apt install libonnx-testdata): skipped");
    return;
  }
  const auto cases = listed_cases();
  CHECK(cases.size() >= 200);
  int passed = 0, refusals = 0;
  for (const auto& name : cases) {
    INFO(name);
    const auto test = fovea::onnx_test::read_test_case(testdata / name);
    const auto model = bound(test);
    const auto why = refused.find(name);
    std::optional<fovea::onnx::Imported<float>> imported;
    try {
      imported = fovea::onnx::import_model<float>(model);
    } catch (const fovea::onnx_error& e) {
      if (why == refused.end()) FAIL_CHECK("refused: " << e.what());
      if (why != refused.end()) CHECK_THAT(e.what(), Catch::Contains(why->second));
      ++refusals;
      continue;
    }
    if (why != refused.end()) {
      FAIL_CHECK("imports, but the page lists it as refused: " << why->second);
      continue;
    }
    const auto input = fovea::onnx_test::to_array<float>(test.data_sets[0].inputs[0]);
    const auto expected = fovea::onnx_test::to_array<float>(test.data_sets[0].outputs[0]);
    const auto& s = imported->graph.input_shape();
    REQUIRE(!input.shape.empty());
    fovea::Tensor<float, 4> x({input.shape[0], s[0], s[1], s[2]});
    REQUIRE(static_cast<std::size_t>(x.size()) == input.values.size());
    std::copy(input.values.begin(), input.values.end(), x.begin());
    const auto y = imported->graph.infer(x);
    REQUIRE(static_cast<std::size_t>(y.size()) == expected.values.size());
    double worst = 0;
    for (std::size_t i = 0; i < expected.values.size(); ++i) {
      const double want = expected.values[i], got = y.data()[i];
      worst = std::max(worst, std::abs(got - want) / (1e-3 + std::abs(want)));
    }
    CHECK(worst < 1e-3);
    ++passed;
  }
  WARN(passed << " cases pass, " << refusals << " are refused as documented");
}

const std::map<std::string, std::string> refused = {
    {"test_convtranspose", "operator 'ConvTranspose' is not supported"},
    {"test_convtranspose_1d", "operator 'ConvTranspose' is not supported"},
    {"test_convtranspose_3d", "input 'X' has rank 5"},
    {"test_convtranspose_autopad_same", "operator 'ConvTranspose' is not supported"},
    {"test_convtranspose_dilations", "operator 'ConvTranspose' is not supported"},
    {"test_convtranspose_kernel_shape", "operator 'ConvTranspose' is not supported"},
    {"test_convtranspose_output_shape", "operator 'ConvTranspose' is not supported"},
    {"test_convtranspose_pad", "operator 'ConvTranspose' is not supported"},
    {"test_convtranspose_pads", "operator 'ConvTranspose' is not supported"},
    {"test_convtranspose_with_kernel", "uses opset 8"},
    {"test_gemm_all_attributes", "transA = 1 (a transposed batch) is not supported"},
    {"test_gemm_default_matrix_bias", "must broadcast along"},
    {"test_gemm_transposeA", "transA = 1 (a transposed batch) is not supported"},
    {"test_matmul_3d", "must be a matrix"},
    {"test_matmul_4d", "must be a matrix"},
    {"test_add", "must be one value or one per channel of"},
    {"test_add_bcast", "must be one value or one per channel of"},
    {"test_add_uint8", "initializer 'y' has data type UINT8"},
    {"test_prelu_broadcast", "must be one value or one per channel of"},
    {"test_prelu_example", "must be one value or one per channel of"},
    {"test_elu", "uses opset 6"},
    {"test_elu_default", "uses opset 6"},
    {"test_elu_example", "uses opset 6"},
    {"test_clip_default_inbounds", "a Clip with one bound other than 0 is not supported"},
    {"test_clip_default_int8_inbounds", "input 'x' has element type INT8, expected FLOAT or DOUBLE"},
    {"test_clip_default_int8_max", "initializer 'max' has data type INT8"},
    {"test_clip_default_int8_min", "initializer 'min' has data type INT8"},
    {"test_clip_default_max", "a Clip with one bound other than 0 is not supported"},
    {"test_softplus", "uses opset 1"},
    {"test_softplus_example", "uses opset 1"},
    {"test_softmax_axis_0", "fovea takes the softmax over the features of"},
    {"test_softmax_axis_1", "fovea takes the softmax over the features of"},
    {"test_softmax_axis_2", "fovea takes the softmax over the features of"},
    {"test_softmax_default_axis", "fovea takes the softmax over the features of"},
    {"test_softmax_negative_axis", "fovea takes the softmax over the features of"},
    {"test_logsoftmax_axis_0", "fovea takes the softmax over the features of"},
    {"test_logsoftmax_axis_1", "fovea takes the softmax over the features of"},
    {"test_logsoftmax_axis_2", "fovea takes the softmax over the features of"},
    {"test_logsoftmax_default_axis", "fovea takes the softmax over the features of"},
    {"test_logsoftmax_negative_axis", "fovea takes the softmax over the features of"},
    {"test_maxpool_1d_default", "input must be [N, C, H, W]"},
    {"test_maxpool_2d_dilations", "dilations"},
    {"test_maxpool_2d_pads", "MaxPool2d: padding 2x2 is more than half the window 3x3"},
    {"test_maxpool_2d_uint8", "input 'x' has element type UINT8, expected FLOAT or DOUBLE"},
    {"test_maxpool_3d_default", "input 'x' has rank 5"},
    {"test_maxpool_with_argmax_2d_precomputed_pads", "output 1 ('z') is not supported"},
    {"test_maxpool_with_argmax_2d_precomputed_strides", "output 1 ('z') is not supported"},
    {"test_averagepool_1d_default", "input must be [N, C, H, W]"},
    {"test_averagepool_2d_pads", "AvgPool2d: padding 2x2 is more than half the window 3x3"},
    {"test_averagepool_2d_pads_count_include_pad", "AvgPool2d: padding 2x2 is more than half the window 3x3"},
    {"test_averagepool_3d_default", "input 'x' has rank 5"},
    {"test_globalaveragepool", "uses opset 1"},
    {"test_globalaveragepool_precomputed", "uses opset 1"},
    {"test_globalmaxpool", "uses opset 1"},
    {"test_globalmaxpool_precomputed", "uses opset 1"},
    {"test_batchnorm_epsilon_training_mode", "output 1 ('output_mean') is not supported"},
    {"test_batchnorm_example_training_mode", "output 1 ('output_mean') is not supported"},
    {"test_mul", "must be one value or one per channel of"},
    {"test_mul_bcast", "must be one value or one per channel of"},
    {"test_mul_example", "must be one value or one per channel of"},
    {"test_mul_uint8", "initializer 'y' has data type UINT8"},
    {"test_sub", "must be one value or one per channel of"},
    {"test_sub_bcast", "must be one value or one per channel of"},
    {"test_sub_example", "must be one value or one per channel of"},
    {"test_sub_uint8", "initializer 'y' has data type UINT8"},
    {"test_div", "must be one value or one per channel of"},
    {"test_div_bcast", "must be one value or one per channel of"},
    {"test_div_example", "must be one value or one per channel of"},
    {"test_div_uint8", "initializer 'y' has data type UINT8"},
    {"test_concat_1d_axis_0", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_1d_axis_negative_1", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_2d_axis_0", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_2d_axis_1", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_2d_axis_negative_1", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_2d_axis_negative_2", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_3d_axis_0", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_3d_axis_1", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_3d_axis_2", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_3d_axis_negative_1", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_3d_axis_negative_2", "joins a constant to the network's tensors, which is not supp"},
    {"test_concat_3d_axis_negative_3", "joins a constant to the network's tensors, which is not supp"},
    {"test_flatten_axis0", "axis 0 is not supported"},
    {"test_flatten_axis2", "axis 2 is not supported"},
    {"test_flatten_axis3", "axis 3 is not supported"},
    {"test_flatten_negative_axis1", "axis -1 is not supported"},
    {"test_flatten_negative_axis2", "axis -2 is not supported"},
    {"test_flatten_negative_axis4", "axis -4 is not supported"},
    {"test_reshape_allowzero_reordered", ", moving the batch axis"},
    {"test_reshape_extended_dims", ", moving the batch axis"},
    {"test_reshape_negative_dim", ", mixing the batch in"},
    {"test_reshape_negative_extended_dims", ", mixing the batch in"},
    {"test_reshape_one_dim", ", moving the batch axis"},
    {"test_reshape_reduced_dims", ", moving the batch axis"},
    {"test_reshape_reordered_all_dims", ", moving the batch axis"},
    {"test_reshape_reordered_last_dims", ", moving the batch axis"},
    {"test_reshape_zero_and_negative_dim", ", mixing the batch in"},
    {"test_reshape_zero_dim", ", moving the batch axis"},
    {"test_squeeze", "squeezes axis 0 of"},
    {"test_squeeze_negative_axes", "fovea tensors are"},
    {"test_unsqueeze_axis_0", "fovea tensors are"},
    {"test_unsqueeze_axis_1", "fovea tensors are"},
    {"test_unsqueeze_axis_2", "fovea tensors are"},
    {"test_unsqueeze_axis_3", "output 'y' is the input itself"},
    {"test_unsqueeze_negative_axes", "fovea tensors are"},
    {"test_unsqueeze_three_axes", "fovea tensors are"},
    {"test_unsqueeze_two_axes", "fovea tensors are"},
    {"test_unsqueeze_unsorted_axes", "fovea tensors are"},
    {"test_constant_pad", "pads with 1.200000"},
    {"test_edge_pad", "input 'x' has element type INT32, expected FLOAT or DOUBLE"},
    {"test_reflect_pad", "input 'x' has element type INT32, expected FLOAT or DOUBLE"},
    {"test_dropout_default", "output 'y' is the input itself"},
    {"test_dropout_default_mask", "output 1 ('z') is not supported"},
    {"test_dropout_default_mask_ratio", "output 1 ('z') is not supported"},
    {"test_dropout_default_old", "output 'y' is the input itself"},
    {"test_dropout_default_ratio", "output 'y' is the input itself"},
    {"test_dropout_random_old", "output 'y' is the input itself"},
    {"test_training_dropout", "output 'y' is the input itself"},
    {"test_training_dropout_default", "output 'y' is the input itself"},
    {"test_training_dropout_default_mask", "output 1 ('z') is not supported"},
    {"test_training_dropout_mask", "output 1 ('z') is not supported"},
    {"test_training_dropout_zero_ratio", "output 'y' is the input itself"},
    {"test_training_dropout_zero_ratio_mask", "output 1 ('z') is not supported"},
    {"test_identity", "output 'y' is the input itself"},
    {"test_identity_opt", "input 'opt_in' is not a tensor"},
    {"test_identity_sequence", "input 'x' is not a tensor"},
    {"test_constant", "has no input"},
    {"test_shape", "output 'y' is a constant"},
    {"test_shape_clip_end", "output 'y' is a constant"},
    {"test_shape_clip_start", "output 'y' is a constant"},
    {"test_shape_end_1", "output 'y' is a constant"},
    {"test_shape_end_negative_1", "output 'y' is a constant"},
    {"test_shape_example", "output 'y' is a constant"},
    {"test_shape_start_1", "output 'y' is a constant"},
    {"test_shape_start_1_end_2", "output 'y' is a constant"},
    {"test_shape_start_1_end_negative_1", "output 'y' is a constant"},
    {"test_shape_start_negative_1", "output 'y' is a constant"},
    {"test_gather_0", "data 'data' is computed by the network"},
    {"test_gather_1", "data 'data' is computed by the network"},
    {"test_gather_2d_indices", "data 'data' is computed by the network"},
    {"test_gather_negative_indices", "data 'data' is computed by the network"},
    {"test_slice", "data 'x' is computed by the network"},
    {"test_slice_default_axes", "data 'x' is computed by the network"},
    {"test_slice_default_steps", "data 'x' is computed by the network"},
    {"test_slice_end_out_of_bounds", "data 'x' is computed by the network"},
    {"test_slice_neg", "data 'x' is computed by the network"},
    {"test_slice_neg_steps", "data 'x' is computed by the network"},
    {"test_slice_negative_axes", "data 'x' is computed by the network"},
    {"test_slice_start_out_of_bounds", "data 'x' is computed by the network"},
    {"test_constantofshape_float_ones", "input 'x' has element type INT64, expected FLOAT or DOUBLE"},
    {"test_constantofshape_int_shape_zero", "input 'x' has element type INT64, expected FLOAT or DOUBLE"},
    {"test_constantofshape_int_zeros", "input 'x' has element type INT64, expected FLOAT or DOUBLE"},
    {"test_cast_BFLOAT16_to_FLOAT", "input 'input' has element type BFLOAT16, expected FLOAT or D"},
    {"test_cast_DOUBLE_to_FLOAT", "input 'input' is computed by the network"},
    {"test_cast_DOUBLE_to_FLOAT16", "input 'input' is computed by the network"},
    {"test_cast_FLOAT16_to_DOUBLE", "input 'input' has element type FLOAT16, expected FLOAT or DO"},
    {"test_cast_FLOAT16_to_FLOAT", "input 'input' has element type FLOAT16, expected FLOAT or DO"},
    {"test_cast_FLOAT_to_BFLOAT16", "input 'input' is computed by the network"},
    {"test_cast_FLOAT_to_DOUBLE", "input 'input' is computed by the network"},
    {"test_cast_FLOAT_to_FLOAT16", "input 'input' is computed by the network"},
    {"test_cast_FLOAT_to_STRING", "input 'input' is computed by the network"},
    {"test_cast_STRING_to_FLOAT", "input 'input' has element type STRING, expected FLOAT or DOU"},
    {"test_castlike_BFLOAT16_to_FLOAT_expanded", "input 'input' has element type BFLOAT16, expected FLOAT or D"},
    {"test_castlike_DOUBLE_to_FLOAT16_expanded", "initializer 'like' has data type FLOAT16"},
    {"test_castlike_DOUBLE_to_FLOAT_expanded", "input 'input' is computed by the network"},
    {"test_castlike_FLOAT16_to_DOUBLE_expanded", "input 'input' has element type FLOAT16, expected FLOAT or DO"},
    {"test_castlike_FLOAT16_to_FLOAT_expanded", "input 'input' has element type FLOAT16, expected FLOAT or DO"},
    {"test_castlike_FLOAT_to_BFLOAT16_expanded", "initializer 'like' has data type UINT16"},
    {"test_castlike_FLOAT_to_DOUBLE_expanded", "input 'input' is computed by the network"},
    {"test_castlike_FLOAT_to_FLOAT16_expanded", "initializer 'like' has data type FLOAT16"},
    {"test_castlike_FLOAT_to_STRING_expanded", "initializer 'like' has data type STRING"},
    {"test_castlike_STRING_to_FLOAT_expanded", "input 'input' has element type STRING, expected FLOAT or DOU"},
    {"test_transpose_all_permutations_0", "data 'data' is computed by the network"},
    {"test_transpose_all_permutations_1", "data 'data' is computed by the network"},
    {"test_transpose_all_permutations_2", "data 'data' is computed by the network"},
    {"test_transpose_all_permutations_3", "data 'data' is computed by the network"},
    {"test_transpose_all_permutations_4", "data 'data' is computed by the network"},
    {"test_transpose_all_permutations_5", "data 'data' is computed by the network"},
    {"test_transpose_default", "data 'data' is computed by the network"},
};
