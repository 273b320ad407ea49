#pragma once

/// @file
/// Model files (docs/model-format.md): the architecture, every parameter with
/// its name and shape, optionally the training state (optimizer buffers, epoch,
/// seed, layer generators), and a CRC-32 over everything, little-endian.
///
/// Saving never destroys the last good file: the bytes go to a temporary file
/// in the same folder, which is flushed to disk and then renamed over the
/// target (rename is atomic on POSIX file systems). Loading reads only regular
/// files, checks the magic number before reading the rest, and checks
/// everything (values included) before touching the caller's network or
/// optimizer, so a bad file leaves them as they were.

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/detail/binary.hpp"
#include "fovea/detail/crc32.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/io/read_limits.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/nn/registry.hpp"
#include "fovea/nn/sequential.hpp"
#include "fovea/optim/optimizer.hpp"

namespace fovea {

/// The eight bytes every model file starts with: "FOVEAMDL".
inline constexpr char model_magic[8] = {'F', 'O', 'V', 'E', 'A', 'M', 'D', 'L'};
/// The newest format version this fovea reads and writes; files of a newer
/// version are refused. Version 2 adds the layers' buffers (BatchNorm's running
/// statistics) after the parameters; version 3 adds the graph: each node's
/// name and inputs, and the outputs. Each network is written in the oldest
/// version that holds it: a chain (a Sequential) without buffers as version 1,
/// byte for byte what fovea wrote before buffers and graphs existed.
inline constexpr std::uint32_t model_format_version = 3;

/// Where training stood when a checkpoint was written.
struct TrainingProgress {
  int next_epoch = 0;      ///< pass as FitOptions::start_epoch to resume
  std::uint64_t seed = 0;  ///< The run's seed (FitOptions::seed), stored for the resumed run to reuse.
};

namespace detail {

struct StoredTensor {
  std::string name;
  std::vector<Index> shape;
  std::vector<double> values;  // widened on read; narrowed to the network's type on load
};

struct StoredTrainingState {
  std::string optimizer;
  Index steps = 0;
  double learning_rate = 0;
  TrainingProgress progress;
  std::vector<StoredTensor> buffers;
  std::vector<Rng::State> generators;
};

struct StoredModel {
  SampleShape input{};
  std::vector<LayerSpec> layers;
  std::vector<std::string> names;                  // [i]: node i + 1's name ("i" before version 3)
  std::vector<std::vector<std::uint32_t>> inputs;  // [i]: the tensors node i + 1 reads (0: the input)
  std::vector<std::uint32_t> outputs;              // the output tensors, in order
  std::vector<StoredTensor> tensors;
  std::vector<StoredTensor> buffers;  // version 2 on; none in a version 1 file
  std::optional<StoredTrainingState> training;
};

// Every layer's buffers in node order, named "<node>.<name>" as the graph
// names the parameters (a Sequential's nodes are named "0", "1", ...).
template <class T>
std::vector<Buffer<T>> network_buffers(Graph<T>& net) {
  std::vector<Buffer<T>> all;
  for (std::size_t i = 0; i < net.size(); ++i) {
    for (auto& b : net.layer(i).buffers()) {
      b.name = net.name(Node{static_cast<Index>(i) + 1}) + "." + b.name;
      all.push_back(std::move(b));
    }
  }
  return all;
}

// The structure a file without a graph section implies: node i named "i"
// reads tensor i (the node before it, or the input), and the last node is the output.
inline void set_chain_structure(StoredModel& model) {
  const auto n = static_cast<std::uint32_t>(model.layers.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    model.names.push_back(std::to_string(i));
    model.inputs.push_back({i});
  }
  if (n > 0) model.outputs = {n};
}

// Whether the file's structure is such a chain (always so before version 3).
inline bool holds_plain_chain(const StoredModel& model) {
  const auto n = static_cast<std::uint32_t>(model.layers.size());
  for (std::uint32_t i = 0; i < n; ++i) {
    if (model.names[i] != std::to_string(i) || model.inputs[i] != std::vector<std::uint32_t>{i}) return false;
  }
  return n == 0 || model.outputs == std::vector<std::uint32_t>{n};
}

// Whether the network is such a chain, so that it needs no graph section.
template <class T>
bool is_plain_chain(const Graph<T>& net) {
  for (std::size_t i = 0; i < net.size(); ++i) {
    const Node node{static_cast<Index>(i) + 1};
    const auto inputs = net.inputs(node);
    if (net.name(node) != std::to_string(i) || inputs.size() != 1 || inputs[0].id != static_cast<Index>(i)) {
      return false;
    }
  }
  const auto outputs = net.outputs();
  return outputs.size() == 1 && outputs[0].id == static_cast<Index>(net.size());
}

template <class T, class View>
void put_tensor(ByteWriter& w, const std::string& name, const std::vector<Index>& shape, const View& values) {
  w.put_string(name);
  w.put(static_cast<std::uint32_t>(shape.size()));
  for (Index d : shape) w.put(static_cast<std::int64_t>(d));
  for (Index i = 0; i < values.size(); ++i) w.put_real<T>(values.data()[i]);
}

inline StoredTensor get_tensor(ByteReader& r, std::size_t scalar_bytes) {
  StoredTensor t;
  t.name = r.get_string("tensor name");
  const auto rank = r.get<std::uint32_t>("tensor rank");
  if (rank > 8)
    throw format_error(r.what() + ": tensor '" + t.name + "' has rank " + std::to_string(rank) + " (corrupt)");
  Index count = 1;
  for (std::uint32_t a = 0; a < rank; ++a) {
    const auto d = r.get<std::int64_t>("tensor shape");
    if (d < 0 || (d > 0 && count > (Index{1} << 40) / d)) {
      throw format_error(r.what() + ": tensor '" + t.name + "' has an impossible dimension " + std::to_string(d));
    }
    t.shape.push_back(static_cast<Index>(d));
    count *= static_cast<Index>(d);
  }
  // Check the bytes are there before allocating for them.
  r.need(static_cast<std::size_t>(count) * scalar_bytes, "tensor values");
  t.values.resize(static_cast<std::size_t>(count));
  for (double& v : t.values)
    v = scalar_bytes == 4 ? r.get_real<float>("tensor values") : r.get_real<double>("tensor values");
  return t;
}

template <class T>
std::vector<std::uint8_t> encode_model(Graph<T>& net, const Optimizer<T>* optimizer, const TrainingProgress* progress) {
  ByteWriter w;
  const auto buffers = network_buffers(net);
  const bool graph = !is_plain_chain(net);
  const std::uint32_t version = graph ? 3 : !buffers.empty() ? 2 : 1;
  for (char c : model_magic) w.put(static_cast<std::uint8_t>(c));
  w.put(version);
  w.put(std::uint64_t{0});  // total length, patched below
  w.put(static_cast<std::uint32_t>(sizeof(T)));
  for (Index d : net.input_shape()) w.put(static_cast<std::int64_t>(d));
  w.put(static_cast<std::uint32_t>(net.size()));
  for (std::size_t i = 0; i < net.size(); ++i) {
    const LayerSpec spec = net.layer(i).spec();
    w.put_string(spec.type);
    w.put(static_cast<std::uint32_t>(spec.values.size()));
    for (const auto& [key, value] : spec.values) {
      w.put_string(key);
      w.put_double(value);
    }
  }
  if (version >= 3) {
    for (std::size_t i = 0; i < net.size(); ++i) {
      const Node node{static_cast<Index>(i) + 1};
      w.put_string(net.name(node));
      const auto inputs = net.inputs(node);
      w.put(static_cast<std::uint32_t>(inputs.size()));
      for (const Node& in : inputs) w.put(static_cast<std::uint32_t>(in.id));
    }
    const auto outputs = net.outputs();
    w.put(static_cast<std::uint32_t>(outputs.size()));
    for (const Node& out : outputs) w.put(static_cast<std::uint32_t>(out.id));
  }
  w.put(static_cast<std::uint32_t>(net.params().size()));
  for (const auto& p : net.params()) put_tensor<T>(w, p.name, p.shape, p.value);
  if (version >= 2) {
    w.put(static_cast<std::uint32_t>(buffers.size()));
    for (const auto& b : buffers) put_tensor<T>(w, b.name, b.shape, b.value);
  }

  w.put(static_cast<std::uint8_t>(optimizer != nullptr ? 1 : 0));
  if (optimizer != nullptr) {
    w.put_string(optimizer->describe());
    w.put(static_cast<std::int64_t>(optimizer->steps()));
    w.put_double(optimizer->learning_rate());
    w.put(static_cast<std::int32_t>(progress->next_epoch));
    w.put(progress->seed);
    const auto& state = optimizer->state();
    w.put(static_cast<std::uint32_t>(state.size()));
    for (std::size_t b = 0; b < state.size(); ++b) {
      put_tensor<T>(w, "state" + std::to_string(b), {state[b].size()}, state[b]);
    }
    std::vector<Rng::State> generators;
    for (std::size_t i = 0; i < net.size(); ++i) {
      if (Rng* rng = net.layer(i).rng()) generators.push_back(rng->state());
    }
    w.put(static_cast<std::uint32_t>(generators.size()));
    for (const auto& state : generators) {
      for (std::uint64_t word : state) w.put(word);
    }
  }
  auto& bytes = w.bytes();
  const std::uint64_t total = bytes.size() + 4;  // + the CRC
  for (std::size_t i = 0; i < 8; ++i) bytes[12 + i] = static_cast<std::uint8_t>(total >> (8 * i));
  const std::uint32_t crc = crc32(bytes);
  w.put(crc);
  return std::move(bytes);
}

// Version 3's graph section: per node its name and the tensors it reads,
// then the outputs. Every name must be new and not empty, every node may read
// only tensors made before it, and every output must be a node: what
// Graph::add and set_outputs would accept.
inline void read_graph_section(ByteReader& body, StoredModel& model, const std::string& what) {
  const auto n = static_cast<std::uint32_t>(model.layers.size());
  std::vector<std::string> seen{"input"};
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string name = body.get_string("node name");
    if (name.empty() || std::find(seen.begin(), seen.end(), name) != seen.end()) {
      throw format_error(what + ": node " + std::to_string(i) + " has " +
                         (name.empty() ? std::string("no name") : "the name '" + name + "' of an earlier node") +
                         " (corrupt file)");
    }
    seen.push_back(name);
    const auto count = body.get<std::uint32_t>("node input count");
    if (count == 0 || count > n + 1) {
      throw format_error(what + ": node '" + name + "' reads " + std::to_string(count) + " tensors (corrupt file)");
    }
    body.need(static_cast<std::size_t>(count) * 4, "node inputs");
    std::vector<std::uint32_t> inputs;
    for (std::uint32_t k = 0; k < count; ++k) {
      const auto in = body.get<std::uint32_t>("node input");
      if (in > i) {
        throw format_error(what + ": node '" + name + "' reads tensor " + std::to_string(in) +
                           ", which is not made before it (corrupt file)");
      }
      inputs.push_back(in);
    }
    model.names.push_back(std::move(name));
    model.inputs.push_back(std::move(inputs));
  }
  const auto outputs = body.get<std::uint32_t>("output count");
  if (outputs == 0 || outputs > n) {
    throw format_error(what + ": " + std::to_string(outputs) + " outputs for " + std::to_string(n) +
                       " nodes (corrupt file)");
  }
  body.need(static_cast<std::size_t>(outputs) * 4, "outputs");
  for (std::uint32_t k = 0; k < outputs; ++k) {
    const auto out = body.get<std::uint32_t>("output");
    if (out == 0 || out > n) {
      throw format_error(what + ": output tensor " + std::to_string(out) + " is not a node (corrupt file)");
    }
    model.outputs.push_back(out);
  }
}

inline StoredModel decode_model(const std::vector<std::uint8_t>& bytes, const std::string& what) {
  ByteReader r(bytes.data(), bytes.size(), what);
  r.need(sizeof model_magic, "magic");
  if (std::memcmp(bytes.data(), model_magic, sizeof model_magic) != 0) {
    throw format_error(what + ": not a fovea model file (wrong magic)");
  }
  for (std::size_t i = 0; i < sizeof model_magic; ++i) r.get<std::uint8_t>("magic");
  const auto version = r.get<std::uint32_t>("format version");
  if (version > model_format_version) {
    throw format_error(what + ": format version " + std::to_string(version) + " is newer than this fovea reads (" +
                       std::to_string(model_format_version) + "); update fovea");
  }
  if (version == 0) throw format_error(what + ": format version 0 is invalid (corrupt file)");
  const auto total = r.get<std::uint64_t>("length");
  if (total != bytes.size()) {
    throw format_error(what + ": the header promises " + std::to_string(total) + " bytes but the file has " +
                       std::to_string(bytes.size()) + (total > bytes.size() ? " (truncated)" : " (trailing bytes)"));
  }
  const std::uint32_t stored_crc = static_cast<std::uint32_t>(bytes[bytes.size() - 4]) |
                                   static_cast<std::uint32_t>(bytes[bytes.size() - 3]) << 8 |
                                   static_cast<std::uint32_t>(bytes[bytes.size() - 2]) << 16 |
                                   static_cast<std::uint32_t>(bytes[bytes.size() - 1]) << 24;
  if (crc32(std::span(bytes.data(), bytes.size() - 4)) != stored_crc) {
    throw format_error(what + ": checksum mismatch: the file is corrupt");
  }
  ByteReader body(bytes.data(), bytes.size() - 4, what);
  for (std::size_t i = 0; i < r.position(); ++i) body.get<std::uint8_t>("header");  // magic, version, length
  const auto scalar_bytes = body.get<std::uint32_t>("scalar size");
  if (scalar_bytes != 4 && scalar_bytes != 8) {
    throw format_error(what + ": scalar size " + std::to_string(scalar_bytes) + " is neither 4 (float) nor 8 (double)");
  }
  StoredModel model;
  double input_values = 1;
  for (Index& d : model.input) {
    d = static_cast<Index>(body.get<std::int64_t>("input shape"));
    input_values *= static_cast<double>(d);
    // No real network takes more than 2^31 values per sample; a larger claim
    // is corruption, and checking here keeps every later size computation in range.
    if (d < 1 || d > (Index{1} << 31) || input_values > 2147483648.0) {
      throw format_error(what + ": input shape " + to_string(model.input) + " is impossible (corrupt file)");
    }
  }
  const auto layer_count = body.get<std::uint32_t>("layer count");
  for (std::uint32_t i = 0; i < layer_count; ++i) {
    body.need(8, "layer");
    LayerSpec spec{body.get_string("layer type"), {}};
    const auto values = body.get<std::uint32_t>("layer settings");
    for (std::uint32_t k = 0; k < values; ++k) {
      std::string key = body.get_string("setting name");
      spec.values.emplace_back(std::move(key), body.get_real<double>("setting value"));
    }
    model.layers.push_back(std::move(spec));
  }
  if (version >= 3) {
    read_graph_section(body, model, what);
  } else {
    set_chain_structure(model);
  }
  const auto tensor_count = body.get<std::uint32_t>("tensor count");
  for (std::uint32_t i = 0; i < tensor_count; ++i) model.tensors.push_back(get_tensor(body, scalar_bytes));
  if (version >= 2) {
    const auto buffer_count = body.get<std::uint32_t>("buffer count");
    for (std::uint32_t i = 0; i < buffer_count; ++i) model.buffers.push_back(get_tensor(body, scalar_bytes));
  }
  if (body.get<std::uint8_t>("training flag") == 1) {
    StoredTrainingState state;
    state.optimizer = body.get_string("optimizer");
    state.steps = static_cast<Index>(body.get<std::int64_t>("optimizer steps"));
    state.learning_rate = body.get_real<double>("learning rate");
    state.progress.next_epoch = body.get<std::int32_t>("epoch");
    state.progress.seed = body.get<std::uint64_t>("seed");
    const auto buffers = body.get<std::uint32_t>("optimizer state count");
    for (std::uint32_t i = 0; i < buffers; ++i) state.buffers.push_back(get_tensor(body, scalar_bytes));
    const auto generators = body.get<std::uint32_t>("generator count");
    body.need(static_cast<std::size_t>(generators) * 32, "generators");
    for (std::uint32_t i = 0; i < generators; ++i) {
      Rng::State s{};
      for (auto& word : s) word = body.get<std::uint64_t>("generator state");
      state.generators.push_back(s);
    }
    model.training = std::move(state);
  }
  if (body.remaining() != 0) {
    throw format_error(what + ": " + std::to_string(body.remaining()) + " unexplained bytes before the checksum");
  }
  return model;
}

// The whole file, its magic number checked before the rest is read (a large
// file that is no model costs eight bytes of reading), its size bounded by
// `limits` before anything is allocated.
inline std::vector<std::uint8_t> read_model_file(const std::filesystem::path& path, const std::string& what,
                                                 const ReadLimits& limits) {
  InputFile file(path, "", what);
  const Index head = std::min<Index>(file.size(), sizeof model_magic);
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(head));
  file.read(bytes.data(), head);
  if (head == sizeof model_magic && std::memcmp(bytes.data(), model_magic, sizeof model_magic) != 0) {
    throw format_error(what + ": not a fovea model file (wrong magic)");
  }
  if (file.size() > limits.max_file_bytes) {
    throw format_error(what + ": " + std::to_string(file.size()) + " bytes, more than the limit of " +
                       std::to_string(limits.max_file_bytes) + " (ReadLimits::max_file_bytes)");
  }
  bytes.resize(static_cast<std::size_t>(file.size()));
  file.read(bytes.data() + head, file.size() - head);
  return bytes;
}

