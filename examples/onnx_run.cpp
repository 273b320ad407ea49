// Runs an ONNX model on a .npy tensor with fovea's importer.
//
//   onnx_run MODEL.onnx INPUT.npy OUTPUT.npy [--threads N]
//   onnx_run --roundtrip MODEL.onnx OUT.onnx
//   onnx_run --summary MODEL.onnx
//
// INPUT.npy is a float32 (or float64) [N, C, H, W] or [N, F] tensor (or [N]
// or [N, A, B] for a model of element-wise operations); the model's single
// output is written as float32 with the shape ONNX gives it. Whatever the model or the input, a failure exits 1 with
// one line on stderr and leaves OUTPUT.npy as it was (the output is written whole, by a rename, only after the model
// has run). A model whose input height and width are symbolic (dynamic axes) runs at the input's size.

#include <cstdio>
#include <exception>
#include <fovea/io/data/npy.hpp>
#include <fovea/onnx.hpp>
#include <iostream>
#include <string>
#include <vector>

namespace {

int usage() {
  std::cerr << "usage: onnx_run MODEL.onnx INPUT.npy OUTPUT.npy [--threads N] | --roundtrip MODEL.onnx OUT.onnx | "
               "--summary MODEL.onnx\n";
  return 2;
}

// One line: the message up to its first line break.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return text;
}

int run(const std::vector<std::string>& args) {
  if (args.size() == 2 && args[0] == "--summary") {
    auto net = fovea::onnx::load<float>(args[1]);
    std::cout << net.summary();
    return 0;
  }
  if (args.size() == 3 && args[0] == "--roundtrip") {
    auto net = fovea::onnx::load<float>(args[1]);
    fovea::onnx::save(net, args[2]);
    return 0;
  }
  if (args.size() != 3 && !(args.size() == 5 && args[3] == "--threads")) return usage();
  if (args.size() == 5) {
    int threads = 0;
    try {
      threads = std::stoi(args[4]);
    } catch (const std::exception&) {
      threads = 0;
    }
    if (threads < 1) throw fovea::value_error("--threads needs a positive number, got '" + args[4] + "'");
    fovea::set_threads(threads);
  }
  const auto array = fovea::read_npy<float>(args[1]);
  // A model with symbolic height and width (dynamic axes) is built for the input's.
  fovea::onnx::ImportOptions options;
  if (array.rank() == 4) {
    options.height = array.shape[2];
    options.width = array.shape[3];
  }
  auto imported = fovea::onnx::import_file<float>(args[0], options);
  if (imported.output_names.size() != 1) {
    throw fovea::value_error("the model has " + std::to_string(imported.output_names.size()) +
                             " outputs; onnx_run writes one");
  }
  // [N, ...] of rank 1 to 4, as the model's input: [N, C, H, W], [N, F], [N, A, B] or [N].
  const auto& in_shape = imported.graph.input_shape();
  std::vector<fovea::Index> rest;
  if (array.rank() >= 1 && array.rank() <= 4) rest.assign(array.shape.begin() + 1, array.shape.end());
  rest.resize(3, 1);
  if (array.rank() < 1 || array.rank() > 4 || array.shape[0] < 1 || rest[0] != in_shape[0] || rest[1] != in_shape[1] ||
      rest[2] != in_shape[2]) {
    throw fovea::shape_error("input " + fovea::to_string(array.shape) + " does not fit the model's input [N, " +
                             fovea::to_string(in_shape).substr(1));
  }
  fovea::Tensor<float, 4> x({array.shape[0], in_shape[0], in_shape[1], in_shape[2]});
  std::copy(array.values.begin(), array.values.end(), x.begin());
  const auto y = imported.graph.infer(x);
  fovea::NpyArray<float> out;
  out.shape = {y.dim(0), y.dim(1), y.dim(2), y.dim(3)};
  out.shape.resize(static_cast<std::size_t>(imported.output_ranks[0]));  // ONNX's rank: [N, F] is [N, F, 1, 1] here
  out.values.assign(y.begin(), y.end());
  fovea::write_npy(args[2], out);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  try {
    return run(args);
  } catch (const std::exception& e) {
    std::cerr << "onnx_run: " << one_line(e.what()) << "\n";
    return 1;
  }
}
