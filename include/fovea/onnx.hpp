#pragma once

/// @file
/// ONNX import: an ONNX model (opsets 9 to 17) as a fovea Graph<T>. Optional:
/// it needs ONNX's C++ library and protobuf (link the fovea::onnx target); the
/// rest of fovea never includes this header.
///
/// @code
/// fovea::Graph<float> net = fovea::onnx::load<float>("resnet18.onnx");
/// auto y = net.infer(x);  // x: [N, 3, 224, 224]
/// @endcode
///
/// The model is checked with onnx::checker::check_model, then its nodes are
/// read in order, each operator in the version the model imports (ONNX 1.12's
/// version converter cannot convert every model; see tests/onnx/checker.cpp).
/// Tensors the network computes become graph nodes; tensors that only depend
/// on constants (shapes computed with Shape, Gather, Concat, ...) are computed
/// here, at import. What fovea cannot run is refused whole with onnx_error
/// naming the node, its operator and the reason: no partial network.
///
/// Shapes: the input is [N, C, H, W] or [N, F] with any N; a [N, F] tensor is
/// fovea's feature vector [N, F, 1, 1]. Graphs of element-wise operations may
/// also take [N, A, B] (as [N, A, B, 1]) or [N] (as [N, 1, 1, 1]).

#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/detail/file_io.hpp"
#include "fovea/detail/quoted_path.hpp"
#include "fovea/layers/activation.hpp"
#include "fovea/layers/add.hpp"
#include "fovea/layers/batch_norm.hpp"
#include "fovea/layers/channel_affine.hpp"
#include "fovea/layers/concat.hpp"
#include "fovea/layers/conv2d.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/layers/flatten.hpp"
#include "fovea/layers/global_pool.hpp"
#include "fovea/layers/linear.hpp"
#include "fovea/layers/local_response_norm.hpp"
#include "fovea/layers/pool2d.hpp"
#include "fovea/layers/prelu.hpp"
#include "fovea/layers/softmax.hpp"
#include "fovea/nn/graph.hpp"

namespace fovea {

/// An ONNX model fovea cannot read or run: a corrupt or truncated file, an
/// unsupported operator, domain, opset or attribute, a tensor nothing
/// produces, an initializer whose data does not match its dims, absurd sizes.
/// The message names the node, its operator type and what is wrong.
struct onnx_error : format_error {
  using format_error::format_error;
};

namespace onnx {

/// Limits that keep a hostile file's memory bounded.
struct ImportOptions {
  /// Largest model file or buffer accepted, in bytes.
  std::int64_t max_bytes = std::int64_t{1} << 30;
  /// Largest number of values in any one tensor (weights or computed constants).
  std::int64_t max_tensor_values = std::int64_t{1} << 27;
  /// Largest number of values in all constants together.
  std::int64_t max_total_values = std::int64_t{1} << 28;
  /// For a model whose input height and width are symbolic (a fully
  /// convolutional export with dynamic axes): the size the network is built
  /// for. Graph::set_input_shape() changes it later, so one import serves
  /// every image size. 0: such a model is refused, with a message saying so.
  Index height = 0;
  Index width = 0;  ///< See height.
};

/// An imported network with what ONNX says about its outputs.
template <class T>
struct Imported {
  Graph<T> graph;                         ///< The network.
  std::string input_name;                 ///< The ONNX name of its input.
  std::vector<std::string> output_names;  ///< The ONNX names of its outputs, in order.
  /// Each output's ONNX rank: 4 for [N, C, H, W], 2 for [N, F] (fovea's [N, F, 1, 1]),
  /// 3 for [N, A, B] ([N, A, B, 1]) and 1 for [N] ([N, 1, 1, 1]).
  std::vector<int> output_ranks;
  /// True when the model's input height and width are symbolic: the graph
  /// was built for ImportOptions::height and width and may be given another
  /// size with graph.set_input_shape().
  bool dynamic_size = false;
};

namespace detail {

// The batch extent inside a shape computed at import (Shape of the input): it
// is only known when the network runs.
inline constexpr std::int64_t batch_marker = std::numeric_limits<std::int64_t>::min() / 2;

// A tensor known at import: an initializer, a Constant, or computed from them.
// Integers and reals are kept apart so that int64 shapes stay exact.
struct Const {
  std::vector<std::int64_t> dims;
  bool integer = false;
  std::vector<double> f;        // when !integer
  std::vector<std::int64_t> i;  // when integer
  std::int64_t size() const {
    return integer ? static_cast<std::int64_t>(i.size()) : static_cast<std::int64_t>(f.size());
  }
  double real(std::size_t k) const { return integer ? static_cast<double>(i[k]) : f[k]; }
};

// A tensor the network computes: a fovea node, its ONNX rank (4 or 2), whether
// its values are known not to be negative, and zero padding still to be
// applied by the convolution or pooling that reads it (t, b, l, r).
struct Dynamic {
  Node node;
  int rank = 4;
  bool non_negative = false;
  std::array<std::int64_t, 4> pad{0, 0, 0, 0};
  bool padded() const { return pad != std::array<std::int64_t, 4>{0, 0, 0, 0}; }
};

template <class T>
class Importer {
 public:
  Importer(const ::onnx::ModelProto& model, const ImportOptions& options) : model_(model), options_(options) {}

  Imported<T> run() {
    read_opset();
    const auto& graph = model_.graph();
    for (const auto& init : graph.initializer()) {
      consts_[init.name()] = to_const(init, "initializer '" + init.name() + "'");
    }
    std::map<std::string, int> produced_at;
    for (int k = 0; k < graph.node_size(); ++k) {
      for (const auto& out : graph.node(k).output()) {
        if (!out.empty()) produced_at.emplace(out, k);
      }
    }
    // The input: the one graph input that is not an initializer.
    const ::onnx::ValueInfoProto* input = nullptr;
    for (const auto& in : graph.input()) {
      if (consts_.count(in.name())) continue;
      if (input)
        throw onnx_error(where_model() + "has several inputs ('" + input->name() + "', '" + in.name() +
                         "'); fovea networks take one");
      input = &in;
    }
    if (!input) throw onnx_error(where_model() + "has no input");
    auto [sample, rank] = input_shape(*input);
    net_.emplace(sample);
    values_[input->name()] = Dynamic{net_->input(), rank, false, {}};

    for (int k = 0; k < graph.node_size(); ++k) {
      const auto& node = graph.node(k);
      node_ = &node;
      for (const auto& in : node.input()) {
        if (in.empty() || consts_.count(in) || values_.count(in)) continue;
        auto at = produced_at.find(in);
        if (at == produced_at.end()) fail("reads tensor '" + in + "', which nothing produces");
        fail("reads tensor '" + in + "' before node " + std::to_string(at->second) +
             " produces it (a cycle, or nodes out of order)");
      }
      if (!node.domain().empty() && node.domain() != "ai.onnx") {
        fail("is in domain '" + node.domain() + "'; fovea reads the default ONNX domain only");
      }
      convert(node);
    }
    node_ = nullptr;

    Imported<T> result{std::move(*net_), input->name(), {}, {}, dynamic_size_};
    std::vector<Node> outs;
    for (const auto& out : graph.output()) {
      auto it = values_.find(out.name());
      if (it == values_.end()) {
        throw onnx_error(where_model() + "output '" + out.name() +
                         (consts_.count(out.name()) ? "' is a constant; fovea networks compute their outputs"
                                                    : "' is produced by no node"));
      }
      if (it->second.padded()) throw onnx_error(where_model() + "output '" + out.name() + "' is a Pad's output");
      if (it->second.node.id == 0) throw onnx_error(where_model() + "output '" + out.name() + "' is the input itself");
      outs.push_back(it->second.node);
      result.output_names.push_back(out.name());
      result.output_ranks.push_back(it->second.rank);
    }
    if (outs.empty()) throw onnx_error(where_model() + "has no output");
    result.graph.set_outputs(outs);
    return result;
  }

 private:
  using Handler = void (Importer::*)(const ::onnx::NodeProto&);

  // ---- errors ----

  std::string where_model() const { return "onnx: the model "; }
  [[noreturn]] void fail(const std::string& what) const {
    if (!node_) throw onnx_error("onnx: " + what);
    const std::string name = node_->name().empty() ? "" : " '" + node_->name() + "'";
    throw onnx_error("onnx: node" + name + " (" + node_->op_type() + "): " + what);
  }

  // ---- the model ----

  void read_opset() {
    bool found = false;
    for (const auto& entry : model_.opset_import()) {
      if (entry.domain().empty() || entry.domain() == "ai.onnx") {
        opset_ = entry.version();
        found = true;
      }
    }
    if (!found) throw onnx_error(where_model() + "imports no version of the default ONNX operator set");
    if (opset_ < 9 || opset_ > 17) {
      throw onnx_error(where_model() + "uses opset " + std::to_string(opset_) + "; fovea reads opsets 9 to 17");
    }
  }

  std::pair<SampleShape, int> input_shape(const ::onnx::ValueInfoProto& input) {
    const std::string what = where_model() + "input '" + input.name() + "' ";
    if (!input.type().has_tensor_type()) throw onnx_error(what + "is not a tensor");
    const auto& type = input.type().tensor_type();
    if (type.elem_type() != ::onnx::TensorProto::FLOAT && type.elem_type() != ::onnx::TensorProto::DOUBLE) {
      throw onnx_error(what + "has element type " + ::onnx::TensorProto::DataType_Name(type.elem_type()) +
                       ", expected FLOAT or DOUBLE");
    }
    if (!type.has_shape()) throw onnx_error(what + "has no shape");
    const auto& dims = type.shape().dim();
    if (dims.size() < 1 || dims.size() > 4) {
      throw onnx_error(what + "has rank " + std::to_string(dims.size()) +
                       "; fovea takes [N, C, H, W], [N, F], and [N] or [N, A, B] for element-wise graphs");
    }
    std::vector<Index> extents;
    for (int d = 1; d < dims.size(); ++d) {
      // Height and width of an image input may be symbolic (dynamic axes).
      if (dims.size() == 4 && d >= 2 && !dims[d].has_dim_value()) {
        const Index size = d == 2 ? options_.height : options_.width;
        if (size < 1 || size > (Index{1} << 16)) {
          throw onnx_error(what + "has a symbolic " + (d == 2 ? "height" : "width") +
                           " (dynamic axes): give ImportOptions::height and width, between 1 and 65536, to build "
                           "the network for (Graph::set_input_shape changes it later)");
        }
        dynamic_size_ = true;
        extents.push_back(size);
        continue;
      }
      if (!dims[d].has_dim_value() || dims[d].dim_value() < 1 || dims[d].dim_value() > (Index{1} << 31)) {
        throw onnx_error(what + "needs a fixed positive extent on axis " + std::to_string(d) +
                         (dims.size() == 4 ? " (only the batch, height and width axes may vary)"
                                           : " (only the batch axis may vary)"));
      }
      extents.push_back(dims[d].dim_value());
    }
    extents.resize(3, 1);  // [N] -> [1, 1, 1], [N, F] -> [F, 1, 1], [N, A, B] -> [A, B, 1]
    return {SampleShape{extents[0], extents[1], extents[2]}, static_cast<int>(dims.size())};
  }

  // ---- tensors ----