inline std::string describe_spec(const LayerSpec& spec) {
  std::string s = spec.type + "{";
  for (std::size_t i = 0; i < spec.values.size(); ++i) {
    s += (i ? ", " : "") + spec.values[i].first + "=" + format_number(spec.values[i].second);
  }
  return s + "}";
}

inline std::string describe_inputs(const std::vector<std::uint32_t>& ids) {
  std::string s = "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s += (i ? ", " : "") + std::to_string(ids[i]);
  return s + "]";
}

// Every value of a stored tensor must be finite and within T's range: a
// double model's 1e300 would become float's infinity, and a NaN weight makes
// every prediction NaN.
template <class T>
void check_values_fit(const StoredTensor& tensor, const std::string& what) {
  for (std::size_t k = 0; k < tensor.values.size(); ++k) {
    const double value = tensor.values[k];
    if (!std::isfinite(value)) {
      throw format_error(what + ": tensor '" + tensor.name + "' holds " + format_number(value) + " at element " +
                         std::to_string(k) + ", expected finite values");
    }
    if (std::abs(value) > static_cast<double>(std::numeric_limits<T>::max())) {
      throw format_error(what + ": tensor '" + tensor.name + "' holds " + format_number(value) + " at element " +
                         std::to_string(k) + ", outside the range of " +
                         (std::is_same_v<T, float> ? "float" : "double") + " (at most " +
                         format_number(static_cast<double>(std::numeric_limits<T>::max())) + ")");
    }
  }
}

