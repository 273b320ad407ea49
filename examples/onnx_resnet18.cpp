// Walkthrough: torchvision's ResNet-18, exported to ONNX from Python
// (docs/onnx.md says how), imported into fovea, used as it is on one image,
// then fine-tuned for Fashion-MNIST by training a new 10-way head on the
// features of the imported backbone.
//
//   onnx_resnet18 MODEL.onnx [--data FOLDER] [--steps N] [--out FILE.fovea]
//
// 1. Imports the model and prints its size.
// 2. Classifies the first Fashion-MNIST test image, upscaled to the model's
//    224x224 input, and prints the five most probable ImageNet classes (by
//    index: the class names are not part of the model).
// 3. Fine-tunes at 32x32: the backbone (everything up to the features the
//    last Linear reads) stays fixed, a new Linear(512, 10) is trained on its
//    features of 2,000 training images for --steps SGD steps, and the
//    accuracy on 1,000 other training images is reported before and after.
//    The test set is used only for the single picture of step 2. The
//    backbone and the new head are written to --out as one network.
//
// Any classifier shaped like ResNet-18 works: three input channels, and a
// last Linear reading a feature vector (global pooling, then Flatten).

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fovea/fovea.hpp>
#include <fovea/io/data/dataset.hpp>
#include <fovea/models/resnet.hpp>
#include <fovea/onnx.hpp>
#include <iostream>
#include <numeric>

#include "mnist_source.hpp"