  std::int64_t count_of(const std::vector<std::int64_t>& dims, const std::string& what) const {
    std::int64_t count = 1;
    for (std::int64_t d : dims) {
      if (d < 0 || (d > 0 && count > options_.max_tensor_values / d)) {
        throw_here(what + " has dims " + dims_text(dims) + ", more than " + std::to_string(options_.max_tensor_values) +
                   " values or a negative extent");
      }
      count *= d;
    }
    return count;
  }
  void throw_here(const std::string& what) const {
    if (node_) fail(what);
    throw onnx_error("onnx: " + what);
  }
  static std::string dims_text(const std::vector<std::int64_t>& dims) {
    std::string s = "[";
    for (std::size_t k = 0; k < dims.size(); ++k) {
      s += (k ? ", " : "") + (dims[k] == batch_marker ? std::string("N") : std::to_string(dims[k]));
    }
    return s + "]";
  }
  void account(std::int64_t values) {
    total_values_ += values;
    if (total_values_ > options_.max_total_values) {
      throw_here("the constants hold more than " + std::to_string(options_.max_total_values) + " values in all");
    }
  }

  template <class Bits>
  static std::vector<Bits> raw(const std::string& bytes, std::int64_t count) {
    std::vector<Bits> out(static_cast<std::size_t>(count));
    for (std::int64_t k = 0; k < count; ++k) {
      Bits bits = 0;
      for (std::size_t b = 0; b < sizeof(Bits); ++b) {
        bits = static_cast<Bits>(
            bits | (static_cast<Bits>(static_cast<std::uint8_t>(bytes[static_cast<std::size_t>(k) * sizeof(Bits) + b]))
                    << (8 * b)));
      }
      out[static_cast<std::size_t>(k)] = bits;
    }
    return out;
  }

  Const to_const(const ::onnx::TensorProto& t, const std::string& what) {
    if (t.data_location() == ::onnx::TensorProto::EXTERNAL) {
      throw_here(what + " keeps its data in an external file; fovea reads self-contained models");
    }
    Const c;
    c.dims.assign(t.dims().begin(), t.dims().end());
    const std::int64_t count = count_of(c.dims, what);
    account(count);
    auto check = [&](std::int64_t have, const char* field) {
      if (have != count) {
        throw_here(what + " " + dims_text(c.dims) + " holds " + std::to_string(have) + " values in " + field +
                   ", its dims need " + std::to_string(count));
      }
    };
    const bool has_raw = t.has_raw_data();
    auto raw_of = [&](std::size_t width) -> const std::string& {
      check(static_cast<std::int64_t>(t.raw_data().size() / width), "raw_data");
      if (t.raw_data().size() % width != 0) check(-1, "raw_data");
      return t.raw_data();
    };
    switch (t.data_type()) {
      case ::onnx::TensorProto::FLOAT:
        if (has_raw) {
          for (auto b : raw<std::uint32_t>(raw_of(4), count)) c.f.push_back(std::bit_cast<float>(b));
        } else {
          check(t.float_data_size(), "float_data");
          c.f.assign(t.float_data().begin(), t.float_data().end());
        }
        break;
      case ::onnx::TensorProto::DOUBLE:
        if (has_raw) {
          for (auto b : raw<std::uint64_t>(raw_of(8), count)) c.f.push_back(std::bit_cast<double>(b));
        } else {
          check(t.double_data_size(), "double_data");
          c.f.assign(t.double_data().begin(), t.double_data().end());
        }
        break;
      case ::onnx::TensorProto::INT64:
        c.integer = true;
        if (has_raw) {
          for (auto b : raw<std::uint64_t>(raw_of(8), count)) c.i.push_back(static_cast<std::int64_t>(b));
        } else {
          check(t.int64_data_size(), "int64_data");
          c.i.assign(t.int64_data().begin(), t.int64_data().end());
        }
        break;
      case ::onnx::TensorProto::INT32:
        c.integer = true;
        if (has_raw) {
          for (auto b : raw<std::uint32_t>(raw_of(4), count)) c.i.push_back(static_cast<std::int32_t>(b));
        } else {
          check(t.int32_data_size(), "int32_data");
          c.i.assign(t.int32_data().begin(), t.int32_data().end());
        }
        break;
      case ::onnx::TensorProto::BOOL:
        c.integer = true;
        if (has_raw) {
          for (auto b : raw<std::uint8_t>(raw_of(1), count)) c.i.push_back(b != 0);
        } else {
          check(t.int32_data_size(), "int32_data");
          for (auto v : t.int32_data()) c.i.push_back(v != 0);
        }
        break;
      default:
        throw_here(what + " has data type " + ::onnx::TensorProto::DataType_Name(t.data_type()) +
                   "; fovea reads FLOAT, DOUBLE, INT64, INT32 and BOOL");
    }
    return c;
  }

  bool has_input(const ::onnx::NodeProto& node, int k) const { return node.input_size() > k && !node.input(k).empty(); }
  bool is_const(const ::onnx::NodeProto& node, int k) const {
    return has_input(node, k) && consts_.count(node.input(k)) > 0;
  }
  const Const& constant(const ::onnx::NodeProto& node, int k, const char* role) const {
    if (!has_input(node, k)) fail(std::string("has no ") + role + " (input " + std::to_string(k) + ")");
    auto it = consts_.find(node.input(k));
    if (it == consts_.end()) {
      fail(std::string(role) + " '" + node.input(k) + "' is computed by the network; fovea needs it constant");
    }
    return it->second;
  }
  std::vector<std::int64_t> ints_of(const Const& c, const char* role) const {
    if (!c.integer) fail(std::string(role) + " must be an integer tensor");
    for (std::int64_t v : c.i) {
      if (v == batch_marker) fail(std::string(role) + " depends on the batch size");
    }
    return c.i;
  }
  const Dynamic& dynamic(const ::onnx::NodeProto& node, int k) const {
    if (!has_input(node, k)) fail("has no input " + std::to_string(k));
    auto it = values_.find(node.input(k));
    if (it == values_.end()) fail("input '" + node.input(k) + "' must be computed by the network");
    return it->second;
  }
  Dynamic plain(const ::onnx::NodeProto& node, int k) const {
    const Dynamic& d = dynamic(node, k);
    if (d.padded()) fail("reads the output of a Pad; fovea applies Pad only inside a convolution or pooling");
    return d;
  }
  SampleShape shape(const Dynamic& d) const { return net_->shape(d.node); }
  std::vector<std::int64_t> onnx_dims(const Dynamic& d) const {
    const SampleShape s = shape(d);
    std::vector<std::int64_t> dims{batch_marker, s[0], s[1], s[2]};
    dims.resize(static_cast<std::size_t>(d.rank));
    return dims;
  }
  // The fovea sample shape of ONNX dims [N, ...] (rank 1 to 4): what onnx_dims inverts.
  static std::optional<SampleShape> sample_of(const std::vector<std::int64_t>& dims) {
    if (dims.empty() || dims.size() > 4 || dims[0] != batch_marker) return std::nullopt;
    std::vector<std::int64_t> rest(dims.begin() + 1, dims.end());
    rest.resize(3, 1);
    return SampleShape{rest[0], rest[1], rest[2]};
  }

  // ---- attributes ----

  const ::onnx::AttributeProto* attribute(const ::onnx::NodeProto& node, const std::string& name) const {
    for (const auto& a : node.attribute()) {
      if (a.name() == name) return &a;
    }
    return nullptr;
  }
  std::int64_t attr_int(const ::onnx::NodeProto& node, const std::string& name, std::int64_t fallback) const {
    const auto* a = attribute(node, name);
    if (!a) return fallback;
    if (a->type() != ::onnx::AttributeProto::INT) fail("attribute '" + name + "' must be an integer");
    return a->i();
  }
  double attr_float(const ::onnx::NodeProto& node, const std::string& name, double fallback) const {
    const auto* a = attribute(node, name);
    if (!a) return fallback;
    if (a->type() != ::onnx::AttributeProto::FLOAT) fail("attribute '" + name + "' must be a float");
    return a->f();
  }
  std::vector<std::int64_t> attr_ints(const ::onnx::NodeProto& node, const std::string& name,
                                      std::vector<std::int64_t> fallback) const {
    const auto* a = attribute(node, name);
    if (!a) return fallback;
    if (a->type() != ::onnx::AttributeProto::INTS) fail("attribute '" + name + "' must be a list of integers");
    return {a->ints().begin(), a->ints().end()};
  }
  std::string attr_string(const ::onnx::NodeProto& node, const std::string& name, std::string fallback) const {
    const auto* a = attribute(node, name);
    if (!a) return fallback;
    if (a->type() != ::onnx::AttributeProto::STRING) fail("attribute '" + name + "' must be a string");
    return a->s();
  }

  // ---- results ----

