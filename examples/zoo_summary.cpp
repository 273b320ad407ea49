// Prints the summary of any model of fovea's zoo: each node with its output
// shape, parameters and FLOPs, then the totals; the last line is the
// parameter count, thousands separated by commas.
//
//   zoo_summary resnet50                         # 1,000 classes, 3x224x224
//   zoo_summary resnet18 --classes 10 --input 3,32,32
//   zoo_summary nothing                          # lists the known models, exits 1

#include <CLI/CLI.hpp>
#include <algorithm>
#include <fovea/models/zoo.hpp>
#include <iostream>
#include <sstream>
#include <string>

namespace {

// "C,H,W" -> the three sizes; throws CLI::ValidationError otherwise.
fovea::models::ModelOptions parse_input(const std::string& text, fovea::models::ModelOptions options) {
  std::istringstream in(text);
  fovea::Index c = 0, h = 0, w = 0;
  char comma1 = 0, comma2 = 0;
  if (!(in >> c >> comma1 >> h >> comma2 >> w) || comma1 != ',' || comma2 != ',' || !in.eof() || c < 1 || h < 1 ||
      w < 1) {
    throw CLI::ValidationError("--input", "expected C,H,W with three positive sizes, got '" + text + "'");
  }
  options.in_channels = c;
  options.height = h;
  options.width = w;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  std::string name, input;
  fovea::Index classes = 0;
  CLI::App app{"Print the summary of a model of fovea's zoo"};
  app.add_option("name", name, "Model name, e.g. resnet50 (an unknown name lists them)")->required();
  app.add_option("--classes", classes, "Number of classes (default: the model's own, 1,000 for ImageNet models)")
      ->check(CLI::PositiveNumber);
  app.add_option("--input", input, "Input size C,H,W (default: the model's own, 3,224,224 for ImageNet models)");
  CLI11_PARSE(app, argc, argv);

  const auto names = fovea::models::names();
  if (std::find(names.begin(), names.end(), name) == names.end()) {
    std::cerr << "zoo_summary: unknown model '" << name << "'; known models:\n";
    for (const auto& known : names) std::cerr << "  " << known << '\n';
    return 2;
  }
  try {
    fovea::models::ModelOptions options{.classes = classes};
    if (!input.empty()) options = parse_input(input, options);
    const auto net = fovea::models::make<float>(name, options);
    std::cout << name << ", input " << fovea::to_string(net.input_shape()) << '\n';
    std::cout << net.summary();
    std::cout << "parameters: " << fovea::group_thousands(net.parameter_count()) << '\n';
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "zoo_summary: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
