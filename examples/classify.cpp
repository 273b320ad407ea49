// Classifies one image with a model saved by lenet_mnist: prints the ten class
// probabilities (they sum to 1) and the predicted class.
//
//   classify --model lenet-out/lenet.fovea digit.png
//
// Any size and any PNG/JPEG/PGM: colour is averaged to gray, the image is
// resized to the model's input by area averaging, and a dark-on-light image
// is inverted to MNIST's light-on-dark.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fovea/fovea.hpp>
#include <fovea/io/image/read_image.hpp>
#include <iostream>

#include "mnist_source.hpp"

namespace {

// Area-average resize of a [H, W] gray image to [out_h, out_w]: every output
// pixel is the mean of the source region it covers (fractional overlaps weighted).
fovea::Tensor<float, 2> resize_area(fovea::TensorView<const float, 2> src, fovea::Index out_h, fovea::Index out_w) {
  const double sy = static_cast<double>(src.dim(0)) / static_cast<double>(out_h);
  const double sx = static_cast<double>(src.dim(1)) / static_cast<double>(out_w);
  fovea::Tensor<float, 2> out({out_h, out_w});
  for (fovea::Index oy = 0; oy < out_h; ++oy) {
    for (fovea::Index ox = 0; ox < out_w; ++ox) {
      const double y0 = static_cast<double>(oy) * sy, y1 = y0 + sy;
      const double x0 = static_cast<double>(ox) * sx, x1 = x0 + sx;
      double sum = 0, weight = 0;
      for (auto y = static_cast<fovea::Index>(y0); y < std::min<double>(std::ceil(y1), static_cast<double>(src.dim(0)));
           ++y) {
        const double wy =
            std::min<double>(static_cast<double>(y) + 1, y1) - std::max<double>(static_cast<double>(y), y0);
        for (auto x = static_cast<fovea::Index>(x0);
             x < std::min<double>(std::ceil(x1), static_cast<double>(src.dim(1))); ++x) {
          const double wx =
              std::min<double>(static_cast<double>(x) + 1, x1) - std::max<double>(static_cast<double>(x), x0);
          sum += wy * wx * src(y, x);
          weight += wy * wx;
        }
      }
      out(oy, ox) = static_cast<float>(weight > 0 ? sum / weight : 0);
    }
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, image_path, dataset = "mnist";
  double mean = 0, stddev = 1;
  bool no_invert = false;
  CLI::App app{"Classify an image with a saved fovea model"};
  app.add_option("--model", model_path, "Model file written by lenet_mnist")->required();
  app.add_option("image", image_path, "PNG, JPEG or PGM image of a digit (any size)")->required();
  app.add_option("--dataset", dataset, "Class names: mnist or fashion")->check(CLI::IsMember({"mnist", "fashion"}));
  app.add_option("--mean", mean, "Normalisation mean the model was trained with (lenet_mnist --normalize prints it)");
  app.add_option("--std", stddev, "Normalisation standard deviation")->check(CLI::PositiveNumber);
  app.add_flag("--no-invert", no_invert, "Never invert dark-on-light images");
  CLI11_PARSE(app, argc, argv);

  try {
    auto net = fovea::load<float>(model_path);
    const fovea::SampleShape input = net.input_shape();
    if (input[0] != 1)
      throw fovea::format_error("classify: the model takes " + std::to_string(input[0]) +
                                " channels; only gray models are supported");
    const fovea::Tensor<float, 3> image = fovea::read_image(image_path);
    // Gray: the mean of the colour channels (alpha, if any, is ignored).
    const fovea::Index colours = image.dim(0) == 2 || image.dim(0) == 4 ? image.dim(0) - 1 : image.dim(0);
    fovea::Tensor<float, 2> gray({image.dim(1), image.dim(2)});
    for (fovea::Index c = 0; c < colours; ++c)
      gray.array() += image.view().item(c).flatten().array() / static_cast<float>(colours);
    auto small = resize_area(gray, input[1], input[2]);
    const bool invert = !no_invert && small.array().mean() > 0.5f;
    if (invert) small.array() = 1.0f - small.array();

    fovea::Tensor<float, 4> x({1, 1, input[1], input[2]});
    x.flatten().array() = (small.flatten().array() - static_cast<float>(mean)) / static_cast<float>(stddev);
    const auto probabilities = net.predict(x);
    const auto& names = class_names(dataset == "fashion");
    fovea::Index best = 0;
    for (fovea::Index k = 0; k < probabilities.dim(1); ++k) {
      const std::string name =
          k < static_cast<fovea::Index>(names.size()) ? names[static_cast<std::size_t>(k)] : std::to_string(k);
      std::printf("%-12s %8.5f\n", name.c_str(), static_cast<double>(probabilities(0, k)));
      if (probabilities(0, k) > probabilities(0, best)) best = k;
    }
    std::printf("sum of probabilities: %.6f\n", static_cast<double>(probabilities.array().sum()));
    std::printf("predicted: %s (%.1f%%)%s\n",
                best < static_cast<fovea::Index>(names.size()) ? names[static_cast<std::size_t>(best)].c_str()
                                                               : std::to_string(best).c_str(),
                100.0 * static_cast<double>(probabilities(0, best)),
                invert ? " [image inverted to light-on-dark]" : "");
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