  std::string fresh_name(const ::onnx::NodeProto& node, const std::string& suffix = "") {
    std::string base = node.name().empty() ? (node.output_size() ? node.output(0) : node.op_type()) : node.name();
    if (base.empty()) base = node.op_type();
    base += suffix;
    std::string name = base;
    for (int k = 2; names_.count(name) || name == "input"; ++k) name = base + "_" + std::to_string(k);
    names_.insert(name);
    return name;
  }
  Node add_layer(const ::onnx::NodeProto& node, LayerPtr<T> layer, const std::vector<Node>& inputs,
                 const std::string& suffix = "") {
    try {
      return net_->add(fresh_name(node, suffix), std::move(layer), inputs);
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  template <class L>
  Node add_layer(const ::onnx::NodeProto& node, L&& layer, const std::vector<Node>& inputs,
                 const std::string& suffix = "") {
    return add_layer(node, LayerPtr<T>(std::make_unique<std::remove_cvref_t<L>>(std::forward<L>(layer))), inputs,
                     suffix);
  }
  template <class Make>
  auto build(Make&& make) -> decltype(make()) {
    try {
      return make();
    } catch (const onnx_error&) {
      throw;
    } catch (const std::exception& e) {
      fail(e.what());
    }
  }
  void set_output(const ::onnx::NodeProto& node, Dynamic value) {
    if (node.output_size() < 1 || node.output(0).empty()) fail("has no output");
    values_[node.output(0)] = value;
  }
  void set_const(const ::onnx::NodeProto& node, Const value) {
    if (node.output_size() < 1 || node.output(0).empty()) fail("has no output");
    account(value.size());
    consts_[node.output(0)] = std::move(value);
  }
  void only_outputs(const ::onnx::NodeProto& node, int count) const {
    for (int k = count; k < node.output_size(); ++k) {
      if (!node.output(k).empty()) fail("output " + std::to_string(k) + " ('" + node.output(k) + "') is not supported");
    }
  }
  template <class U>
  static void fill(TensorView<U, 1> to, const std::vector<double>& from, double scale = 1) {
    for (std::size_t k = 0; k < from.size(); ++k) to(static_cast<Index>(k)) = static_cast<U>(from[k] * scale);
  }
  // A constant's values as reals, refusing NaN or infinity in weights.
  std::vector<double> reals(const Const& c, const char* role) const {
    std::vector<double> out(static_cast<std::size_t>(c.size()));
    for (std::size_t k = 0; k < out.size(); ++k) {
      out[k] = c.real(k);
      if (!std::isfinite(out[k])) fail(std::string(role) + " holds a value that is not finite");
    }
    return out;
  }

  // ---- the operators ----

  void convert(const ::onnx::NodeProto& node) {
    static const std::map<std::string, Handler> handlers = {
        {"Conv", &Importer::conv},
        {"Gemm", &Importer::gemm},
        {"MatMul", &Importer::matmul},
        {"Relu", &Importer::relu},
        {"LeakyRelu", &Importer::leaky_relu},
        {"PRelu", &Importer::prelu},
        {"Elu", &Importer::elu},
        {"Sigmoid", &Importer::sigmoid},
        {"Tanh", &Importer::tanh},
        {"Softplus", &Importer::softplus},
        {"Clip", &Importer::clip},
        {"Softmax", &Importer::softmax},
        {"LogSoftmax", &Importer::softmax},
        {"MaxPool", &Importer::pool},
        {"AveragePool", &Importer::pool},
        {"GlobalAveragePool", &Importer::global_pool},
        {"GlobalMaxPool", &Importer::global_pool},
        {"BatchNormalization", &Importer::batch_norm},
        {"LRN", &Importer::lrn},
        {"Add", &Importer::arithmetic},
        {"Sub", &Importer::arithmetic},
        {"Mul", &Importer::arithmetic},
        {"Div", &Importer::arithmetic},
        {"Sum", &Importer::sum},
        {"Concat", &Importer::concat},
        {"Flatten", &Importer::flatten},
        {"Reshape", &Importer::reshape},
        {"Squeeze", &Importer::squeeze},
        {"Unsqueeze", &Importer::squeeze},
        {"Pad", &Importer::pad},
        {"Dropout", &Importer::identity},
        {"Identity", &Importer::identity},
        {"Constant", &Importer::constant_node},
        {"Shape", &Importer::shape_node},
        {"Gather", &Importer::gather},
        {"Slice", &Importer::slice},
        {"ConstantOfShape", &Importer::constant_of_shape},
        {"Cast", &Importer::cast},
        {"Transpose", &Importer::transpose},
    };
    auto it = handlers.find(node.op_type());
    if (it == handlers.end()) fail("operator '" + node.op_type() + "' is not supported");
    (this->*(it->second))(node);
  }

  // Conv: W [M, C/group, KH, KW], optional B [M]; pads [t, l, b, r].
  void conv(const ::onnx::NodeProto& node) {
    only_outputs(node, 1);
    const Dynamic x = dynamic(node, 0);
    if (x.rank != 4) fail("input must be [N, C, H, W]");
    const Const& w = constant(node, 1, "weight");
    if (w.dims.size() != 4) fail("weight " + dims_text(w.dims) + " must be [M, C/group, KH, KW] (2-D convolution)");
    const SampleShape in = shape(x);
    const std::int64_t group = attr_int(node, "group", 1);
    if (group < 1 || in[0] % group != 0 || w.dims[0] % group != 0) {
      fail("group " + std::to_string(group) + " does not divide the " + std::to_string(in[0]) + " input and " +
           std::to_string(w.dims[0]) + " output channels");
    }
    if (w.dims[1] * group != in[0]) {
      fail("weight " + dims_text(w.dims) + " does not fit an input of " + std::to_string(in[0]) + " channels");
    }
    const auto kernel = attr_ints(node, "kernel_shape", {w.dims[2], w.dims[3]});
    if (kernel != std::vector<std::int64_t>{w.dims[2], w.dims[3]}) {
      fail("kernel_shape " + dims_text(kernel) + " differs from the weight's " + dims_text(w.dims));
    }
    const auto strides = attr_ints(node, "strides", {1, 1});
    const auto dilations = attr_ints(node, "dilations", {1, 1});
    if (strides.size() != 2 || dilations.size() != 2) fail("strides and dilations need two values");
    auto pads = window_pads(node, in, {w.dims[2], w.dims[3]}, strides, dilations);
    for (int k = 0; k < 4; ++k) pads[static_cast<std::size_t>(k)] += x.pad[static_cast<std::size_t>(k)];
    const bool bias = has_input(node, 2);
    Conv2d<T> layer = build([&] {
      return Conv2d<T>({.in_channels = in[0],
                        .out_channels = w.dims[0],
                        .kernel = {w.dims[2], w.dims[3]},
                        .stride = {strides[0], strides[1]},
                        .padding = {pads[0], pads[1], pads[2], pads[3]},
                        .dilation = {dilations[0], dilations[1]},
                        .groups = group,
                        .bias = bias});
    });
    auto params = layer.params();
    fill(params[0].value, reals(w, "weight"));
    if (bias) {
      const Const& b = constant(node, 2, "bias");
      if (b.size() != w.dims[0])
        fail("bias " + dims_text(b.dims) + " must hold " + std::to_string(w.dims[0]) + " values");
      fill(params[1].value, reals(b, "bias"));
    }
    set_output(node, {add_layer(node, std::move(layer), {x.node}), 4, false, {}});
  }

  // Pads of a window operator as {top, bottom, left, right}, from `pads`
  // ([t, l, b, r]) or auto_pad.
  std::array<std::int64_t, 4> window_pads(const ::onnx::NodeProto& node, const SampleShape& in,
                                          const std::vector<std::int64_t>& kernel,
                                          const std::vector<std::int64_t>& strides,
                                          const std::vector<std::int64_t>& dilations) const {
    const std::string mode = attr_string(node, "auto_pad", "NOTSET");
    if (mode == "NOTSET") {
      const auto pads = attr_ints(node, "pads", {0, 0, 0, 0});
      if (pads.size() != 4) fail("pads " + dims_text(pads) + " must hold four values");
      for (auto p : pads) {
        if (p < 0 || p > (1 << 20)) fail("pads " + dims_text(pads) + " must be between 0 and 2^20");
      }
      return {pads[0], pads[2], pads[1], pads[3]};
    }
    if (mode == "VALID") return {0, 0, 0, 0};
    if (mode != "SAME_UPPER" && mode != "SAME_LOWER") fail("auto_pad '" + mode + "' is not one ONNX defines");
    std::array<std::int64_t, 4> out{};
    for (int a = 0; a < 2; ++a) {
      const std::int64_t size = in[static_cast<std::size_t>(a + 1)], s = strides[static_cast<std::size_t>(a)];
      if (s < 1) fail("strides must be positive");
      const std::int64_t extent =
          (kernel[static_cast<std::size_t>(a)] - 1) * dilations[static_cast<std::size_t>(a)] + 1;
      const std::int64_t target = (size + s - 1) / s;
      const std::int64_t total = std::max<std::int64_t>(0, (target - 1) * s + extent - size);
      const std::int64_t small = total / 2, large = total - small;
      out[static_cast<std::size_t>(2 * a)] = mode == "SAME_UPPER" ? small : large;
      out[static_cast<std::size_t>(2 * a + 1)] = mode == "SAME_UPPER" ? large : small;
    }
    return out;
  }

  // A fully connected layer from a weight [out, in] (given as `weight`, row
  // major, already scaled) and an optional bias [out].
  void linear(const ::onnx::NodeProto& node, const Dynamic& x, Index in, Index out, const std::vector<double>& weight,
              const std::vector<double>* bias) {
    const SampleShape s = shape(x);
    if (x.rank != 2 || s[0] != in) {
      fail("input " + dims_text(onnx_dims(x)) + " must be [N, " + std::to_string(in) + "]");
    }
    Linear<T> layer = build([&] { return Linear<T>(in, out, bias != nullptr); });
    auto params = layer.params();
    fill(params[0].value, weight);
    if (bias) fill(params[1].value, *bias);
    set_output(node, {add_layer(node, std::move(layer), {x.node}), 2, false, {}});
  }

  // A bias of `count` values broadcast from C (scalar, [count] or [1, count]).
  std::vector<double> bias_values(const Const& c, Index count, double scale) const {
    std::vector<double> v = reals(c, "C");
    if (v.size() == 1) v.assign(static_cast<std::size_t>(count), v[0]);
    const bool fits = c.dims.size() <= 1 || (c.dims.size() == 2 && c.dims[0] == 1);
    if (!fits || static_cast<Index>(v.size()) != count) {
      fail("C " + dims_text(c.dims) + " must broadcast along [N, " + std::to_string(count) + "] from its last axis");
    }
    for (double& e : v) e *= scale;
    return v;
  }

  // Gemm: Y = alpha * A' B' + beta * C, with A the network's tensor.
  void gemm(const ::onnx::NodeProto& node) {
    only_outputs(node, 1);
    const Dynamic a = plain(node, 0);
    if (attr_int(node, "transA", 0) != 0) fail("transA = 1 (a transposed batch) is not supported");
    const Const& b = constant(node, 1, "B");
    if (b.dims.size() != 2) fail("B " + dims_text(b.dims) + " must be a matrix");
    const bool trans_b = attr_int(node, "transB", 0) != 0;
    const double alpha = attr_float(node, "alpha", 1), beta = attr_float(node, "beta", 1);
    const Index in = trans_b ? b.dims[1] : b.dims[0], out = trans_b ? b.dims[0] : b.dims[1];
    const std::vector<double> bv = reals(b, "B");
    std::vector<double> weight(bv.size());
    for (Index o = 0; o < out; ++o) {
      for (Index i = 0; i < in; ++i) {
        weight[static_cast<std::size_t>(o * in + i)] =
            alpha * bv[static_cast<std::size_t>(trans_b ? o * in + i : i * out + o)];
      }
    }
    std::optional<std::vector<double>> bias;
    if (has_input(node, 2) && beta != 0) bias = bias_values(constant(node, 2, "C"), out, beta);
    linear(node, a, in, out, weight, bias ? &*bias : nullptr);
  }

  // MatMul of the network's [N, K] by a constant [K, M]: a Linear without bias.
  void matmul(const ::onnx::NodeProto& node) {
    const Dynamic a = plain(node, 0);
    const Const& b = constant(node, 1, "B");
    if (b.dims.size() != 2) fail("B " + dims_text(b.dims) + " must be a matrix");
    const Index in = b.dims[0], out = b.dims[1];
    const std::vector<double> bv = reals(b, "B");
    std::vector<double> weight(bv.size());
    for (Index o = 0; o < out; ++o) {
      for (Index i = 0; i < in; ++i)
        weight[static_cast<std::size_t>(o * in + i)] = bv[static_cast<std::size_t>(i * out + o)];
    }
    linear(node, a, in, out, weight, nullptr);
  }

  void activation(const ::onnx::NodeProto& node, LayerPtr<T> layer, bool non_negative) {
    only_outputs(node, 1);
    const Dynamic x = plain(node, 0);
    set_output(node, {add_layer(node, std::move(layer), {x.node}), x.rank, non_negative, {}});
  }
  void relu(const ::onnx::NodeProto& node) { activation(node, std::make_unique<ReLU<T>>(), true); }
  void sigmoid(const ::onnx::NodeProto& node) { activation(node, std::make_unique<Sigmoid<T>>(), true); }
  void tanh(const ::onnx::NodeProto& node) { activation(node, std::make_unique<Tanh<T>>(), false); }
  void softplus(const ::onnx::NodeProto& node) { activation(node, std::make_unique<Softplus<T>>(), true); }
  void leaky_relu(const ::onnx::NodeProto& node) {
    const double alpha = attr_float(node, "alpha", 0.01);
    activation(node, build([&] { return LayerPtr<T>(std::make_unique<LeakyReLU<T>>(alpha)); }), false);
  }
  void elu(const ::onnx::NodeProto& node) {
    const double alpha = attr_float(node, "alpha", 1.0);
    activation(node, build([&] { return LayerPtr<T>(std::make_unique<ELU<T>>(alpha)); }), false);
  }

  // PRelu: one slope, or one per channel ([C], [C, 1, 1], [1, C, 1, 1]).
  void prelu(const ::onnx::NodeProto& node) {
    const Dynamic x = plain(node, 0);
    const Const& slope = constant(node, 1, "slope");
    const Index channels = shape(x)[0];
    const std::vector<double> v = reals(slope, "slope");
    if (v.size() != 1 && (static_cast<Index>(v.size()) != channels || !per_channel(slope.dims, x.rank))) {
      fail("slope " + dims_text(slope.dims) + " must be one value or one per channel of " + dims_text(onnx_dims(x)));
    }
    auto layer = build([&] { return std::make_unique<PReLU<T>>(static_cast<Index>(v.size())); });
    fill(layer->params()[0].value, v);
    activation(node, std::move(layer), false);
  }
  // Whether dims broadcast along axis 1 of a tensor of `rank`: [C], [C,1,1], [1,C,1,1], [1,C].
  static bool per_channel(const std::vector<std::int64_t>& dims, int rank) {
    std::vector<std::int64_t> d = dims;
    while (static_cast<int>(d.size()) < rank) d.insert(d.begin(), 1);
    if (static_cast<int>(d.size()) != rank) return false;
    // [1, C, 1, ...]: one value per index of axis 1 (a [C] operand of rank 4
    // broadcasts along W, and is not this).
    for (std::size_t k = 0; k < d.size(); ++k) {
      if (k != 1 && d[k] != 1) return false;
    }
    return true;
  }

  // Clip: bounds as attributes before opset 11, as optional inputs from it.
  void clip(const ::onnx::NodeProto& node) {
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    if (opset_ < 11) {
      lo = attr_float(node, "min", -std::numeric_limits<float>::max());
      hi = attr_float(node, "max", std::numeric_limits<float>::max());
    } else {
      if (has_input(node, 1)) lo = scalar(constant(node, 1, "min"), "min");
      if (has_input(node, 2)) hi = scalar(constant(node, 2, "max"), "max");
    }
    if (std::abs(lo) >= std::numeric_limits<float>::max()) lo = -std::numeric_limits<double>::infinity();
    if (std::abs(hi) >= std::numeric_limits<float>::max()) hi = std::numeric_limits<double>::infinity();
    if (lo == 0 && hi == 6) return activation(node, std::make_unique<ReLU6<T>>(), true);
    if (lo == 0 && std::isinf(hi)) return activation(node, std::make_unique<ReLU<T>>(), true);
    if (std::isinf(lo) || std::isinf(hi)) fail("a Clip with one bound other than 0 is not supported");
    activation(node, build([&] { return LayerPtr<T>(std::make_unique<Clip<T>>(lo, hi)); }), lo >= 0);
  }
  double scalar(const Const& c, const char* role) const {
    if (c.size() != 1) fail(std::string(role) + " " + dims_text(c.dims) + " must be one value");
    return c.real(0);
  }

  // Softmax and LogSoftmax over the features of [N, F].
  void softmax(const ::onnx::NodeProto& node) {
    const Dynamic x = plain(node, 0);
    const std::int64_t axis = attr_int(node, "axis", opset_ < 13 ? 1 : -1);
    if (x.rank != 2 || (axis != 1 && axis != -1)) {
      fail("axis " + std::to_string(axis) + " on " + dims_text(onnx_dims(x)) +
           "; fovea takes the softmax over the features of [N, F] (axis 1 or -1)");
    }
    const bool log = node.op_type() == "LogSoftmax";
    LayerPtr<T> layer = log ? LayerPtr<T>(std::make_unique<LogSoftmax<T>>()) : std::make_unique<Softmax<T>>();
    activation(node, std::move(layer), !log);
  }

  // MaxPool and AveragePool; a Pad before them joins their padding.
  void pool(const ::onnx::NodeProto& node) {
    only_outputs(node, 1);
    const Dynamic& x = dynamic(node, 0);
    if (x.rank != 4) fail("input must be [N, C, H, W]");
    const bool max = node.op_type() == "MaxPool";
    const auto kernel = attr_ints(node, "kernel_shape", {});
    if (kernel.size() != 2) fail("kernel_shape " + dims_text(kernel) + " must hold two values (2-D pooling)");
    const auto strides = attr_ints(node, "strides", {1, 1});
    if (strides.size() != 2) fail("strides " + dims_text(strides) + " must hold two values");
    const auto dilations = attr_ints(node, "dilations", {1, 1});
    if (dilations != std::vector<std::int64_t>{1, 1}) fail("dilations " + dims_text(dilations) + " are not supported");
    if (max && attr_int(node, "storage_order", 0) != 0) fail("storage_order 1 is not supported");
    const bool ceil = attr_int(node, "ceil_mode", 0) != 0;
    // fovea's max pooling keeps the default count_include_pad (it only means something for an average).
    bool include_pad = max || attr_int(node, "count_include_pad", 0) != 0;
    const SampleShape in = shape(x);
    auto pads = window_pads(node, in, kernel, strides, dilations);
    if (x.padded()) {
      // Zeros padded before the window: an average counts them; a maximum may
      // ignore them only when no value is below 0.
      if (max && !x.non_negative) fail("a MaxPool after a Pad needs an input known not to be negative");
      if (!max && !include_pad && pads != std::array<std::int64_t, 4>{0, 0, 0, 0}) {
        fail("an AveragePool with count_include_pad = 0 and pads after a Pad is not supported");
      }
      if (!max) include_pad = true;
      for (int k = 0; k < 4; ++k) pads[static_cast<std::size_t>(k)] += x.pad[static_cast<std::size_t>(k)];
    }
    Pool2dOptions options{.kind = max ? PoolKind::max : PoolKind::average,
                          .window = {kernel[0], kernel[1]},
                          .stride = {strides[0], strides[1]},
                          .padding = {pads[0], pads[1], pads[2], pads[3]},
                          .ceil_mode = ceil,
                          .count_include_pad = include_pad};
    auto layer = build([&] { return std::make_unique<Pool2d<T>>(options); });
    set_output(node, {add_layer(node, LayerPtr<T>(std::move(layer)), {x.node}), 4, x.non_negative, {}});
  }

  void global_pool(const ::onnx::NodeProto& node) {
    const Dynamic x = plain(node, 0);
    if (x.rank != 4) fail("input must be [N, C, H, W]");
    const bool max = node.op_type() == "GlobalMaxPool";
    auto layer = std::make_unique<GlobalPool2d<T>>(max ? PoolKind::max : PoolKind::average);
    set_output(node, {add_layer(node, LayerPtr<T>(std::move(layer)), {x.node}), 4, x.non_negative, {}});
  }

  // BatchNormalization in inference form: scale, B, mean, var [C].
  void batch_norm(const ::onnx::NodeProto& node) {
    only_outputs(node, 1);
    if (attr_int(node, "training_mode", 0) != 0) fail("training_mode = 1 is not supported");
    const Dynamic x = plain(node, 0);
    const Index channels = shape(x)[0];
    const double epsilon = attr_float(node, "epsilon", 1e-5), momentum = attr_float(node, "momentum", 0.9);
    std::vector<std::vector<double>> v;
    const char* roles[] = {"scale", "B", "mean", "var"};
    for (int k = 0; k < 4; ++k) {
      const Const& c = constant(node, k + 1, roles[k]);
      if (c.size() != channels || c.dims.size() != 1) {
        fail(std::string(roles[k]) + " " + dims_text(c.dims) + " must be [" + std::to_string(channels) + "]");
      }
      v.push_back(reals(c, roles[k]));
    }
    // ONNX keeps momentum of the running value; fovea takes in 1 - momentum of the batch's.
    auto layer = build([&] {
      return std::make_unique<BatchNorm<T>>(
          BatchNormOptions{.channels = channels, .momentum = 1 - momentum, .epsilon = epsilon, .affine = true});
    });
    auto params = layer->params();
    auto buffers = layer->buffers();
    fill(params[0].value, v[0]);
    fill(params[1].value, v[1]);
    fill(buffers[0].value, v[2]);
    fill(buffers[1].value, v[3]);
    set_output(node, {add_layer(node, LayerPtr<T>(std::move(layer)), {x.node}), x.rank, false, {}});
  }

  void lrn(const ::onnx::NodeProto& node) {
    const Dynamic x = plain(node, 0);
    if (x.rank != 4) fail("input must be [N, C, H, W]");
    const LocalResponseNormOptions options{.size = attr_int(node, "size", 0),
                                           .alpha = attr_float(node, "alpha", 1e-4),
                                           .beta = attr_float(node, "beta", 0.75),
                                           .k = attr_float(node, "bias", 1.0)};
    auto layer = build([&] { return std::make_unique<LocalResponseNorm<T>>(options); });
    set_output(node, {add_layer(node, LayerPtr<T>(std::move(layer)), {x.node}), 4, x.non_negative, {}});
  }

  // Add, Sub, Mul, Div: of constants, at import; of the network's tensor and
  // a constant per channel, a ChannelAffine; Add of two network tensors of
  // one shape, an Add layer.
  void arithmetic(const ::onnx::NodeProto& node) {
    const std::string& op = node.op_type();
    if (is_const(node, 0) && is_const(node, 1)) {
      return set_const(node, elementwise(constant(node, 0, "A"), constant(node, 1, "B"), op));
    }
    if (!is_const(node, 0) && !is_const(node, 1)) {
      if (op != "Add") fail(op + " of two tensors the network computes is not supported");
      const Dynamic a = plain(node, 0), b = plain(node, 1);
      if (a.rank != b.rank || shape(a) != shape(b)) {
        fail("adds " + dims_text(onnx_dims(a)) + " and " + dims_text(onnx_dims(b)) + "; fovea adds equal shapes");
      }
      return set_output(node,
                        {add_layer(node, Add<T>{}, {a.node, b.node}), a.rank, a.non_negative && b.non_negative, {}});
    }
    const bool const_first = is_const(node, 0);
    const Dynamic x = plain(node, const_first ? 1 : 0);
    const Const& c = constant(node, const_first ? 0 : 1, "operand");
    const Index channels = shape(x)[0];
    std::vector<double> v = reals(c, "operand");
    if (v.size() == 1) {
      v.assign(static_cast<std::size_t>(channels), v[0]);
    } else if (static_cast<Index>(v.size()) != channels || !per_channel(c.dims, x.rank)) {
      fail("operand " + dims_text(c.dims) + " must be one value or one per channel of " + dims_text(onnx_dims(x)));
    }
    if (c.dims.size() > static_cast<std::size_t>(x.rank)) fail("operand " + dims_text(c.dims) + " has too many axes");
    std::vector<double> scale(v.size(), 1), shift(v.size(), 0);
    for (std::size_t k = 0; k < v.size(); ++k) {
      if (op == "Add") {
        shift[k] = v[k];
      } else if (op == "Sub") {
        scale[k] = const_first ? -1 : 1;
        shift[k] = const_first ? v[k] : -v[k];
      } else if (op == "Mul") {
        scale[k] = v[k];
      } else {
        if (const_first) fail("division of a constant by the network's tensor is not supported");
        if (v[k] == 0) fail("divides by a constant 0");
        scale[k] = 1 / v[k];
      }
    }
    auto layer = build([&] { return std::make_unique<ChannelAffine<T>>(channels); });
    fill(layer->scale(), scale);
    fill(layer->shift(), shift);
    const bool keeps_sign = x.non_negative && (op == "Mul" || op == "Div") && *std::min_element(v.begin(), v.end()) > 0;
    set_output(node, {add_layer(node, LayerPtr<T>(std::move(layer)), {x.node}), x.rank, keeps_sign, {}});
  }

  // Sum of network tensors of one shape: an Add layer.
  void sum(const ::onnx::NodeProto& node) {
    std::vector<Node> inputs;
    Dynamic first = plain(node, 0);
    bool non_negative = true;
    for (int k = 0; k < node.input_size(); ++k) {
      const Dynamic x = plain(node, k);
      if (x.rank != first.rank || shape(x) != shape(first)) fail("adds tensors of different shapes");
      non_negative = non_negative && x.non_negative;
      inputs.push_back(x.node);
    }
    if (inputs.size() == 1) return set_output(node, first);
    set_output(node, {add_layer(node, Add<T>{}, inputs), first.rank, non_negative, {}});
  }

  // Concat of network tensors along the channels, or of constants at import.
  void concat(const ::onnx::NodeProto& node) {
    const std::int64_t axis = attr_int(node, "axis", 1);
    bool all_const = true;
    for (int k = 0; k < node.input_size(); ++k) all_const = all_const && is_const(node, k);
    if (all_const) {
      std::vector<const Const*> parts;
      for (int k = 0; k < node.input_size(); ++k) parts.push_back(&constant(node, k, "input"));
      return set_const(node, concat_consts(parts, axis));
    }
    std::vector<Node> inputs;
    int rank = 0;
    bool non_negative = true;
    for (int k = 0; k < node.input_size(); ++k) {
      if (is_const(node, k)) fail("joins a constant to the network's tensors, which is not supported");
      const Dynamic x = plain(node, k);
      if (rank != 0 && x.rank != rank) fail("joins tensors of different ranks");
      rank = x.rank;
      non_negative = non_negative && x.non_negative;
      inputs.push_back(x.node);
    }
    if (rank < 2 || (axis != 1 && axis != 1 - rank)) {
      fail("axis " + std::to_string(axis) + " is not supported; fovea joins channels (axis 1)");
    }
    set_output(node, {add_layer(node, Concat<T>{}, inputs), rank, non_negative, {}});
  }

  Dynamic flatten_to_features(const ::onnx::NodeProto& node, const Dynamic& x) {
    if (x.rank == 2) return x;
    return {add_layer(node, Flatten<T>{}, {x.node}), 2, x.non_negative, {}};
  }

  void flatten(const ::onnx::NodeProto& node) {
    const std::int64_t axis = attr_int(node, "axis", 1);
    if (is_const(node, 0)) {
      Const c = constant(node, 0, "input");
      const std::int64_t rank = static_cast<std::int64_t>(c.dims.size());
      const std::int64_t a = axis < 0 ? axis + rank : axis;
      if (a < 0 || a > rank) fail("axis " + std::to_string(axis) + " is outside rank " + std::to_string(rank));
      std::int64_t outer = 1;
      for (std::int64_t k = 0; k < a; ++k) outer *= c.dims[static_cast<std::size_t>(k)];
      c.dims = {outer, outer == 0 ? 0 : c.size() / std::max<std::int64_t>(outer, 1)};
      return set_const(node, std::move(c));
    }
    const Dynamic x = plain(node, 0);
    if (axis != 1 && axis != 1 - x.rank)
      fail("axis " + std::to_string(axis) + " is not supported; fovea flattens from axis 1");
    set_output(node, flatten_to_features(node, x));
  }

  // Reshape of the network's tensor to [N, F] (a Flatten) or to its own shape.
  void reshape(const ::onnx::NodeProto& node) {
    const Const& target = constant(node, 1, "shape");
    if (!target.integer) fail("shape must be an integer tensor");
    const bool allow_zero = attr_int(node, "allowzero", 0) != 0;
    if (is_const(node, 0)) {
      Const c = constant(node, 0, "data");
      c.dims = reshaped(c.dims, target.i, allow_zero);
      return set_const(node, std::move(c));
    }
    const Dynamic x = plain(node, 0);
    const auto dims = reshaped(onnx_dims(x), target.i, allow_zero);
    const SampleShape s = shape(x);
    if (dims.size() == 2 && dims[0] == batch_marker && dims[1] == shape_size(s)) {
      return set_output(node, flatten_to_features(node, x));
    }
    if (sample_of(dims) == shape(x))
      return set_output(node, {x.node, static_cast<int>(dims.size()), x.non_negative, {}});
    fail("reshapes " + dims_text(onnx_dims(x)) + " to " + dims_text(target.i) +
         "; fovea reshapes only [N, C, H, W] to [N, C*H*W]");
  }
  // The dims `target` names for a tensor of `dims` (0 copies, -1 infers); the
  // batch marker stands for the batch extent.
  std::vector<std::int64_t> reshaped(const std::vector<std::int64_t>& dims, const std::vector<std::int64_t>& target,
                                     bool allow_zero) const {
    std::int64_t known = 1;
    bool batch_in = false;
    for (auto d : dims) {
      if (d == batch_marker) {
        batch_in = true;
      } else {
        known *= d;
      }
    }
    std::vector<std::int64_t> out;
    int infer = -1;
    std::int64_t product = 1;
    bool batch_out = false;
    for (std::size_t k = 0; k < target.size(); ++k) {
      std::int64_t d = target[k];
      if (d == 0 && !allow_zero) {
        if (k >= dims.size()) fail("shape " + dims_text(target) + " copies an axis the input does not have");
        d = dims[k];
      }
      if (d == -1) {
        if (infer >= 0) fail("shape " + dims_text(target) + " has more than one -1");
        infer = static_cast<int>(k);
      } else if (d == batch_marker) {
        if (batch_out) fail("shape " + dims_text(target) + " names the batch twice");
        batch_out = true;
      } else if (d < 0) {
        fail("shape " + dims_text(target) + " has a negative extent");
      } else {
        if (d > 0 && product > (std::int64_t{1} << 40) / d) fail("shape " + dims_text(target) + " is too large");
        product *= d;
      }
      out.push_back(d);
    }
    if (batch_in != batch_out && !(batch_in && infer >= 0 && !batch_out)) {
      fail("reshapes " + dims_text(dims) + " to " + dims_text(target) + ", moving the batch axis");
    }
    if (infer >= 0) {
      if (batch_in && !batch_out) {
        // -1 takes the batch: only when the rest accounts for every other value.
        if (product != known)
          fail("reshapes " + dims_text(dims) + " to " + dims_text(target) + ", mixing the batch in");
        out[static_cast<std::size_t>(infer)] = batch_marker;
        return out;
      }
      if (product == 0 || known % product != 0) fail("shape " + dims_text(target) + " does not fit " + dims_text(dims));
      out[static_cast<std::size_t>(infer)] = known / product;
    } else if (product != known) {
      fail("shape " + dims_text(target) + " does not fit " + dims_text(dims));
    }
    return out;
  }

  // Squeeze and Unsqueeze: axes as an attribute before opset 13, an input from it.
  void squeeze(const ::onnx::NodeProto& node) {
    const bool un = node.op_type() == "Unsqueeze";
    std::vector<std::int64_t> axes;
    if (opset_ < 13) {
      axes = attr_ints(node, "axes", {});
    } else if (has_input(node, 1)) {
      axes = ints_of(constant(node, 1, "axes"), "axes");
    }
    if (un && axes.empty()) fail("needs axes");
    std::vector<std::int64_t> dims;
    if (is_const(node, 0)) {
      dims = constant(node, 0, "data").dims;
    } else {
      dims = onnx_dims(plain(node, 0));
    }
    const std::int64_t rank =
        static_cast<std::int64_t>(dims.size()) + (un ? static_cast<std::int64_t>(axes.size()) : 0);
    std::set<std::int64_t> at;
    for (auto a : axes) {
      const std::int64_t n = a < 0 ? a + rank : a;
      if (n < 0 || n >= rank || !at.insert(n).second)
        fail("axes " + dims_text(axes) + " do not fit rank " + std::to_string(rank));
    }
    std::vector<std::int64_t> out;
    if (un) {
      std::size_t next = 0;
      for (std::int64_t k = 0; k < rank; ++k) out.push_back(at.count(k) ? 1 : dims[next++]);
    } else {
      for (std::size_t k = 0; k < dims.size(); ++k) {
        const bool drop = axes.empty() ? dims[k] == 1 : at.count(static_cast<std::int64_t>(k)) > 0;
        if (drop && dims[k] != 1)
          fail("squeezes axis " + std::to_string(k) + " of " + dims_text(dims) + ", which is not 1");
        if (!drop) out.push_back(dims[k]);
      }
    }
    if (is_const(node, 0)) {
      Const c = constant(node, 0, "data");
      c.dims = out;
      return set_const(node, std::move(c));
    }
    const Dynamic x = plain(node, 0);
    if (out.size() == 2 && out[0] == batch_marker) return set_output(node, flatten_to_features(node, x));
    if (sample_of(out) == shape(x)) return set_output(node, {x.node, static_cast<int>(out.size()), x.non_negative, {}});
    fail("gives " + dims_text(out) + "; fovea tensors are [N, C, H, W] or [N, F]");
  }

  // Pad with zeros on H and W: applied by the convolution or pooling after it.
  void pad(const ::onnx::NodeProto& node) {
    const std::string mode = attr_string(node, "mode", "constant");
    if (mode != "constant") fail("mode '" + mode + "' is not supported; fovea pads with zeros");
    std::vector<std::int64_t> pads;
    double value = 0;
    if (opset_ < 11) {
      pads = attr_ints(node, "pads", {});
      value = attr_float(node, "value", 0);
    } else {
      pads = ints_of(constant(node, 1, "pads"), "pads");
      if (has_input(node, 2)) value = scalar(constant(node, 2, "constant_value"), "constant_value");
      if (has_input(node, 3)) fail("axes are not supported");
    }
    if (value != 0) fail("pads with " + std::to_string(value) + "; fovea pads with zeros");
    Dynamic x = dynamic(node, 0);  // a Pad after a Pad adds up
    if (x.rank != 4 || pads.size() != 8) fail("pads " + dims_text(pads) + " must hold eight values for [N, C, H, W]");
    if (pads[0] || pads[1] || pads[4] || pads[5]) fail("pads " + dims_text(pads) + " pad the batch or channel axes");
    for (auto p : pads) {
      if (p < 0 || p > (1 << 20)) fail("pads " + dims_text(pads) + " must be between 0 and 2^20");
    }
    x.pad = {x.pad[0] + pads[2], x.pad[1] + pads[6], x.pad[2] + pads[3], x.pad[3] + pads[7]};
    set_output(node, x);
  }

  void identity(const ::onnx::NodeProto& node) {
    if (node.op_type() == "Dropout") only_outputs(node, 1);
    if (is_const(node, 0)) return set_const(node, constant(node, 0, "input"));
    set_output(node, dynamic(node, 0));
  }

  void constant_node(const ::onnx::NodeProto& node) {
    if (node.attribute_size() != 1) fail("needs exactly one attribute");
    const auto& a = node.attribute(0);
    Const c;
    if (a.name() == "value") {
      c = to_const(a.t(), "value");
    } else if (a.name() == "value_float") {
      c.f = {a.f()};
    } else if (a.name() == "value_floats") {
      c.f.assign(a.floats().begin(), a.floats().end());
      c.dims = {static_cast<std::int64_t>(c.f.size())};
    } else if (a.name() == "value_int") {
      c.integer = true;
      c.i = {a.i()};
    } else if (a.name() == "value_ints") {
      c.integer = true;
      c.i.assign(a.ints().begin(), a.ints().end());
      c.dims = {static_cast<std::int64_t>(c.i.size())};
    } else {
      fail("attribute '" + a.name() + "' is not supported");
    }
    set_const(node, std::move(c));
  }

  void shape_node(const ::onnx::NodeProto& node) {
    std::vector<std::int64_t> dims = is_const(node, 0) ? constant(node, 0, "data").dims : onnx_dims(plain(node, 0));
    const std::int64_t rank = static_cast<std::int64_t>(dims.size());
    std::int64_t start = attr_int(node, "start", 0), end = attr_int(node, "end", rank);
    if (start < 0) start += rank;
    if (end < 0) end += rank;
    start = std::clamp<std::int64_t>(start, 0, rank);
    end = std::clamp<std::int64_t>(end, start, rank);
    Const c;
    c.integer = true;
    c.i.assign(dims.begin() + start, dims.begin() + end);
    c.dims = {end - start};
    set_const(node, std::move(c));
  }

  // Row-major strides of dims.
  static std::vector<std::int64_t> strides_of(const std::vector<std::int64_t>& dims) {
    std::vector<std::int64_t> s(dims.size(), 1);
    for (std::size_t k = dims.size(); k-- > 1;) s[k - 1] = s[k] * dims[k];
    return s;
  }
  // A constant of `dims` whose value k is c's value at index from(k).
  template <class From>
  Const gathered(const Const& c, std::vector<std::int64_t> dims, From from) {
    Const out;
    out.integer = c.integer;
    out.dims = std::move(dims);
    const std::int64_t count = count_of(out.dims, "the result");
    for (std::int64_t k = 0; k < count; ++k) {
      const auto at = static_cast<std::size_t>(from(k));
      if (c.integer) {
        out.i.push_back(c.i[at]);
      } else {
        out.f.push_back(c.f[at]);
      }
    }
    return out;
  }

  void gather(const ::onnx::NodeProto& node) {
    const Const& data = constant(node, 0, "data");
    const Const& indices = constant(node, 1, "indices");
    const auto idx = ints_of(indices, "indices");
    const std::int64_t rank = static_cast<std::int64_t>(data.dims.size());
    std::int64_t axis = attr_int(node, "axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) fail("axis is outside the data's rank " + std::to_string(rank));
    const std::int64_t extent = data.dims[static_cast<std::size_t>(axis)];
    for (auto i : idx) {
      if (i < -extent || i >= extent)
        fail("index " + std::to_string(i) + " is outside [0, " + std::to_string(extent) + ")");
    }
    std::vector<std::int64_t> dims(data.dims.begin(), data.dims.begin() + axis);
    dims.insert(dims.end(), indices.dims.begin(), indices.dims.end());
    dims.insert(dims.end(), data.dims.begin() + axis + 1, data.dims.end());
    std::int64_t inner = 1;
    for (std::int64_t k = axis + 1; k < rank; ++k) inner *= data.dims[static_cast<std::size_t>(k)];
    const std::int64_t n_idx = static_cast<std::int64_t>(idx.size());
    set_const(node, gathered(data, dims, [&](std::int64_t k) {
                const std::int64_t in = k % inner, rest = k / inner, j = rest % n_idx, outer = rest / n_idx;
                std::int64_t i = idx[static_cast<std::size_t>(j)];
                if (i < 0) i += extent;
                return (outer * extent + i) * inner + in;
              }));
  }

  void transpose(const ::onnx::NodeProto& node) {
    const Const& data = constant(node, 0, "data");
    const std::size_t rank = data.dims.size();
    std::vector<std::int64_t> perm = attr_ints(node, "perm", {});
    if (perm.empty()) {
      for (std::size_t k = rank; k-- > 0;) perm.push_back(static_cast<std::int64_t>(k));
    }
    std::vector<std::int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t k = 0; k < sorted.size(); ++k) {
      if (sorted.size() != rank || sorted[k] != static_cast<std::int64_t>(k))
        fail("perm " + dims_text(perm) + " is not a permutation");
    }
    std::vector<std::int64_t> dims(rank);
    for (std::size_t k = 0; k < rank; ++k) dims[k] = data.dims[static_cast<std::size_t>(perm[k])];
    const auto in_strides = strides_of(data.dims), out_strides = strides_of(dims);
    set_const(node, gathered(data, dims, [&](std::int64_t k) {
                std::int64_t at = 0;
                for (std::size_t a = 0; a < rank; ++a) {
                  at += (k / out_strides[a] % dims[a]) * in_strides[static_cast<std::size_t>(perm[a])];
                }
                return at;
              }));
  }

  void slice(const ::onnx::NodeProto& node) {
    const Const& data = constant(node, 0, "data");
    const std::int64_t rank = static_cast<std::int64_t>(data.dims.size());
    std::vector<std::int64_t> starts, ends, axes, steps;
    if (opset_ < 10) {
      starts = attr_ints(node, "starts", {});
      ends = attr_ints(node, "ends", {});
      axes = attr_ints(node, "axes", {});
    } else {
      starts = ints_of(constant(node, 1, "starts"), "starts");
      ends = ints_of(constant(node, 2, "ends"), "ends");
      if (has_input(node, 3)) axes = ints_of(constant(node, 3, "axes"), "axes");
      if (has_input(node, 4)) steps = ints_of(constant(node, 4, "steps"), "steps");
    }
    if (axes.empty()) {
      for (std::size_t k = 0; k < starts.size(); ++k) axes.push_back(static_cast<std::int64_t>(k));
    }
    if (steps.empty()) steps.assign(starts.size(), 1);
    if (ends.size() != starts.size() || axes.size() != starts.size() || steps.size() != starts.size()) {
      fail("starts, ends, axes and steps differ in length");
    }
    std::vector<std::int64_t> first(static_cast<std::size_t>(rank), 0), step(static_cast<std::size_t>(rank), 1),
        dims = data.dims;
    for (std::size_t k = 0; k < starts.size(); ++k) {
      std::int64_t a = axes[k] < 0 ? axes[k] + rank : axes[k];
      if (a < 0 || a >= rank) fail("axis " + std::to_string(axes[k]) + " is outside rank " + std::to_string(rank));
      const auto ua = static_cast<std::size_t>(a);
      const std::int64_t n = data.dims[ua], s = steps[k];
      if (s == 0) fail("a step is 0");
      auto clampi = [&](std::int64_t v, std::int64_t lo, std::int64_t hi) {
        if (v < 0) v = v < -n ? -1 : v + n;  // negative: from the end (saturating)
        return std::clamp(v, lo, hi);
      };
      std::int64_t b = starts[k], e = ends[k];
      if (s > 0) {
        b = clampi(b, 0, n);
        e = clampi(e, 0, n);
        dims[ua] = e > b ? (e - b + s - 1) / s : 0;
      } else {
        b = clampi(b, 0, n - 1);
        e = ends[k] < -n ? -1 : clampi(e, -1, n - 1);
        dims[ua] = b > e ? (b - e - s - 1) / -s : 0;
      }
      first[ua] = b;
      step[ua] = s;
    }
    const auto in_strides = strides_of(data.dims), out_strides = strides_of(dims);
    set_const(node, gathered(data, dims, [&](std::int64_t k) {
                std::int64_t at = 0;
                for (std::size_t a = 0; a < static_cast<std::size_t>(rank); ++a) {
                  at += (first[a] + (k / out_strides[a] % dims[a]) * step[a]) * in_strides[a];
                }
                return at;
              }));
  }

  void constant_of_shape(const ::onnx::NodeProto& node) {
    const auto dims = ints_of(constant(node, 0, "shape"), "shape");
    Const value;
    value.f = {0};
    value.dims = {1};
    if (const auto* a = attribute(node, "value")) value = to_const(a->t(), "value");
    if (value.size() != 1) fail("value must hold one value");
    set_const(node, gathered(value, dims, [](std::int64_t) { return 0; }));
  }

  void cast(const ::onnx::NodeProto& node) {
    Const c = constant(node, 0, "input");
    const auto to = attr_int(node, "to", 0);
    const bool to_int =
        to == ::onnx::TensorProto::INT64 || to == ::onnx::TensorProto::INT32 || to == ::onnx::TensorProto::BOOL;
    const bool to_real = to == ::onnx::TensorProto::FLOAT || to == ::onnx::TensorProto::DOUBLE;
    if (!to_int && !to_real) fail("casts to type " + std::to_string(to) + ", which is not supported");
    if (to_int && !c.integer) {
      for (double v : c.f) {
        if (!(std::abs(v) < 9.2e18)) fail("casts a value outside int64 to an integer");
        c.i.push_back(to == ::onnx::TensorProto::BOOL ? v != 0 : static_cast<std::int64_t>(v));
      }
      c.f.clear();
      c.integer = true;
    } else if (to_real && c.integer) {
      for (auto v : c.i) {
        if (v == batch_marker) fail("casts the batch size, which is not known at import");
        c.f.push_back(static_cast<double>(v));
      }
      c.i.clear();
      c.integer = false;
    }
    if (to == ::onnx::TensorProto::FLOAT) {
      for (double& v : c.f) v = static_cast<float>(v);
    }
    set_const(node, std::move(c));
  }

  Const concat_consts(const std::vector<const Const*>& parts, std::int64_t axis) {
    if (parts.empty()) fail("has no input");
    const std::int64_t rank = static_cast<std::int64_t>(parts[0]->dims.size());
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) fail("axis is outside rank " + std::to_string(rank));
    std::vector<std::int64_t> dims = parts[0]->dims;
    dims[static_cast<std::size_t>(axis)] = 0;
    for (const Const* p : parts) {
      if (p->dims.size() != static_cast<std::size_t>(rank) || p->integer != parts[0]->integer) {
        fail("joins constants of different ranks or types");
      }
      for (std::int64_t a = 0; a < rank; ++a) {
        if (a != axis && p->dims[static_cast<std::size_t>(a)] != parts[0]->dims[static_cast<std::size_t>(a)]) {
          fail("joins constants of different shapes");
        }
      }
      dims[static_cast<std::size_t>(axis)] += p->dims[static_cast<std::size_t>(axis)];
    }
    std::int64_t outer = 1;
    for (std::int64_t a = 0; a < axis; ++a) outer *= dims[static_cast<std::size_t>(a)];
    Const out;
    out.integer = parts[0]->integer;
    out.dims = dims;
    count_of(dims, "the result");
    for (std::int64_t o = 0; o < outer; ++o) {
      for (const Const* p : parts) {
        const std::int64_t block = outer == 0 ? 0 : p->size() / outer;
        for (std::int64_t k = 0; k < block; ++k) {
          const auto at = static_cast<std::size_t>(o * block + k);
          if (out.integer) {
            out.i.push_back(p->i[at]);
          } else {
            out.f.push_back(p->f[at]);
          }
        }
      }
    }
    return out;
  }

  // NumPy broadcasting of two constants.
  Const elementwise(const Const& a, const Const& b, const std::string& op) {
    const std::size_t rank = std::max(a.dims.size(), b.dims.size());
    auto padded = [&](const Const& c) {
      std::vector<std::int64_t> d(rank - c.dims.size(), 1);
      d.insert(d.end(), c.dims.begin(), c.dims.end());
      return d;
    };
    const auto da = padded(a), db = padded(b);
    std::vector<std::int64_t> dims(rank);
    for (std::size_t k = 0; k < rank; ++k) {
      if (da[k] != db[k] && da[k] != 1 && db[k] != 1)
        fail("cannot broadcast " + dims_text(a.dims) + " with " + dims_text(b.dims));
      dims[k] = da[k] == 1 ? db[k] : da[k];
    }
    const auto sa = strides_of(da), sb = strides_of(db), so = strides_of(dims);
    Const out;
    out.integer = a.integer && b.integer;
    out.dims = dims;
    const std::int64_t count = count_of(dims, "the result");
    for (std::int64_t k = 0; k < count; ++k) {
      std::size_t ia = 0, ib = 0;
      for (std::size_t d = 0; d < rank; ++d) {
        const std::int64_t i = k / so[d] % dims[d];
        ia += static_cast<std::size_t>(da[d] == 1 ? 0 : i * sa[d]);
        ib += static_cast<std::size_t>(db[d] == 1 ? 0 : i * sb[d]);
      }
      if (out.integer) {
        const std::int64_t x = a.i[ia], y = b.i[ib];
        if (x == batch_marker || y == batch_marker) fail("computes with the batch size, which is not known at import");
        if (op == "Div" && y == 0) fail("divides an integer by 0");
        std::int64_t r = 0;
        if (__builtin_add_overflow(x, op == "Sub" ? -y : (op == "Add" ? y : 0), &r) && (op == "Add" || op == "Sub")) {
          fail("overflows int64");
        }
        if (op == "Mul" && __builtin_mul_overflow(x, y, &r)) fail("overflows int64");
        if (op == "Div") r = x / y;
        out.i.push_back(r);
      } else {
        const double x = a.real(ia), y = b.real(ib);
        out.f.push_back(op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y);
      }
    }
    return out;
  }

  const ::onnx::ModelProto& model_;
  ImportOptions options_;
  bool dynamic_size_ = false;  // the input's height and width are symbolic
  std::int64_t opset_ = 0;
  std::int64_t total_values_ = 0;
  std::optional<Graph<T>> net_;
  std::map<std::string, Const> consts_;
  std::map<std::string, Dynamic> values_;
  std::set<std::string> names_;
  const ::onnx::NodeProto* node_ = nullptr;
};

inline ::onnx::ModelProto parse_model(const void* data, std::size_t size, const ImportOptions& options) {
  if (static_cast<std::int64_t>(size) > options.max_bytes || size > static_cast<std::size_t>(INT32_MAX)) {
    throw onnx_error("onnx: the model has " + std::to_string(size) + " bytes, more than the limit of " +
                     std::to_string(options.max_bytes));
  }
  ::onnx::ModelProto model;
  if (!model.ParseFromArray(data, static_cast<int>(size))) {
    throw onnx_error("onnx: the bytes are not an ONNX model (a truncated or corrupt file?)");
  }
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    std::string what = e.what();
    if (const auto cut = what.find('\n'); cut != std::string::npos) what.resize(cut);
    throw onnx_error("onnx: the model fails ONNX's checker: " + what);
  }
  return model;
}

}  // namespace detail

/// Imports an ONNX model already parsed; throws onnx_error when fovea cannot
/// run it (see this file's overview). Does not run ONNX's checker.
template <class T>
Imported<T> import_model(const ::onnx::ModelProto& model, const ImportOptions& options = {}) {
  return detail::Importer<T>(model, options).run();
}

/// Imports a model from its serialized bytes: checks the size against
/// options.max_bytes, parses it, runs onnx::checker::check_model and imports it.
/// Throws onnx_error for bytes that are not a valid model or a model fovea cannot run.
template <class T>
Imported<T> import_bytes(std::string_view bytes, const ImportOptions& options = {}) {
  const auto model = detail::parse_model(bytes.data(), bytes.size(), options);
  return import_model<T>(model, options);
}

/// Imports the model in the file at `path` (see import_bytes); throws io_error
/// when the file cannot be read.
template <class T>
Imported<T> import_file(const std::filesystem::path& path, const ImportOptions& options = {}) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("onnx::load: cannot open " + fovea::detail::quoted_path(path));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw io_error("onnx::load: cannot read " + fovea::detail::quoted_path(path));
  if (size > options.max_bytes) {
    throw onnx_error("onnx::load: " + fovea::detail::quoted_path(path) + " has " + std::to_string(size) +
                     " bytes, more than the limit of " + std::to_string(options.max_bytes));
  }
  in.seekg(0);
  std::string bytes(static_cast<std::size_t>(size), '\0');
  in.read(bytes.data(), size);
  if (!in) throw io_error("onnx::load: cannot read " + fovea::detail::quoted_path(path));
  try {
    return import_bytes<T>(bytes, options);
  } catch (const onnx_error& e) {
    throw onnx_error(fovea::detail::quoted_path(path) + ": " + e.what());
  }
}

/// The network of the ONNX model at `path`; throws onnx_error when fovea
/// cannot run it and io_error when the file cannot be read.
template <class T>
Graph<T> load(const std::filesystem::path& path, const ImportOptions& options = {}) {
  return std::move(import_file<T>(path, options).graph);
}

/// The network of an ONNX model given as its serialized bytes; throws onnx_error.
template <class T>
Graph<T> load_bytes(std::string_view bytes, const ImportOptions& options = {}) {
  return std::move(import_bytes<T>(bytes, options).graph);
}

/// Settings of save().
struct ExportOptions {
  std::int64_t opset = 13;  ///< The ONNX operator set written, 9 to 17.
  /// The ONNX rank of the input: 4 ([N, C, H, W]), or 2 ([N, F]) for a network
  /// whose input shape is [F, 1, 1]; 0 picks 4.
  int input_rank = 0;
  std::string input_name = "input";  ///< The graph input's name.
};

namespace detail {

// Writes a Graph<T> as ONNX: one function per layer type, each adding nodes
// and initializers; tensors are named after fovea's nodes.
template <class T>
class Exporter {
 public:
  Exporter(Graph<T>& net, const ExportOptions& options) : net_(net), options_(options) {}