template <class T>
void check_matches(Graph<T>& net, const StoredModel& model, const std::string& what) {
  if (model.input != net.input_shape()) {
    throw format_error(what + ": the file's network takes " + to_string(model.input) + ", this network takes " +
                       to_string(net.input_shape()));
  }
  if (model.layers.size() != net.size()) {
    throw format_error(what + ": the file's network has " + std::to_string(model.layers.size()) +
                       " layers, this network has " + std::to_string(net.size()));
  }
  for (std::size_t i = 0; i < net.size(); ++i) {
    const LayerSpec mine = net.layer(i).spec();
    if (!(mine == model.layers[i])) {
      throw format_error(what + ": layer " + std::to_string(i) + " is " + describe_spec(model.layers[i]) +
                         " in the file but " + net.layer(i).describe() + " in this network");
    }
    const Node node{static_cast<Index>(i) + 1};
    std::vector<std::uint32_t> mine_inputs;
    for (const Node& in : net.inputs(node)) mine_inputs.push_back(static_cast<std::uint32_t>(in.id));
    if (net.name(node) != model.names[i] || mine_inputs != model.inputs[i]) {
      throw format_error(what + ": node " + std::to_string(i) + " is '" + model.names[i] + "' reading " +
                         describe_inputs(model.inputs[i]) + " in the file but '" + net.name(node) + "' reading " +
                         describe_inputs(mine_inputs) + " in this network");
    }
  }
  std::vector<std::uint32_t> mine_outputs;
  for (const Node& out : net.outputs()) mine_outputs.push_back(static_cast<std::uint32_t>(out.id));
  if (mine_outputs != model.outputs) {
    throw format_error(what + ": the outputs are tensors " + describe_inputs(model.outputs) + " in the file but " +
                       describe_inputs(mine_outputs) + " in this network");
  }
  const auto& params = net.params();
  if (model.tensors.size() != params.size()) {
    throw format_error(what + ": " + std::to_string(model.tensors.size()) + " tensors in the file, the network has " +
                       std::to_string(params.size()));
  }
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (model.tensors[i].name != params[i].name || model.tensors[i].shape != params[i].shape) {
      throw format_error(what + ": tensor " + std::to_string(i) + " is '" + model.tensors[i].name + "' " +
                         to_string(std::span<const Index>(model.tensors[i].shape)) + " in the file, '" +
                         params[i].name + "' " + to_string(std::span<const Index>(params[i].shape)) +
                         " in the network");
    }
  }
  const auto buffers = network_buffers(net);
  if (model.buffers.size() != buffers.size()) {
    throw format_error(what + ": " + std::to_string(model.buffers.size()) + " buffers in the file, the network has " +
                       std::to_string(buffers.size()));
  }
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    if (model.buffers[i].name != buffers[i].name || model.buffers[i].shape != buffers[i].shape) {
      throw format_error(what + ": buffer " + std::to_string(i) + " is '" + model.buffers[i].name + "' " +
                         to_string(std::span<const Index>(model.buffers[i].shape)) + " in the file, '" +
                         buffers[i].name + "' " + to_string(std::span<const Index>(buffers[i].shape)) +
                         " in the network");
    }
  }
  for (const auto* tensors : {&model.tensors, &model.buffers}) {
    for (const auto& tensor : *tensors) check_values_fit<T>(tensor, what);
  }
}

