#pragma once

/// @file
/// Model files (docs/model-format.md): the architecture, every parameter with
/// its name and shape, optionally the training state (optimizer buffers, epoch,
/// seed, layer generators), and a CRC-32 over everything, little-endian.
///
/// Saving never destroys the last good file: the bytes go to a temporary file
/// in the same folder, which is flushed to disk and then renamed over the
/// target (rename is atomic on POSIX file systems). Loading checks everything
/// before touching the caller's network, so a bad file leaves it as it was.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/detail/binary.hpp"
#include "fovea/detail/crc32.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/nn/registry.hpp"
#include "fovea/nn/sequential.hpp"
#include "fovea/optim/optimizer.hpp"

namespace fovea {

/// The eight bytes every model file starts with: "FOVEAMDL".
inline constexpr char model_magic[8] = {'F', 'O', 'V', 'E', 'A', 'M', 'D', 'L'};
/// The newest format version this fovea reads and writes; files of a newer
/// version are refused. Version 2 adds the layers' buffers (BatchNorm's running
/// statistics) after the parameters; a network without buffers is still
/// written as version 1, byte for byte what fovea wrote before buffers existed.
inline constexpr std::uint32_t model_format_version = 2;

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
  std::vector<StoredTensor> tensors;
  std::vector<StoredTensor> buffers;  // version 2 on; none in a version 1 file
  std::optional<StoredTrainingState> training;
};

// Every layer's buffers in layer order, named "<layer index>.<name>" as
// Sequential names the parameters.
template <class T>
std::vector<Buffer<T>> network_buffers(Sequential<T>& net) {
  std::vector<Buffer<T>> all;
  for (std::size_t i = 0; i < net.size(); ++i) {
    for (auto& b : net.layer(i).buffers()) {
      b.name = std::to_string(i) + "." + b.name;
      all.push_back(std::move(b));
    }
  }
  return all;
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
std::vector<std::uint8_t> encode_model(Sequential<T>& net, const Optimizer<T>* optimizer,
                                       const TrainingProgress* progress) {
  ByteWriter w;
  const auto buffers = network_buffers(net);
  for (char c : model_magic) w.put(static_cast<std::uint8_t>(c));
  w.put(buffers.empty() ? std::uint32_t{1} : model_format_version);
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
  w.put(static_cast<std::uint32_t>(net.params().size()));
  for (const auto& p : net.params()) put_tensor<T>(w, p.name, p.shape, p.value);
  if (!buffers.empty()) {
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

inline std::vector<std::uint8_t> read_whole_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("cannot open model file '" + path.string() + "': " + std::strerror(errno));
  std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw io_error("cannot read model file '" + path.string() + "'");
  return bytes;
}

// Writes to a temporary file beside the target, syncs it, renames it over the
// target, and syncs the folder: at every instant the target is either the old
// file or the complete new one.
inline void write_file_atomically(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes) {
  const std::filesystem::path folder = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::string temp = (folder / ("." + path.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(temp.data());
  if (fd < 0) throw io_error("cannot create a temporary file in '" + folder.string() + "': " + std::strerror(errno));
  auto fail = [&](const std::string& step) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    ::unlink(temp.c_str());
    throw io_error("saving '" + path.string() + "' failed while " + step + ": " + reason +
                   " (the previous file is intact)");
  };
  // mkstemp creates the file 0600; give it the mode an ordinary new file
  // would get (or the mode of the file it replaces).
  struct stat existing {};
  mode_t mode = 0;
  if (::stat(path.c_str(), &existing) == 0) {
    mode = existing.st_mode & 07777;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  if (::fchmod(fd, mode) != 0) fail("setting permissions");
  std::size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("writing");
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) fail("syncing");
  if (::close(fd) != 0) {
    ::unlink(temp.c_str());
    throw io_error("saving '" + path.string() + "' failed while closing: " + std::strerror(errno));
  }
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    throw io_error("saving '" + path.string() + "' failed while renaming: " + reason);
  }
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);  // best effort: makes the rename itself durable
    ::close(dir);
  }
}

inline std::string describe_spec(const LayerSpec& spec) {
  std::string s = spec.type + "{";
  for (std::size_t i = 0; i < spec.values.size(); ++i) {
    s += (i ? ", " : "") + spec.values[i].first + "=" + std::to_string(spec.values[i].second);
  }
  return s + "}";
}