  ::onnx::ModelProto run() {
    if (options_.opset < 9 || options_.opset > 17) {
      throw value_error("onnx::save: opset " + std::to_string(options_.opset) + "; fovea writes opsets 9 to 17");
    }
    model_.set_ir_version(options_.opset >= 15 ? 8 : 7);
    model_.set_producer_name("fovea");
    auto* opset = model_.add_opset_import();
    opset->set_domain("");
    opset->set_version(options_.opset);
    graph_ = model_.mutable_graph();
    graph_->set_name("fovea");
    const SampleShape in = net_.input_shape();
    const int in_rank = options_.input_rank == 2 ? 2 : 4;
    if (options_.input_rank != 0 && options_.input_rank != 2 && options_.input_rank != 4) {
      throw value_error("onnx::save: input_rank must be 0, 2 or 4, got " + std::to_string(options_.input_rank));
    }
    if (in_rank == 2 && (in[1] != 1 || in[2] != 1)) {
      throw value_error("onnx::save: input_rank 2 needs an input shape [F, 1, 1], got " + to_string(in));
    }
    tensors_[0] = {options_.input_name, in_rank};
    value_info(graph_->add_input(), options_.input_name, in, in_rank);
    for (std::size_t i = 0; i < net_.size(); ++i) {
      const Node node{static_cast<Index>(i + 1)};
      std::vector<std::pair<std::string, int>> inputs;
      for (Node n : net_.inputs(node)) inputs.push_back(tensors_.at(n.id));
      name_ = net_.name(node);
      tensors_[node.id] = layer(net_.layer(i), inputs, net_.shape(node));
    }
    for (Node out : net_.outputs()) {
      const auto& [name, rank] = tensors_.at(out.id);
      value_info(graph_->add_output(), name, net_.shape(out), rank);
    }
    return std::move(model_);
  }