template <class T>
void copy_parameters(Graph<T>& net, const StoredModel& model) {
  const auto& params = net.params();
  for (std::size_t i = 0; i < params.size(); ++i) {
    for (Index k = 0; k < params[i].value.size(); ++k) {
      params[i].value(k) = static_cast<T>(model.tensors[i].values[static_cast<std::size_t>(k)]);
    }
  }
  const auto buffers = network_buffers(net);
  for (std::size_t i = 0; i < buffers.size(); ++i) {
    for (Index k = 0; k < buffers[i].value.size(); ++k) {
      buffers[i].value(k) = static_cast<T>(model.buffers[i].values[static_cast<std::size_t>(k)]);
    }
  }
  if (net.constant_weights()) net.set_constant_weights(true);  // new weights: a new promise
}

inline std::string quoted(const std::filesystem::path& path) { return "model file '" + path.string() + "'"; }

// A model with a NaN or infinite weight is garbage: never let it replace a file.
template <class T>
void require_finite_parameters(Graph<T>& net, const char* operation, const std::filesystem::path& path) {
  for (const auto& p : net.params()) {
    for (Index k = 0; k < p.value.size(); ++k) {
      if (!std::isfinite(p.value(k))) {
        throw numeric_error(std::string(operation) + ": parameter '" + p.name + "' has the non-finite value " +
                            format_number(static_cast<double>(p.value(k))) + " at element " + std::to_string(k) +
                            "; refusing to overwrite " + quoted(path));
      }
    }
  }
}

}  // namespace detail