namespace {

using fovea::Index;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// torchvision's ImageNet models expect RGB in [0, 1], normalised per channel.
constexpr float imagenet_mean[3] = {0.485f, 0.456f, 0.406f};
constexpr float imagenet_std[3] = {0.229f, 0.224f, 0.225f};

// Writes one 28x28 Fashion-MNIST image into x[n] ([3, H, W]) as an ImageNet
// model expects it: grey replicated over R, G and B, normalised. `scale`
// upsamples by nearest neighbour (224x224 from 28x28: each pixel becomes an
// 8x8 block); `pad` adds a black border (32x32 from 28x28 with pad 2).
void write_image(fovea::TensorView<const std::uint8_t, 4> images, Index i, fovea::TensorView<float, 4> x, Index n,
                 Index pad) {
  const Index rows = images.dim(2), cols = images.dim(3);
  const Index height = x.dim(2), width = x.dim(3);
  for (Index c = 0; c < 3; ++c) {
    for (Index h = 0; h < height; ++h) {
      for (Index w = 0; w < width; ++w) {
        // The source pixel: the padded image scaled to height x width.
        const Index sh = h * (rows + 2 * pad) / height - pad;
        const Index sw = w * (cols + 2 * pad) / width - pad;
        const bool inside = sh >= 0 && sh < rows && sw >= 0 && sw < cols;
        const float pixel = inside ? static_cast<float>(images(i, 0, sh, sw)) / 255.0f : 0.0f;
        x(n, c, h, w) = (pixel - imagenet_mean[c]) / imagenet_std[c];
      }
    }
  }
}

// Images [begin, begin + count) of `data` as a [count, 3, 32, 32] batch.
fovea::Tensor<float, 4> images_32(const fovea::Dataset& data, Index begin, Index count) {
  fovea::Tensor<float, 4> x({count, 3, 32, 32});
  for (Index i = 0; i < count; ++i) write_image(data.images(), begin + i, x.view(), i, 2);
  return x;
}

// The last Linear of the network: the classifier head to replace.
fovea::Node last_linear(const fovea::Graph<float>& net) {
  for (std::size_t i = net.size(); i-- > 0;) {
    if (dynamic_cast<const fovea::Linear<float>*>(&net.layer(i)) != nullptr) return {static_cast<Index>(i + 1)};
  }
  throw fovea::value_error("the model has no Linear (Gemm) layer: it is not a classifier like ResNet-18");
}

// The backbone's features of `images` ([N, 3, 32, 32]), computed in
// inference mode (BatchNorm with its running statistics) in batches of 100.
fovea::Tensor<float, 4> features_of(fovea::Graph<float>& backbone, const fovea::Tensor<float, 4>& images) {
  const fovea::SampleShape shape = backbone.output_shape();
  fovea::Tensor<float, 4> features({images.dim(0), shape[0], shape[1], shape[2]});
  for (Index begin = 0; begin < images.dim(0); begin += 100) {
    const Index end = std::min(begin + 100, images.dim(0));
    features.view().slice(begin, end).copy_from(backbone.infer(images.view().slice(begin, end)));
  }
  return features;
}

// Fraction of `labels` that `net` (in inference mode) ranks first, on x.
double accuracy(const fovea::Graph<float>& net, const fovea::Tensor<float, 4>& x,
                const std::vector<std::int32_t>& labels) {
  Index correct = 0;
  for (Index begin = 0; begin < x.dim(0); begin += 100) {
    const Index end = std::min(begin + 100, x.dim(0));
    const fovea::Tensor<float, 2> p = net.predict(x.view().slice(begin, end));
    for (Index i = 0; i < p.dim(0); ++i) {
      const float* row = &p(i, 0);
      const auto best = std::max_element(row, row + p.dim(1)) - row;
      correct += best == labels[static_cast<std::size_t>(begin + i)] ? 1 : 0;
    }
  }
  return static_cast<double>(correct) / static_cast<double>(x.dim(0));
}

// fovea cannot swap the layer of a node, so the fine-tuned network is built
// anew: each node of `backbone` up to `features`, with a copy of its layer
// (fovea::copy_layer, through the layer registry) holding the same weights,
// then the nodes of `head`, which reads the features.
fovea::Graph<float> assemble(fovea::Graph<float>& backbone, fovea::Node features, fovea::Graph<float>& head) {
  fovea::Graph<float> net(backbone.input_shape());
  std::vector<fovea::Node> mapped = {net.input()};  // [k]: backbone node k in `net`
  const auto copy_node = [&](fovea::Graph<float>& from, fovea::Node node, const std::string& prefix) {
    return std::pair{prefix + from.name(node), fovea::copy_layer(from.layer(node))};
  };
  for (Index k = 1; k <= features.id; ++k) {
    auto [name, layer] = copy_node(backbone, {k}, "");
    std::vector<fovea::Node> inputs;
    for (fovea::Node in : backbone.inputs({k})) inputs.push_back(mapped[static_cast<std::size_t>(in.id)]);
    mapped.push_back(net.add(name, std::move(layer), inputs));
  }
  fovea::Node x = mapped.back();
  for (Index k = 1; k <= static_cast<Index>(head.size()); ++k) {
    auto [name, layer] = copy_node(head, {k}, "head.");
    x = net.add(name, std::move(layer), x);
  }
  return net;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model_path, data_folder, out_path = "resnet18-fashion.fovea", export_path;
  int steps = 200;
  CLI::App app{"Import torchvision's ResNet-18 from ONNX, classify an image, fine-tune the head on Fashion-MNIST"};
  app.add_option("model", model_path, "The ONNX model (docs/onnx.md: exporting torchvision's ResNet-18)");
  app.add_option("--data", data_folder,
                 "Folder with the idx files (default: $FOVEA_DATA, ./data/mnist, /usr/share/datasets/fashion-mnist)");
  app.add_option("--steps", steps, "SGD steps of the fine-tuning")->check(CLI::PositiveNumber);
  app.add_option("--out", out_path, "Where the fine-tuned network is written (fovea's format)");
  // For the test, which has no Python: a randomly initialised ResNet-18 in
  // ONNX, written by fovea itself. Hidden from --help (empty group).
  app.add_option("--export-random", export_path, "Write a random ResNet-18 as ONNX and exit")->group("");
  CLI11_PARSE(app, argc, argv);

  try {
    if (!export_path.empty()) {
      auto net = fovea::models::resnet18<float>({.classes = 1000, .in_channels = 3});
      fovea::onnx::save(net, export_path);
      std::cout << "wrote a randomly initialised ResNet-18 to " << export_path << "\n";
      return 0;
    }
    if (model_path.empty()) {
      std::cerr << "error: give the ONNX model (see --help)\n";
      return 2;
    }

    // The data first, so a missing data set stops before the slow parts.
    const std::optional<MnistFiles> files = find_training_files(candidate_folders(data_folder));
    if (!files) return 2;
    const fovea::Dataset train_file = fovea::load_idx_dataset(*files->train_images, *files->train_labels);
    const fovea::Dataset test_file = fovea::load_idx_dataset(files->test_images, files->test_labels);
    constexpr Index train_count = 2000, validation_count = 1000;
    if (train_file.size() < train_count + validation_count || test_file.size() < 1) {
      throw fovea::value_error("the data set has " + std::to_string(train_file.size()) +
                               " training images; the walkthrough needs " +
                               std::to_string(train_count + validation_count));
    }

    // 1. Import. A model exported with a symbolic height and width is built for 224x224.
    auto started = Clock::now();
    fovea::onnx::Imported<float> imported = fovea::onnx::import_file<float>(model_path, {.height = 224, .width = 224});
    fovea::Graph<float>& net = imported.graph;
    const fovea::SampleShape input = net.input_shape();
    if (input[0] != 3) {
      throw fovea::shape_error("the model takes " + std::to_string(input[0]) +
                               " channels; the walkthrough feeds RGB images (3 channels)");
    }
    std::printf("imported %s in %.2f s: input %s, %zu nodes\n", model_path.c_str(), seconds_since(started),
                fovea::to_string(input).c_str(), net.size());
    // The summary's totals: what follows its closing rule of '='.
    const std::string summary = net.summary();
    std::cout << summary.substr(summary.find('\n', summary.rfind("==")) + 1);

    // 2. Classify one image at the model's input size.
    started = Clock::now();
    fovea::Tensor<float, 4> picture({1, 3, input[1], input[2]});
    write_image(test_file.images(), 0, picture.view(), 0, 0);
    const fovea::Tensor<float, 2> probabilities = net.predict(picture.view());
    std::vector<Index> order(static_cast<std::size_t>(probabilities.dim(1)));
    std::iota(order.begin(), order.end(), Index{0});
    const auto top = std::min<std::ptrdiff_t>(5, std::ssize(order));
    std::partial_sort(order.begin(), order.begin() + top, order.end(),
                      [&](Index a, Index b) { return probabilities(0, a) > probabilities(0, b); });
    const std::int32_t label = test_file.labels()(0);
    std::printf("first test image (label: %s), %.2f s; top-5 ImageNet class indices:", class_names(true)[label].c_str(),
                seconds_since(started));
    for (std::ptrdiff_t i = 0; i < top; ++i)
      std::printf(" %lld (%.4f)", static_cast<long long>(order[i]), static_cast<double>(probabilities(0, order[i])));
    std::printf("\n");

    // 3. Fine-tune at 32x32. Global average pooling makes the layers after it
    // independent of the image size, so the same weights run on 32x32 inputs.
    const fovea::Node head_node = last_linear(net);
    const fovea::Node features = net.inputs(head_node).front();
    net.set_input_shape({3, 32, 32});
    if (net.shape(features)[1] != 1 || net.shape(features)[2] != 1) {
      throw fovea::shape_error("the last Linear '" + net.name(head_node) + "' reads " +
                               fovea::to_string(net.shape(features)) +
                               " at 32x32, expected a feature vector (global pooling, then Flatten)");
    }
    // The backbone: the same graph, its output moved to the features.
    net.set_outputs({features});
    const Index feature_count = net.shape(features)[0];

    // Training images [0, 2000) train, the last 1,000 of the training file validate.
    std::vector<std::int32_t> train_labels(train_count), validation_labels(validation_count);
    for (Index i = 0; i < train_count; ++i) train_labels[static_cast<std::size_t>(i)] = train_file.labels()(i);
    const Index validation_begin = train_file.size() - validation_count;
    for (Index i = 0; i < validation_count; ++i) {
      validation_labels[static_cast<std::size_t>(i)] = train_file.labels()(validation_begin + i);
    }
    started = Clock::now();
    const fovea::Tensor<float, 4> validation_images = images_32(train_file, validation_begin, validation_count);
    fovea::TensorDataset<float> train_features(features_of(net, images_32(train_file, 0, train_count)), train_labels);
    const fovea::Tensor<float, 4> validation_features = features_of(net, validation_images);
    std::printf("backbone features (%lld per image, node '%s') of %lld + %lld images at 32x32 in %.1f s\n",
                static_cast<long long>(feature_count), net.name(features).c_str(), static_cast<long long>(train_count),
                static_cast<long long>(validation_count), seconds_since(started));

    // The head: each feature standardised with the training features' mean
    // and deviation (a fixed ChannelAffine, not trained), which makes one
    // learning rate suit any backbone's feature scale, then a new
    // Linear(512, 10), the only thing trained.
    fovea::Graph<float> head({feature_count, 1, 1});
    fovea::ChannelAffine<float> standardize(feature_count);
    const auto& samples = train_features.samples();
    for (Index f = 0; f < feature_count; ++f) {
      double sum = 0, squares = 0;
      for (Index i = 0; i < train_count; ++i) {
        sum += samples(i, f, 0, 0);
        squares += static_cast<double>(samples(i, f, 0, 0)) * samples(i, f, 0, 0);
      }
      const double mean = sum / train_count;
      const double deviation = std::sqrt(std::max(0.0, squares / train_count - mean * mean));
      const double scale = deviation > 0 ? 1 / deviation : 1;  // a constant feature carries nothing
      standardize.scale()(f) = static_cast<float>(scale);
      standardize.shift()(f) = static_cast<float>(-mean * scale);
    }
    const fovea::Node standardized = head.add("standardize", standardize, head.input());
    head.add("fc", fovea::Linear<float>(feature_count, 10), standardized);

    const double before = accuracy(head, validation_features, validation_labels);
    std::printf("validation accuracy before fine-tuning: %.2f%% of %lld (the new head is random: chance is 10%%)\n",
                100 * before, static_cast<long long>(validation_count));

    started = Clock::now();
    fovea::SoftmaxCrossEntropy<float> loss;
    fovea::Sgd<float> sgd(head.params(), {.learning_rate = 0.01, .momentum = 0.9});
    constexpr Index batch = 50;
    fovea::Rng rng(1);
    fovea::MinibatchOrder order_of_batches(train_count, batch);
    fovea::Tensor<float, 4> x({batch, feature_count, 1, 1});
    std::vector<std::int32_t> labels(batch);
    fovea::Tensor<float, 2> dy({batch, 10});
    for (int step = 0; step < steps; ++step) {
      const Index b = step % order_of_batches.batch_count();
      if (b == 0) order_of_batches.shuffle(rng);  // a new epoch
      train_features.make_batch(order_of_batches.batch(b), x.view(), std::span<std::int32_t>(labels));
      head.zero_grad();
      const auto y = head.forward(x.view());
      const float value =
          loss.forward_backward(y.reshape(fovea::Shape<2>{batch, 10}), fovea::Targets<float>(labels), dy.view());
      head.backward(dy.view().reshape(fovea::Shape<4>{batch, 10, 1, 1}));
      sgd.step();
      if ((step + 1) % std::max(1, steps / 5) == 0 || step + 1 == steps) {
        std::printf("step %d/%d  loss %.4f\n", step + 1, steps, static_cast<double>(value));
      }
    }
    const double after = accuracy(head, validation_features, validation_labels);
    std::printf("validation accuracy after fine-tuning: %.2f%% (%d steps, %.2f s)\n", 100 * after, steps,
                seconds_since(started));

    // The backbone and the trained head as one network, checked on the
    // validation images before it is written.
    fovea::Graph<float> tuned = assemble(net, features, head);
    const double whole = accuracy(tuned, validation_images, validation_labels);
    fovea::save(tuned, out_path);
    std::printf("wrote %s: the fine-tuned network, 3x32x32 in, 10 classes out (validation accuracy %.2f%%)\n",
                out_path.c_str(), 100 * whole);
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