 private:
  [[noreturn]] void fail(const Layer<T>& layer, const std::string& what) const {
    throw value_error("onnx::save: node '" + name_ + "' (" + layer.describe() + "): " + what);
  }

  static void value_info(::onnx::ValueInfoProto* info, const std::string& name, const SampleShape& s, int rank) {
    info->set_name(name);
    auto* type = info->mutable_type()->mutable_tensor_type();
    type->set_elem_type(::onnx::TensorProto::FLOAT);
    auto* shape = type->mutable_shape();
    shape->add_dim()->set_dim_param("N");
    shape->add_dim()->set_dim_value(s[0]);
    if (rank == 4) {
      shape->add_dim()->set_dim_value(s[1]);
      shape->add_dim()->set_dim_value(s[2]);
    }
  }

  std::string initializer(const std::string& name, const std::vector<std::int64_t>& dims, TensorView<T, 1> values) {
    std::vector<float> v(values.begin(), values.end());
    return initializer(name, dims, v);
  }
  std::string initializer(const std::string& name, const std::vector<std::int64_t>& dims, const std::vector<float>& v) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::FLOAT);
    for (auto d : dims) t->add_dims(d);
    std::string raw(v.size() * 4, '\0');
    for (std::size_t k = 0; k < v.size(); ++k) {
      const auto bits = std::bit_cast<std::uint32_t>(v[k]);
      for (int b = 0; b < 4; ++b)
        raw[k * 4 + static_cast<std::size_t>(b)] = static_cast<char>((bits >> (8 * b)) & 0xff);
    }
    t->set_raw_data(raw);
    return name;
  }
  std::string int_initializer(const std::string& name, const std::vector<std::int64_t>& v) {
    auto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(::onnx::TensorProto::INT64);
    t->add_dims(static_cast<std::int64_t>(v.size()));
    for (auto e : v) t->add_int64_data(e);
    return name;
  }