// Checks the stored architecture and tensors fit `net` exactly.
// The parameter and buffer values a layer of this spec allocates (weights,
// bias, running statistics) for the layer types that hold any; 0 for the others.
inline double declared_parameter_values(const LayerSpec& spec) {
  const auto bias = [&](double out) { return spec.get("bias") != 0 ? out : 0.0; };
  if (spec.type == "Conv2d") {
    const double out = static_cast<double>(spec.get_index("out"));
    return out * static_cast<double>(spec.get_index("in")) * static_cast<double>(spec.get_index("kh")) *
               static_cast<double>(spec.get_index("kw")) +
           bias(out);
  }
  if (spec.type == "Linear") {
    const double out = static_cast<double>(spec.get_index("out"));
    return out * static_cast<double>(spec.get_index("in")) + bias(out);
  }
  if (spec.type == "BatchNorm") {  // two buffers, and scale and shift when affine
    return static_cast<double>(spec.get_index("channels")) * (spec.get("affine") != 0 ? 4 : 2);
  }
  if (spec.type == "PReLU") return static_cast<double>(spec.get_index("slopes"));
  return 0;
}

template <class T>
void check_matches(Sequential<T>& net, const StoredModel& model, const std::string& what) {
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
}

template <class T>
void copy_parameters(Sequential<T>& net, const StoredModel& model) {
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
}

inline std::string quoted(const std::filesystem::path& path) { return "model file '" + path.string() + "'"; }

// A model with a NaN or infinite weight is garbage: never let it replace a file.
template <class T>
void require_finite_parameters(Sequential<T>& net, const char* operation, const std::filesystem::path& path) {
  for (const auto& p : net.params()) {
    for (Index k = 0; k < p.value.size(); ++k) {
      if (!std::isfinite(p.value(k))) {
        throw numeric_error(std::string(operation) + ": parameter '" + p.name + "' has the non-finite value " +
                            std::to_string(p.value(k)) + " at element " + std::to_string(k) +
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
void save(Sequential<T>& net, const std::filesystem::path& path) {
  detail::require_finite_parameters(net, "save", path);
  detail::write_file_atomically(path, detail::encode_model<T>(net, nullptr, nullptr));
}

/// Rebuilds a network from a file alone: no code needs to describe it. The
/// file's values (float or double) are converted to T. Throws io_error when
/// the file cannot be read, format_error when it is not a valid model file or
/// a layer cannot be rebuilt.
template <class T>
Sequential<T> load(const std::filesystem::path& path) {
  const auto model = detail::decode_model(detail::read_whole_file(path), detail::quoted(path));
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
  Sequential<T> net(model.input);
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    try {
      const double declared = detail::declared_parameter_values(model.layers[i]);
      if (declared > stored) {
        throw format_error(detail::describe_spec(model.layers[i]) + " needs " + detail::format_number(declared) +
                           " parameter values, the file stores " + detail::format_number(stored));
      }
      net.add(make_layer<T>(model.layers[i]));
    } catch (const std::invalid_argument& e) {
      throw format_error(detail::quoted(path) + ": layer " + std::to_string(i) + " cannot be rebuilt: " + e.what());
    } catch (const format_error& e) {  // a missing or malformed setting
      throw format_error(detail::quoted(path) + ": layer " + std::to_string(i) + " cannot be rebuilt: " + e.what());
    }
  }
  detail::check_matches(net, model, detail::quoted(path));
  detail::copy_parameters(net, model);
  return net;
}

/// Loads parameters into an existing network of the same architecture. On any
/// error the network is left untouched. Throws io_error when the file cannot be
/// read, format_error when it is invalid or holds another architecture.
template <class T>
void load_into(Sequential<T>& net, const std::filesystem::path& path) {
  const auto model = detail::decode_model(detail::read_whole_file(path), detail::quoted(path));
  detail::check_matches(net, model, detail::quoted(path));
  detail::copy_parameters(net, model);
}

/// A checkpoint: the model plus the optimizer's buffers and step count, the
/// training progress, and the state of every layer's generator. Throws as
/// save() does.
template <class T>
void save_checkpoint(Sequential<T>& net, const Optimizer<T>& optimizer, const TrainingProgress& progress,
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
/// optimizer's type and buffers.
template <class T>
TrainingProgress load_checkpoint(Sequential<T>& net, Optimizer<T>& optimizer, const std::filesystem::path& path) {
  const std::string what = detail::quoted(path);
  const auto model = detail::decode_model(detail::read_whole_file(path), what);
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
  }
  std::vector<Rng*> generators;
  for (std::size_t i = 0; i < net.size(); ++i) {
    if (Rng* rng = net.layer(i).rng()) generators.push_back(rng);
  }
  if (generators.size() != state.generators.size()) {
    throw format_error(what + ": " + std::to_string(state.generators.size()) + " generator states in the file, " +
                       std::to_string(generators.size()) + " expected");
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
