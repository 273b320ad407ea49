#pragma once

/// @file
/// The model zoo by name: names() lists every builder of fovea::models and
/// make() calls one, for programs that take the model from their command line.
///
/// @code
/// auto net = fovea::models::make<float>("resnet50", {.classes = 10});
/// @endcode

#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/models/alexnet.hpp"
#include "fovea/models/common.hpp"
#include "fovea/models/densenet.hpp"
#include "fovea/models/googlenet.hpp"
#include "fovea/models/lenet.hpp"
#include "fovea/models/mobilenet.hpp"
#include "fovea/models/resnet.hpp"
#include "fovea/models/squeezenet.hpp"
#include "fovea/models/vgg.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea::models {

/// A zoo builder: options in, a network ready to train out.
template <class T>
using Builder = Graph<T> (*)(const ModelOptions&);

/// One entry of the zoo: the builder's name and the builder.
template <class T>
struct ZooEntry {
  std::string name;    ///< As the builder is named: "resnet50", "vgg16_bn".
  Builder<T> builder;  ///< The function that builds it.
};

/// Every builder of the zoo, in the order of docs/model-zoo.md.
template <class T>
std::vector<ZooEntry<T>> zoo() {
  return {{"lenet5", &lenet5<T>},
          {"alexnet", &alexnet<T>},
          {"zfnet", &zfnet<T>},
          {"vgg11", &vgg11<T>},
          {"vgg13", &vgg13<T>},
          {"vgg16", &vgg16<T>},
          {"vgg19", &vgg19<T>},
          {"vgg11_bn", &vgg11_bn<T>},
          {"vgg13_bn", &vgg13_bn<T>},
          {"vgg16_bn", &vgg16_bn<T>},
          {"vgg19_bn", &vgg19_bn<T>},
          {"resnet8", &resnet8<T>},
          {"resnet18", &resnet18<T>},
          {"resnet34", &resnet34<T>},
          {"resnet50", &resnet50<T>},
          {"resnet101", &resnet101<T>},
          {"densenet121", &densenet121<T>},
          {"googlenet", &googlenet<T>},
          {"mobilenet_v2", &mobilenet_v2<T>},
          {"squeezenet1_1", &squeezenet1_1<T>}};
}

/// The names make() knows, in the zoo's order.
inline std::vector<std::string> names() {
  std::vector<std::string> list;
  for (const auto& entry : zoo<float>()) list.push_back(entry.name);
  return list;
}

/// Builds the zoo model `name` with `options`. Throws value_error for an
/// unknown name, listing the known ones, and whatever the builder throws.
template <class T>
Graph<T> make(const std::string& name, const ModelOptions& options = {}) {
  std::string known;
  for (const auto& entry : zoo<T>()) {
    if (entry.name == name) return entry.builder(options);
    known += (known.empty() ? "" : ", ") + entry.name;
  }
  throw value_error("models::make: unknown model '" + name + "'; known: " + known);
}

}  // namespace fovea::models