/// Writes the network (architecture and parameters) to `path`. Throws
/// numeric_error, writing nothing, when a parameter is NaN or infinite, and
/// io_error when the file cannot be written (the previous file is then intact).
template <class T>
void save(Graph<T>& net, const std::filesystem::path& path) {
  detail::require_finite_parameters(net, "save", path);
  detail::write_file_atomically(path, detail::encode_model<T>(net, nullptr, nullptr));
}

namespace detail {

// Builds the file's network as `Net` (Graph or Sequential) node by node, then
// fills in the parameters and buffers.
template <class T, class Net>
Net build_network(const StoredModel& model, const std::filesystem::path& path) {
  // A layer's weights come from the file: one that would need more values
  // than the file stores is refused before it is built, so a corrupt size
  // cannot make the loader allocate gigabytes.
  double stored = 0;
  for (const auto* tensors : {&model.tensors, &model.buffers}) {
    for (const auto& tensor : *tensors) {
      double values = 1;
      for (Index extent : tensor.shape) values *= static_cast<double>(extent);
      stored += values;
    }
  }
  Net net(model.input);
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    try {
      const double declared = LayerRegistry<T>::global().declared_values(model.layers[i]);
      if (declared > stored) {
        throw format_error(describe_spec(model.layers[i]) + " needs " + format_number(declared) +
                           " parameter values, the file stores " + format_number(stored));
      }
      std::vector<Node> inputs;
      for (std::uint32_t in : model.inputs[i]) inputs.push_back(Node{static_cast<Index>(in)});
      net.add(model.names[i], make_layer<T>(model.layers[i]), inputs);
    } catch (const std::invalid_argument& e) {
      throw format_error(quoted(path) + ": layer " + std::to_string(i) + " cannot be rebuilt: " + e.what());
    } catch (const format_error& e) {  // a missing or malformed setting
      throw format_error(quoted(path) + ": layer " + std::to_string(i) + " cannot be rebuilt: " + e.what());
    }
  }
  if (!model.outputs.empty()) {
    std::vector<Node> outputs;
    for (std::uint32_t out : model.outputs) outputs.push_back(Node{static_cast<Index>(out)});
    net.set_outputs(outputs);
  }
  check_matches(net, model, quoted(path));
  copy_parameters(net, model);
  return net;
}

}  // namespace detail