  ::onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& output,
                          const std::string& name) {
    auto* n = graph_->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (const auto& in : inputs) n->add_input(in);
    n->add_output(output);
    return n;
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, double v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(static_cast<float>(v));
  }
  static void attr(::onnx::NodeProto* n, const std::string& name, const std::vector<std::int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(::onnx::AttributeProto::INTS);
    for (auto e : v) a->add_ints(e);
  }

  // A [N, C, H, W] tensor as [N, F] (Flatten); a [N, F] one as it is.
  std::string features(const std::pair<std::string, int>& x) {
    if (x.second == 2) return x.first;
    node("Flatten", {x.first}, name_ + "/flatten", name_ + "/flatten");
    return name_ + "/flatten";
  }

  // Parameter or buffer `name` of a layer.
  static TensorView<T, 1> find(const std::vector<Parameter<T>>& ps, const std::string& name) {
    for (const auto& p : ps) {
      if (p.name == name) return p.value;
    }
    throw state_error("onnx::save: no parameter '" + name + "'");
  }
  static TensorView<T, 1> find(const std::vector<Buffer<T>>& bs, const std::string& name) {
    for (const auto& b : bs) {
      if (b.name == name) return b.value;
    }
    throw state_error("onnx::save: no buffer '" + name + "'");
  }

  std::pair<std::string, int> layer(Layer<T>& layer, const std::vector<std::pair<std::string, int>>& inputs,
                                    const SampleShape& out) {
    const LayerSpec spec = layer.spec();
    const std::string& type = spec.type;
    const std::string& x = inputs[0].first;
    const int rank = inputs[0].second;
    auto params = layer.params();
    auto one = [&](const std::string& op) {
      node(op, {x}, name_, name_);
      return std::pair{name_, rank};
    };
    if (type == "Conv2d") {
      const Index groups = spec.get_index_or("groups", 1);
      const Index in = spec.get_index("in"), cout = spec.get_index("out");
      std::vector<std::string> ins{
          x, initializer(name_ + ".weight", {cout, in / groups, spec.get_index("kh"), spec.get_index("kw")},
                         find(params, "weight"))};
      if (spec.get("bias") != 0) ins.push_back(initializer(name_ + ".bias", {cout}, find(params, "bias")));
      auto* n = node("Conv", ins, name_, name_);
      attr(n, "kernel_shape", std::vector<std::int64_t>{spec.get_index("kh"), spec.get_index("kw")});
      attr(n, "strides", std::vector<std::int64_t>{spec.get_index("sh"), spec.get_index("sw")});
      const Index ph = spec.get_index("ph"), pw = spec.get_index("pw");
      attr(n, "pads", std::vector<std::int64_t>{ph, pw, spec.get_index_or("pb", ph), spec.get_index_or("pr", pw)});
      attr(n, "dilations", std::vector<std::int64_t>{spec.get_index("dh"), spec.get_index("dw")});
      if (groups != 1) attr(n, "group", std::int64_t{groups});
      return {name_, 4};
    }
    if (type == "Linear") {
      const std::string f = features(inputs[0]);
      const Index in = spec.get_index("in"), cout = spec.get_index("out");
      std::vector<std::string> ins{f, initializer(name_ + ".weight", {cout, in}, find(params, "weight"))};
      if (spec.get("bias") != 0) ins.push_back(initializer(name_ + ".bias", {cout}, find(params, "bias")));
      attr(node("Gemm", ins, name_, name_), "transB", std::int64_t{1});
      return {name_, 2};
    }
    if (type == "Flatten") {
      if (rank == 2) return one("Identity");
      attr(node("Flatten", {x}, name_, name_), "axis", std::int64_t{1});
      return {name_, 2};
    }
    if (type == "ReLU") return one("Relu");
    if (type == "Sigmoid") return one("Sigmoid");
    if (type == "Tanh") return one("Tanh");
    if (type == "Softplus") return one("Softplus");
    if (type == "LeakyReLU") {
      attr(node("LeakyRelu", {x}, name_, name_), "alpha", spec.get("slope"));
      return {name_, rank};
    }
    if (type == "ELU") {
      attr(node("Elu", {x}, name_, name_), "alpha", spec.get("alpha"));
      return {name_, rank};
    }
    if (type == "ReLU6" || type == "Clip") {
      const double lo = type == "Clip" ? spec.get("min") : 0, hi = type == "Clip" ? spec.get("max") : 6;
      if (options_.opset < 11) {
        auto* n = node("Clip", {x}, name_, name_);
        attr(n, "min", lo);
        attr(n, "max", hi);
      } else {
        auto* min = graph_->add_initializer();
        min->set_name(name_ + ".min");
        min->set_data_type(::onnx::TensorProto::FLOAT);
        min->add_float_data(static_cast<float>(lo));
        auto* max = graph_->add_initializer();
        max->set_name(name_ + ".max");
        max->set_data_type(::onnx::TensorProto::FLOAT);
        max->add_float_data(static_cast<float>(hi));
        node("Clip", {x, name_ + ".min", name_ + ".max"}, name_, name_);
      }
      return {name_, rank};
    }
    if (type == "PReLU") {
      const auto slopes = find(params, "weight");
      std::vector<std::int64_t> dims{slopes.size()};
      if (rank == 4) dims = {slopes.size(), 1, 1};
      node("PRelu", {x, initializer(name_ + ".weight", dims, slopes)}, name_, name_);
      return {name_, rank};
    }
    if (type == "BatchNorm") {
      const Index c = spec.get_index("channels");
      auto buffers = layer.buffers();
      std::vector<float> ones(static_cast<std::size_t>(c), 1.0f), zeros(static_cast<std::size_t>(c), 0.0f);
      const bool affine = spec.get("affine") != 0;
      std::vector<std::string> ins{
          x,
          affine ? initializer(name_ + ".weight", {c}, find(params, "weight"))
                 : initializer(name_ + ".weight", {c}, ones),
          affine ? initializer(name_ + ".bias", {c}, find(params, "bias")) : initializer(name_ + ".bias", {c}, zeros),
          initializer(name_ + ".running_mean", {c}, find(buffers, "running_mean")),
          initializer(name_ + ".running_var", {c}, find(buffers, "running_var"))};
      auto* n = node("BatchNormalization", ins, name_, name_);
      attr(n, "epsilon", spec.get("epsilon"));
      attr(n, "momentum", 1 - spec.get("momentum"));
      return {name_, rank};
    }
    if (type == "LocalResponseNorm") {
      auto* n = node("LRN", {x}, name_, name_);
      attr(n, "size", std::int64_t{spec.get_index("size")});
      attr(n, "alpha", spec.get("alpha"));
      attr(n, "beta", spec.get("beta"));
      attr(n, "bias", spec.get("k"));
      return {name_, rank};
    }
    if (type == "Dropout") {
      if (options_.opset < 12) {
        attr(node("Dropout", {x}, name_, name_), "ratio", spec.get("p"));
      } else {
        node("Dropout", {x, initializer(name_ + ".ratio", {}, std::vector<float>{static_cast<float>(spec.get("p"))})},
             name_, name_);
      }
      return {name_, rank};
    }
    if (type == "Softmax" || type == "LogSoftmax") {
      const std::string f = features(inputs[0]);
      attr(node(type, {f}, name_, name_), "axis", std::int64_t{1});
      return {name_, 2};
    }
    if (type == "Add" || type == "Concat") {
      std::vector<std::string> ins;
      for (const auto& in : inputs) {
        if (in.second != rank) fail(layer, "joins tensors of ONNX ranks 2 and 4");
        ins.push_back(in.first);
      }
      if (type == "Concat") {
        attr(node("Concat", ins, name_, name_), "axis", std::int64_t{1});
      } else {
        node(ins.size() == 2 ? "Add" : "Sum", ins, name_, name_);
      }
      return {name_, rank};
    }
    if (type == "ChannelAffine") {
      auto buffers = layer.buffers();
      const Index c = out[0];
      std::vector<std::int64_t> dims{c};
      if (rank == 4) dims = {c, 1, 1};
      node("Mul", {x, initializer(name_ + ".scale", dims, find(buffers, "scale"))}, name_ + "/scaled",
           name_ + "/scale");
      node("Add", {name_ + "/scaled", initializer(name_ + ".shift", dims, find(buffers, "shift"))}, name_, name_);
      return {name_, rank};
    }
    if (type == "MaxPool2d" || type == "AvgPool2d" || type == "L2Pool2d") {
      if (rank != 4) fail(layer, "pools a [N, F] tensor");
      const bool l2 = type == "L2Pool2d";
      const bool ceil = spec.get_or("ceil", 0) != 0;
      if (l2 && ceil) fail(layer, "ONNX's LpPool has no ceil_mode");
      if (ceil && options_.opset < 10) fail(layer, "ceil_mode needs opset 10 or later");
      auto* n = node(type == "MaxPool2d" ? "MaxPool" : l2 ? "LpPool" : "AveragePool", {x}, name_, name_);
      attr(n, "kernel_shape", std::vector<std::int64_t>{spec.get_index("kh"), spec.get_index("kw")});
      attr(n, "strides", std::vector<std::int64_t>{spec.get_index("sh"), spec.get_index("sw")});
      const Index t = spec.get_index("ph"), l = spec.get_index("pw");
      attr(n, "pads", std::vector<std::int64_t>{t, l, spec.get_index_or("pb", t), spec.get_index_or("pr", l)});
      if (ceil) attr(n, "ceil_mode", std::int64_t{1});
      if (type == "AvgPool2d") attr(n, "count_include_pad", std::int64_t{spec.get_or("count_pad", 1) != 0 ? 1 : 0});
      if (l2) attr(n, "p", std::int64_t{2});
      return {name_, 4};
    }
    if (type == "GlobalMaxPool2d" || type == "GlobalAvgPool2d" || type == "GlobalL2Pool2d") {
      if (rank != 4) fail(layer, "pools a [N, F] tensor");
      auto* n = node(type == "GlobalMaxPool2d"   ? "GlobalMaxPool"
                     : type == "GlobalAvgPool2d" ? "GlobalAveragePool"
                                                 : "GlobalLpPool",
                     {x}, name_, name_);
      if (type == "GlobalL2Pool2d") attr(n, "p", std::int64_t{2});
      return {name_, 4};
    }
    fail(layer, "layer type '" + type + "' has no ONNX equivalent");
  }

  Graph<T>& net_;
  ExportOptions options_;
  ::onnx::ModelProto model_;
  ::onnx::GraphProto* graph_ = nullptr;
  std::map<Index, std::pair<std::string, int>> tensors_;  // node id -> ONNX name and rank
  std::string name_;                                      // the node being written
};

}  // namespace detail

/// `net` as an ONNX model: every layer as ONNX nodes, the weights and
/// buffers as initializers named "<node>.<parameter>", tensors named after the
/// nodes, a batch axis "N" of any size. Runs onnx::checker::check_model on the
/// result. Throws value_error for a layer ONNX cannot express (MinPool2d,
/// SumPool2d) or an opset outside 9 to 17.
template <class T>
::onnx::ModelProto to_model(Graph<T>& net, const ExportOptions& options = {}) {
  ::onnx::ModelProto model = detail::Exporter<T>(net, options).run();
  try {
    ::onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw state_error(std::string("onnx::save: the model written fails ONNX's checker: ") + e.what());
  }
  return model;
}

/// Writes to_model(net, options) to `path` (whole or not at all: a temporary
/// file renamed over it). Throws io_error when it cannot be written.
template <class T>
void save(Graph<T>& net, const std::filesystem::path& path, const ExportOptions& options = {}) {
  const std::string bytes = to_model(net, options).SerializeAsString();
  fovea::detail::write_file_atomically(path, std::vector<std::uint8_t>(bytes.begin(), bytes.end()), "onnx::save: ");
}

}  // namespace onnx
}  // namespace fovea