/// Rebuilds a chain of layers from a file alone: no code needs to describe
/// it. The file's values (float or double) are converted to T. Throws
/// io_error when the file cannot be read, format_error when it is not a valid
/// model file, a layer cannot be rebuilt, or the file holds a graph that is
/// not a plain chain (load it with load_graph), or a value is not finite or
/// does not fit T. `limits` bounds the file's size (see ReadLimits).
template <class T>
Sequential<T> load(const std::filesystem::path& path, const ReadLimits& limits = {}) {
  const auto model =
      detail::decode_model(detail::read_model_file(path, detail::quoted(path), limits), detail::quoted(path));
  if (!detail::holds_plain_chain(model)) {
    throw format_error(detail::quoted(path) + " holds a graph network, not a chain of layers; load it with load_graph");
  }
  return detail::build_network<T, Sequential<T>>(model, path);
}

/// Rebuilds any network from a file alone, a graph with its node names,
/// inputs and outputs (a chain comes back as a graph of nodes "0", "1", ...).
/// Throws as load() does, except that any graph is accepted.
template <class T>
Graph<T> load_graph(const std::filesystem::path& path, const ReadLimits& limits = {}) {
  return detail::build_network<T, Graph<T>>(
      detail::decode_model(detail::read_model_file(path, detail::quoted(path), limits), detail::quoted(path)), path);
}

/// Loads parameters into an existing network of the same architecture. On any
/// error the network is left untouched. Throws io_error when the file cannot be
/// read, format_error when it is invalid, holds another architecture, or a
/// value that is not finite or does not fit T.
template <class T>
void load_into(Graph<T>& net, const std::filesystem::path& path, const ReadLimits& limits = {}) {
  const auto model =
      detail::decode_model(detail::read_model_file(path, detail::quoted(path), limits), detail::quoted(path));
  detail::check_matches(net, model, detail::quoted(path));
  detail::copy_parameters(net, model);
}

/// A checkpoint: the model plus the optimizer's buffers and step count, the
/// training progress, and the state of every layer's generator. Throws as
/// save() does.
template <class T>
void save_checkpoint(Graph<T>& net, const Optimizer<T>& optimizer, const TrainingProgress& progress,
                     const std::filesystem::path& path) {
  detail::require_finite_parameters(net, "save_checkpoint", path);
  detail::write_file_atomically(path, detail::encode_model<T>(net, &optimizer, &progress));
}

/// Restores a checkpoint into a network and optimizer built the same way;
/// returns where training stood. Nothing is changed if the file is bad.
/// Restores the parameters, the optimizer's buffers and step count, and the
/// layers' generators; the learning rate stored in the file is not applied.
/// Throws io_error when the file cannot be read, format_error when it is
/// invalid, holds no training state, or does not match the network or the
/// optimizer's type and buffers, or holds a value that is not finite, does
/// not fit T, or a generator state no generator can have.
template <class T>
TrainingProgress load_checkpoint(Graph<T>& net, Optimizer<T>& optimizer, const std::filesystem::path& path,
                                 const ReadLimits& limits = {}) {
  const std::string what = detail::quoted(path);
  const auto model = detail::decode_model(detail::read_model_file(path, what, limits), what);
  detail::check_matches(net, model, what);
  if (!model.training)
    throw format_error(what + ": holds a model but no training state (saved with save, not save_checkpoint)");
  const auto& state = *model.training;
  if (state.optimizer.substr(0, state.optimizer.find('(')) !=
      optimizer.describe().substr(0, optimizer.describe().find('('))) {
    throw format_error(what + ": the checkpoint's optimizer is " + state.optimizer + ", not " + optimizer.describe());
  }
  auto& buffers = optimizer.state();
  if (state.buffers.size() != buffers.size()) {
    throw format_error(what + ": " + std::to_string(state.buffers.size()) + " optimizer buffers in the file, " +
                       std::to_string(buffers.size()) + " expected");
  }
  for (std::size_t b = 0; b < buffers.size(); ++b) {
    if (static_cast<Index>(state.buffers[b].values.size()) != buffers[b].size()) {
      throw format_error(what + ": optimizer buffer " + std::to_string(b) + " has the wrong size");
    }
    detail::check_values_fit<T>(state.buffers[b], what);
  }
  std::vector<Rng*> generators;
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (Rng* rng = net.layer(i).rng()) generators.push_back(rng);
  }
  if (generators.size() != state.generators.size()) {
    throw format_error(what + ": " + std::to_string(state.generators.size()) + " generator states in the file, " +
                       std::to_string(generators.size()) + " expected");
  }
  for (std::size_t i = 0; i < generators.size(); ++i) {
    if (state.generators[i] == Rng::State{}) {  // set_state would throw halfway through the changes below
      throw format_error(what + ": generator state " + std::to_string(i) +
                         " is all zeros, which no generator can have (corrupt file)");
    }
  }
  // Everything checked: now change the caller's objects.
  detail::copy_parameters(net, model);
  for (std::size_t b = 0; b < buffers.size(); ++b) {
    for (Index k = 0; k < buffers[b].size(); ++k)
      buffers[b](k) = static_cast<T>(state.buffers[b].values[static_cast<std::size_t>(k)]);
  }
  optimizer.set_steps(state.steps);
  for (std::size_t i = 0; i < generators.size(); ++i) generators[i]->set_state(state.generators[i]);
  return state.progress;
}

}  // namespace fovea
