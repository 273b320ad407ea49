#pragma once

/// @file
/// Graph<T>: a network of named nodes, each a layer reading the outputs of
/// nodes added before it (or the network's input). Residual connections
/// (Add), Inception and DenseNet joins (Concat) and several outputs are
/// expressed directly; Sequential is the one-path case on this same engine.
///
/// @code
/// Graph<float> net({3, 32, 32});
/// auto x = net.input();
/// auto c1 = net.add("conv1", Conv2d<float>({.in_channels = 3, .out_channels = 16, .kernel = 3, .padding = 1}), x);
/// auto r1 = net.add("relu1", ReLU<float>{}, c1);
/// auto c2 = net.add("conv2", Conv2d<float>({.in_channels = 16, .out_channels = 16, .kernel = 3, .padding = 1}), r1);
/// auto sum = net.add("sum", Add<float>{}, {c2, r1});  // a residual connection
/// @endcode
///
/// Shapes are inferred as nodes are added, so a node that cannot take its
/// inputs fails right there, naming the nodes and their shapes. Nodes are kept
/// in the order added, which is an order in which every node comes after its
/// inputs: forward runs them in that order and backward in reverse. A tensor
/// read by several nodes receives the sum of their gradients.
///
/// Buffers: one activation and one gradient tensor per node, sized for the
/// batch on first use and reused (resize keeps capacity), so after the first
/// step a training step allocates nothing. Before a pass the graph plans how
/// to run it without changing the user's nodes: a layer that only reshapes
/// (Flatten) passes a view of its input on, both ways; a Conv2d or Linear
/// whose one reader is a ReLU applies the ReLU itself (FusesReLU), on each
/// thread's part of the output while it is in that core's cache, with the
/// same bits as the two run apart.

#include <algorithm>
#include <concepts>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <iomanip>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fovea/core/aligned_buffer.hpp"
#include "fovea/core/error.hpp"
#include "fovea/core/print.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/layers/activation.hpp"
#include "fovea/layers/layer.hpp"
#include "fovea/ops/softmax.hpp"

namespace fovea {

/// A tensor of a graph: its input or one node's output, as Graph::add returns
/// it. Meaningful only for the graph that made it.
struct Node {
  Index id = -1;  ///< 0: the graph's input; i + 1: the i-th node added.
  /// The same tensor of the same graph.
  bool operator==(const Node&) const = default;
};

/// A network of named nodes of element type T (see this file's overview).
/// Owns its layers and its buffers. Movable, not copyable.
template <class T>
class Graph {
 public:
  /// An empty network for samples of `input_shape` [C, H, W]; its input node
  /// is named "input". Throws shape_error unless every extent is positive and
  /// C*H*W is at most 2^31.
  explicit Graph(const SampleShape& input_shape) : Graph(input_shape, "Graph") {}

  /// Takes over the nodes and buffers of another network.
  Graph(Graph&&) noexcept = default;
  /// Takes over the nodes and buffers of another network.
  Graph& operator=(Graph&&) noexcept = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;
  /// Destroys the nodes and buffers.
  virtual ~Graph() = default;

  /// The network's input tensor.
  Node input() const { return {0}; }

  /// Adds node `name` computing `layer` from `inputs` (one for most layers,
  /// several for Add and Concat) and returns its output. Throws value_error
  /// for an empty or taken name, index_error for an input that is not a tensor
  /// of this graph, and shape_error, naming this node, its inputs and their
  /// shapes, when the layer cannot take them or its output would be empty or
  /// hold more than 2^31 values per sample. The layer's parameters join
  /// params() as "<name>.<parameter>".
  Node add(const std::string& name, LayerPtr<T> layer, const std::vector<Node>& inputs) {
    if (name.empty()) throw value_error(kind_ + "::add: a node needs a name");
    if (find_id(name) >= 0) throw value_error(kind_ + "::add: a node named '" + name + "' exists already");
    if (inputs.empty()) throw value_error(kind_ + "::add: node '" + name + "' has no input");
    for (const Node& in : inputs) {
      if (in.id < 0 || in.id >= static_cast<Index>(nodes_.size())) {
        throw index_error(kind_ + "::add: node '" + name + "' reads tensor " + std::to_string(in.id) +
                          ", which is not in this " + kind_ + " (it has " + std::to_string(nodes_.size()) + ")");
      }
    }
    std::string prefix = "node '" + name + "' with input";
    if (inputs.size() > 1) prefix += "s";
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      prefix += (i == 0 ? " '" : ", '") + nodes_[static_cast<std::size_t>(inputs[i].id)].name + "' " +
                to_string(shape(inputs[i]));
    }
    return add_node(name, std::move(layer), inputs, prefix + ":");
  }
  /// Adds a node reading one tensor: net.add("relu1", ReLU<float>{}, conv1).
  Node add(const std::string& name, LayerPtr<T> layer, Node input) {
    return add(name, std::move(layer), std::vector<Node>{input});
  }
  /// Adds a node from a layer given by value: net.add("sum", Add<float>{}, {a, b}).
  template <class L>
  requires std::derived_from<std::remove_cvref_t<L>, Layer<T>> Node add(const std::string& name, L&& layer,
                                                                        const std::vector<Node>& inputs) {
    return add(name, std::make_unique<std::remove_cvref_t<L>>(std::forward<L>(layer)), inputs);
  }
  /// Adds a node from a layer given by value, reading one tensor.
  template <class L>
  requires std::derived_from<std::remove_cvref_t<L>, Layer<T>> Node add(const std::string& name, L&& layer,
                                                                        Node input) {
    return add(name, std::make_unique<std::remove_cvref_t<L>>(std::forward<L>(layer)), std::vector<Node>{input});
  }

  /// Makes `outputs` the network's outputs, in this order (forward returns the
  /// first; output(i) gives each). Until this is called the output is the node
  /// added last. Throws value_error for none or for the input itself, and
  /// index_error for a tensor not of this graph.
  void set_outputs(const std::vector<Node>& outputs) {
    if (outputs.empty()) throw value_error(kind_ + "::set_outputs: needs at least one output");
    for (const Node& out : outputs) {
      if (out.id < 1 || out.id >= static_cast<Index>(nodes_.size())) {
        throw index_error(kind_ + "::set_outputs: tensor " + std::to_string(out.id) +
                          (out.id == 0 ? " is the input" : " is not a node of this " + kind_));
      }
    }
    output_ids_.clear();
    for (const Node& out : outputs) output_ids_.push_back(out.id);
    planned_ = false;
  }
  /// The network's outputs, in order.
  std::vector<Node> outputs() const {
    std::vector<Node> list;
    for (Index id : output_list()) list.push_back({id});
    return list;
  }

  /// The tensor of node `name` ("input" for the input); throws index_error
  /// when there is none, listing how many nodes there are.
  Node node(const std::string& name) const {
    const Index id = find_id(name);
    if (id < 0) {
      throw index_error(kind_ + ": no node named '" + name + "' (" + std::to_string(nodes_.size() - 1) + " nodes)");
    }
    return {id};
  }
  /// The name of a tensor's node.
  const std::string& name(Node tensor) const { return info(tensor).name; }
  /// The per-sample shape [C, H, W] of a tensor.
  const SampleShape& shape(Node tensor) const { return info(tensor).shape; }
  /// The tensors a node reads (none for the input).
  std::vector<Node> inputs(Node tensor) const {
    std::vector<Node> list;
    for (Index id : info(tensor).inputs) list.push_back({id});
    return list;
  }

  /// Number of nodes, the input not counted.
  std::size_t size() const { return nodes_.size() - 1; }
  /// The layer of the i-th node added; throws std::out_of_range when i >= size().
  Layer<T>& layer(std::size_t i) { return *nodes_.at(i + 1).layer; }
  /// The layer of the i-th node added, read-only; throws std::out_of_range when i >= size().
  const Layer<T>& layer(std::size_t i) const { return *nodes_.at(i + 1).layer; }
  /// The layer computing a node; throws index_error for the input.
  Layer<T>& layer(Node tensor) {
    if (tensor.id == 0) throw index_error(kind_ + ": the input has no layer");
    return *info(tensor).layer;
  }
  /// The per-sample input shape [C, H, W] given to the constructor.
  const SampleShape& input_shape() const { return nodes_.front().shape; }
  /// The per-sample shape of the first output (the input's while there is no node).
  const SampleShape& output_shape() const { return nodes_[static_cast<std::size_t>(output_list().front())].shape; }
  /// Output shape of the i-th node added; throws std::out_of_range when i >= size().
  const SampleShape& shape_after(std::size_t i) const { return nodes_.at(i + 1).shape; }

  /// Every trainable tensor, named "<node>.<parameter>" ("conv1.weight"). The
  /// views write into the layers, so an optimiser can update them through a const network.
  const std::vector<Parameter<T>>& params() const { return params_; }
  /// Total number of trainable values, over every parameter.
  Index parameter_count() const {
    Index n = 0;
    for (const auto& p : params_) n += p.value.size();
    return n;
  }
  /// Sets every parameter gradient to zero (backward accumulates into them).
  void zero_grad() { zero_gradients(params_); }

  /// Training mode turns on Dropout and makes forward keep what backward needs.
  /// A new network is in training mode.
  void set_training(bool training) { training_ = training; }
  /// True in training mode.
  bool training() const { return training_; }

  /// Whether a Conv2d or Linear applies the ReLU that reads it (on by
  /// default; the same bits either way). Off, every node's own output is kept,
  /// so activation() can show a convolution's output before its ReLU.
  void set_fusion(bool fuse) {
    fusion_ = fuse;
    planned_ = false;
  }
  /// Whether backward also computes the gradient with respect to the input
  /// (off by default: training does not need it); see input_gradient().
  void set_input_gradient(bool compute) { input_gradient_ = compute; }
  /// Calls `hook(i)` during backward as soon as the i-th node added (layer(i))
  /// has accumulated its parameter gradients, on the thread running backward,
  /// so a distributed trainer can send them while the earlier layers' backward
  /// goes on (fovea/mpi.hpp). Nodes that only reshape, and nodes no output
  /// depends on, are not reported. Empty (the default): no calls.
  void set_backward_hook(std::function<void(std::size_t)> hook) { backward_hook_ = std::move(hook); }

  /// x: [N, ...input_shape] -> the first output [N, ...output_shape]; every
  /// node runs once, in the order added. The result is a view of a buffer the
  /// network owns, valid until the next forward. x must stay alive until
  /// backward (the nodes reading the input read it then). Throws state_error
  /// for a network with no nodes and shape_error for an input of another
  /// sample shape or N = 0.
  TensorView<const T, 4> forward(TensorView<const T, 4> x) {
    run(x, false);
    return outputs_[static_cast<std::size_t>(output_list().front())];
  }

  /// Inference on x: [N, ...input_shape] -> the first output, in inference
  /// mode (Dropout off), whatever mode the network is in. A node's memory goes
  /// back to a pool as soon as its last reader has run and the next node takes
  /// it, so a deep network needs a few activations' worth instead of one per
  /// node (inference_bytes()). The result is valid until the next pass; the
  /// inner nodes' activations are not kept (activation() needs forward).
  /// Errors are forward's.
  TensorView<const T, 4> infer(TensorView<const T, 4> x) {
    const bool was_training = training_;
    training_ = false;
    try {
      run(x, true);
    } catch (...) {
      training_ = was_training;
      throw;
    }
    training_ = was_training;
    return outputs_[static_cast<std::size_t>(output_list().front())];
  }

  /// Bytes of activation memory infer() holds: its pooled buffers, which
  /// grow to the largest shapes seen.
  Index inference_bytes() const {
    Index bytes = 0;
    for (const auto& buffer : pool_) bytes += buffer.capacity() * static_cast<Index>(sizeof(T));
    return bytes;
  }

  /// Output i of the last forward or infer (in set_outputs order); throws state_error
  /// before any forward and std::out_of_range for a bad i.
  TensorView<const T, 4> output(std::size_t i) const {
    if (!passed_) throw state_error(kind_ + "::output: called before forward");
    return outputs_[static_cast<std::size_t>(output_list().at(i))];
  }

  /// The last forward's output of any node, by name ("input" too): the
  /// feature maps of the inner layers. Throws state_error before any forward,
  /// index_error for an unknown name, and state_error for a Conv2d or Linear
  /// whose ReLU it applied itself (read the ReLU's node, or set_fusion(false)).
  TensorView<const T, 4> activation(const std::string& name) const { return activation(node(name)); }
  /// The last forward's output of a node: as activation(name).
  TensorView<const T, 4> activation(Node tensor) const {
    if (!kept_all_) {
      throw state_error(
          kind_ + "::activation: called before forward" +
          std::string(forwarded_ || outputs_[0].empty() ? "" : " (infer and predict keep no inner activations)"));
    }
    info(tensor);  // throws for a tensor not of this graph
    const auto k = static_cast<std::size_t>(tensor.id);
    if (fused_relu_[k] >= 0) {
      throw state_error(kind_ + "::activation: node '" + nodes_[k].name + "' applied the ReLU of node '" +
                        nodes_[static_cast<std::size_t>(fused_relu_[k])].name +
                        "' itself and kept only that output; read that node, or call set_fusion(false) first");
    }
    return outputs_[k];
  }

  /// Class probabilities [N, K] in inference mode: the softmax of the first
  /// output, unless its layer already gives probabilities (Softmax).
  /// Allocates the result. K is the output's C*H*W; the training mode is
  /// restored afterwards, and errors are forward's.
  Tensor<T, 2> predict(TensorView<const T, 4> x) {
    const TensorView<const T, 4> out = infer(x);
    const Index classes = shape_size(output_shape());
    auto scores = out.reshape(Shape<2>{x.dim(0), classes});
    Tensor<T, 2> probabilities(scores.shape());
    if (nodes_[static_cast<std::size_t>(output_list().front())].layer->outputs_probabilities()) {
      probabilities.copy_from(scores);
    } else {
      softmax_forward<T>(scores, probabilities);
    }
    return probabilities;
  }

  /// From the gradient of the loss with respect to the (first and only)
  /// output of the last forward: accumulates every parameter gradient (call
  /// zero_grad() between steps). Throws state_error before any forward and
  /// shape_error when doutput's shape is not the output's.
  void backward(TensorView<const T, 4> doutput) { backward(std::span(&doutput, 1)); }

  /// As backward(doutput), and also writes the gradient with respect to the
  /// last forward's input into `dinput` (its shape; empty: not wanted), for
  /// gradient checks and saliency maps. Throws as backward(doutput), and
  /// shape_error when dinput is neither empty nor of the input's shape.
  void backward(TensorView<const T, 4> doutput, TensorView<T, 4> dinput) {
    if (!dinput.empty() && forwarded_ && dinput.shape() != outputs_[0].shape()) {
      throw shape_error(kind_ + "::backward: input gradient " + to_string(dinput.shape()) +
                        " does not match the input " + to_string(outputs_[0].shape()));
    }
    const bool keep = input_gradient_;
    input_gradient_ = input_gradient_ || !dinput.empty();
    try {
      backward(std::span(&doutput, 1));
    } catch (...) {
      input_gradient_ = keep;
      throw;
    }
    input_gradient_ = keep;
    if (!dinput.empty()) dinput.copy_from(gradients_[0]);
  }

  /// As backward(doutput), with one gradient per output in set_outputs order;
  /// an empty one means the loss does not depend on that output. Throws
  /// shape_error for a count or a shape that does not match the outputs.
  void backward(std::span<const TensorView<const T, 4>> doutputs) {
    if (!forwarded_) throw state_error(kind_ + "::backward: called before forward");
    const std::vector<Index>& outs = output_list();
    if (doutputs.size() != outs.size()) {
      throw shape_error(kind_ + "::backward: " + std::to_string(doutputs.size()) + " output gradient(s) for " +
                        std::to_string(outs.size()) + " output(s)");
    }
    for (std::size_t j = 0; j < outs.size(); ++j) {
      const Shape<4> expected = outputs_[static_cast<std::size_t>(outs[j])].shape();
      if (!doutputs[j].empty() && doutputs[j].shape() != expected) {
        throw shape_error(kind_ + "::backward: gradient " + to_string(doutputs[j].shape()) +
                          " does not match the output " + to_string(expected));
      }
    }
    std::fill(gradient_written_.begin(), gradient_written_.end(), char{0});
    for (std::size_t j = 0; j < outs.size(); ++j) {
      if (doutputs[j].empty()) continue;
      const auto k = static_cast<std::size_t>(outs[j]);
      const auto t = static_cast<std::size_t>(view_of_[k]);
      gradients_[t].resize(batch_shape(doutputs[j].dim(0), nodes_[t].shape));
      TensorView<T, 4> g = TensorView<T, 4>(gradients_[t]).reshape(doutputs[j].shape());
      if (gradient_written_[t] == 0) {
        g.copy_from(doutputs[j]);
      } else {
        for (Index i = 0; i < g.size(); ++i) g.data()[i] += doutputs[j].data()[i];
      }
      gradient_written_[t] = 1;
    }
    const Index batch = outputs_[0].dim(0);
    for (std::size_t k = nodes_.size(); k-- > 1;) {
      if (nodes_[k].layer->only_reshapes() || fused_relu_[k] >= 0) continue;  // passed as a view / done by its ReLU
      if (gradient_written_[k] == 0) continue;                                // no output depends on it
      // A ReLU that its input's layer applied: that layer runs the backward of both.
      const std::size_t c = applied_by_[k] >= 0 ? static_cast<std::size_t>(applied_by_[k]) : k;
      const NodeInfo& node = nodes_[c];
      auto& dx = dx_views_;
      dx.assign(node.inputs.size(), TensorView<T, 4>());
      std::vector<Tensor<T, 4>>& scratch = scratch_[c];
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        const auto p = static_cast<std::size_t>(node.inputs[i]);
        const auto t = static_cast<std::size_t>(view_of_[p]);
        if (t == 0 && !input_gradient_) continue;  // nobody needs the gradient of the input data
        const Shape<4> want = batch_shape(batch, nodes_[p].shape);
        if (gradient_written_[t] == 0) {
          gradients_[t].resize(batch_shape(batch, nodes_[t].shape));
          dx[i] = TensorView<T, 4>(gradients_[t]).reshape(want);
          gradient_written_[t] = 2;  // written by this call
        } else {
          if (scratch.size() < node.inputs.size()) scratch.resize(node.inputs.size());
          scratch[i].resize(want);
          dx[i] = scratch[i];
        }
      }
      const TensorView<const T, 4> y = outputs_[k];
      const TensorView<const T, 4> dy = gradients_[k];
      if (c != k) {
        fusing_[c]->backward_relu(outputs_[static_cast<std::size_t>(node.inputs[0])], y, dy, dx[0]);
      } else if (node.layer->merges_inputs()) {
        node.layer->backward_merged(gather_inputs(c), y, dy, dx);
      } else {
        node.layer->backward(outputs_[static_cast<std::size_t>(node.inputs[0])], y, dy, dx[0]);
      }
      // Gradients of tensors that other readers had already written: add ours.
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        const auto t = static_cast<std::size_t>(view_of_[static_cast<std::size_t>(node.inputs[i])]);
        if (dx[i].empty()) continue;
        if (gradient_written_[t] == 2 && dx[i].data() == gradients_[t].data()) continue;
        T* sum = gradients_[t].data();
        const T* part = dx[i].data();
        for (Index e = 0; e < dx[i].size(); ++e) sum[e] += part[e];
      }
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        auto& flag = gradient_written_[static_cast<std::size_t>(view_of_[static_cast<std::size_t>(node.inputs[i])])];
        if (flag == 2) flag = 1;
      }
      if (backward_hook_) {
        backward_hook_(c - 1);
        if (c != k) backward_hook_(k - 1);  // the ReLU that node c applied
      }
    }
    if (input_gradient_ && gradient_written_[0] == 0) {  // no output depends on the input
      gradients_[0].resize(outputs_[0].shape());
      TensorView<T, 4>(gradients_[0]).fill(T{0});
    }
  }

  /// The gradient of the loss with respect to the last backward's input
  /// [N, ...input_shape]; throws state_error unless set_input_gradient(true)
  /// was called before that backward.
  TensorView<const T, 4> input_gradient() const {
    if (!input_gradient_ || gradients_[0].empty()) {
      throw state_error(kind_ + "::input_gradient: call set_input_gradient(true) before backward");
    }
    return gradients_[0];
  }

  /// Keras-style table: node, output shape, parameters, multiply-adds and
  /// activation memory per image (and, when the network is not a chain, each
  /// node's inputs); then totals: parameters and their memory, multiply-adds
  /// and FLOPs per image, the activation memory of one image, and that of
  /// training at `batch_size` (the input and every output the network
  /// stores, each with its gradient: a Flatten's is a view of its input, and a
  /// layer that applies the ReLU after it keeps only the ReLU's).
  std::string summary(Index batch_size = 1) const {
    std::ostringstream out;
    const bool chain = is_chain();
    std::size_t name_width = 40;
    for (std::size_t k = 1; k < nodes_.size(); ++k) {
      name_width = std::max(name_width, nodes_[k].name.size() + nodes_[k].layer->describe().size() + 3);
    }
    auto shape_text = [](const SampleShape& s) {
      // A feature vector [F, 1, 1] reads better as [F].
      if (s[1] == 1 && s[2] == 1) return "[" + std::to_string(s[0]) + "]";
      return to_string(s);
    };
    auto row = [&](const std::string& name, const std::string& shape, const std::string& params,
                   const std::string& macs, const std::string& memory, const std::string& from) {
      out << std::left << std::setw(static_cast<int>(name_width)) << name << std::setw(16) << shape << std::right
          << std::setw(12) << params << std::setw(16) << macs << std::setw(12) << memory;
      if (!chain) out << "  " << from;
      out << '\n';
    };
    const std::size_t width = name_width + 56 + (chain ? 0 : 12);
    row("Layer", "Output shape", "Params", "MACs", "Memory", "Inputs");
    out << std::string(width, '-') << '\n';
    row(nodes_[0].name, shape_text(input_shape()), "0", "0",
        format_bytes(shape_size(input_shape()) * static_cast<Index>(sizeof(T))), "");
    plan();
    double total_flops = 0;
    Index activation_values = shape_size(input_shape());
    Index image_values = shape_size(input_shape());
    for (std::size_t k = 1; k < nodes_.size(); ++k) {
      const NodeInfo& node = nodes_[k];
      const double flops = node_flops(k);
      total_flops += flops;
      const bool view = node.layer->only_reshapes();
      if (!view) image_values += shape_size(node.shape);
      if (!view && fused_relu_[k] < 0) activation_values += shape_size(node.shape);
      std::string from;
      for (Index in : node.inputs) from += (from.empty() ? "" : ", ") + nodes_[static_cast<std::size_t>(in)].name;
      row(node.name + " " + node.layer->describe(), shape_text(node.shape), group_thousands(node_parameter_count(k)),
          group_thousands(static_cast<Index>(flops / 2)),
          view ? std::string("view") : format_bytes(shape_size(node.shape) * static_cast<Index>(sizeof(T))), from);
    }
    out << std::string(width, '=') << '\n';
    out << "Total parameters: " << group_thousands(parameter_count()) << " ("
        << format_bytes(parameter_count() * sizeof(T)) << ")\n";
    out << "Multiply-adds per image: " << group_thousands(static_cast<Index>(total_flops / 2)) << '\n';
    out << "Forward FLOPs per image: " << group_thousands(static_cast<Index>(total_flops)) << '\n';
    out << "Activation memory per image: " << format_bytes(image_values * static_cast<Index>(sizeof(T)))
        << " (every node's output)\n";
    // Training keeps each activation and its gradient: two values per element.
    out << "Activation memory, batch " << batch_size << ": "
        << format_bytes(2 * activation_values * batch_size * static_cast<Index>(sizeof(T)))
        << " (forward + backward)\n";
    return out.str();
  }

 protected:
  /// For Sequential: a network whose messages name it `kind`.
  Graph(const SampleShape& input_shape, std::string kind) : kind_(std::move(kind)) {
    double values = 1;
    for (Index d : input_shape) {
      if (d <= 0) throw shape_error(kind_ + ": input shape " + to_string(input_shape) + " must be positive");
      values *= static_cast<double>(d);
    }
    if (values > 2147483648.0) {
      throw shape_error(kind_ + ": input shape " + to_string(input_shape) + " exceeds 2^31 values per sample");
    }
    nodes_.push_back({"input", nullptr, {}, input_shape});
    grow_buffers();
  }

  /// Adds a node after the checks of add(); shape errors read
  /// "<error_prefix> <the layer's message>".
  Node add_node(const std::string& name, LayerPtr<T> layer, const std::vector<Node>& inputs,
                const std::string& error_prefix) {
    SampleShape out;
    try {
      if (layer->merges_inputs()) {
        std::vector<SampleShape> shapes;
        for (const Node& in : inputs) shapes.push_back(shape(in));
        out = layer->merged_output_shape(shapes);
      } else if (inputs.size() != 1) {
        throw shape_error(layer->describe() + ": takes one input, got " + std::to_string(inputs.size()));
      } else {
        out = layer->output_shape(shape(inputs[0]));
      }
    } catch (const shape_error& e) {
      throw shape_error(error_prefix + " " + e.what());
    }
    // Keeps every later size product (buffers, summaries) far from overflow.
    const double values = static_cast<double>(out[0]) * static_cast<double>(out[1]) * static_cast<double>(out[2]);
    if (out[0] < 1 || out[1] < 1 || out[2] < 1 || values > 2147483648.0) {
      throw shape_error(error_prefix + " " + layer->describe() + ": output " + to_string(out) +
                        " is empty or larger than 2^31 values per sample");
    }
    for (auto& p : layer->params()) {
      p.name = name + "." + p.name;
      params_.push_back(std::move(p));
    }
    NodeInfo node{name, std::move(layer), {}, out};
    for (const Node& in : inputs) node.inputs.push_back(in.id);
    nodes_.push_back(std::move(node));
    grow_buffers();
    planned_ = false;
    return {static_cast<Index>(nodes_.size()) - 1};
  }

  /// The name of this kind of network in messages ("Graph", "Sequential").
  const std::string& kind() const { return kind_; }

 private:
  struct NodeInfo {
    std::string name;
    LayerPtr<T> layer;          // null for the input
    std::vector<Index> inputs;  // the tensors it reads, in order
    SampleShape shape;          // per-sample output shape
  };

  const NodeInfo& info(Node tensor) const {
    if (tensor.id < 0 || tensor.id >= static_cast<Index>(nodes_.size())) {
      throw index_error(kind_ + ": tensor " + std::to_string(tensor.id) + " is not in this " + kind_);
    }
    return nodes_[static_cast<std::size_t>(tensor.id)];
  }
  Index find_id(const std::string& name) const {
    for (std::size_t k = 0; k < nodes_.size(); ++k) {
      if (nodes_[k].name == name) return static_cast<Index>(k);
    }
    return -1;
  }
  const std::vector<Index>& output_list() const {
    if (output_ids_.empty()) {
      last_node_[0] = static_cast<Index>(nodes_.size()) - 1;
      return last_node_;
    }
    return output_ids_;
  }
  bool is_chain() const {
    for (std::size_t k = 1; k < nodes_.size(); ++k) {
      if (nodes_[k].inputs.size() != 1 || nodes_[k].inputs[0] != static_cast<Index>(k) - 1) return false;
    }
    return true;
  }

  void grow_buffers() {
    const std::size_t n = nodes_.size();
    activations_.resize(n);
    outputs_.resize(n);
    gradients_.resize(n);
    gradient_written_.resize(n);
    scratch_.resize(n);
  }

  // Decides how the next pass runs (see the file's overview): which buffer
  // each node's output lives in and which layers apply the ReLU reading them.
  void plan() const {
    if (planned_) return;
    const std::size_t n = nodes_.size();
    view_of_.assign(n, 0);
    fused_relu_.assign(n, -1);
    applied_by_.assign(n, -1);
    fusing_.assign(n, nullptr);
    std::vector<int> readers(n, 0);
    for (const NodeInfo& node : nodes_) {
      for (Index in : node.inputs) ++readers[static_cast<std::size_t>(in)];
    }
    for (Index out : output_list()) ++readers[static_cast<std::size_t>(out)];  // an output is read by the caller
    last_reader_.assign(n, 0);
    for (std::size_t k = 1; k < n; ++k) {
      const NodeInfo& node = nodes_[k];
      view_of_[k] =
          node.layer->only_reshapes() ? view_of_[static_cast<std::size_t>(node.inputs[0])] : static_cast<Index>(k);
      if (!fusion_ || node.inputs.size() != 1 || dynamic_cast<const ReLU<T>*>(node.layer.get()) == nullptr) continue;
      const auto p = static_cast<std::size_t>(node.inputs[0]);
      auto* fusing = p == 0 ? nullptr : dynamic_cast<FusesReLU<T>*>(nodes_[p].layer.get());
      if (fusing != nullptr && readers[p] == 1 && fused_relu_[p] < 0) {
        fused_relu_[p] = static_cast<Index>(k);
        applied_by_[k] = static_cast<Index>(p);
        fusing_[p] = fusing;
      }
    }
    // The last node reading each buffer (through views too); outputs are never released.
    for (std::size_t k = 1; k < n; ++k) {
      for (Index in : nodes_[k].inputs) {
        Index& last = last_reader_[static_cast<std::size_t>(view_of_[static_cast<std::size_t>(in)])];
        last = std::max(last, static_cast<Index>(k));
      }
    }
    for (Index out : output_list()) {
      last_reader_[static_cast<std::size_t>(view_of_[static_cast<std::size_t>(out)])] = static_cast<Index>(n);
    }
    plan_pool();
    planned_ = true;
  }

  // Every node once, in the order added. With `pooled` (infer), outputs live
  // in pool_ buffers handed back after each tensor's last reader; otherwise
  // each node keeps its own (forward: backward and activation() read them).
  void run(TensorView<const T, 4> x, bool pooled) {
    if (nodes_.size() < 2) throw state_error(kind_ + "::forward: the network has no layers");
    if (sample_shape(x.shape()) != input_shape() || x.dim(0) <= 0) {
      throw shape_error(kind_ + "::forward: input " + to_string(x.shape()) + ", expected [N, " +
                        std::to_string(input_shape()[0]) + ", " + std::to_string(input_shape()[1]) + ", " +
                        std::to_string(input_shape()[2]) + "] with N > 0");
    }
    plan();
    forwarded_ = false;
    kept_all_ = false;
    if (pooled) {
      pool_.resize(pool_values_.size());
      for (std::size_t b = 0; b < pool_.size(); ++b) pool_[b].reserve(pool_values_[b] * x.dim(0));
    }
    const Index batch = x.dim(0);
    outputs_[0] = x;
    for (std::size_t k = 1; k < nodes_.size(); ++k) {
      if (applied_by_[k] >= 0) continue;  // computed with the layer that applies it
      const NodeInfo& node = nodes_[k];
      if (node.layer->only_reshapes()) {
        outputs_[k] = outputs_[static_cast<std::size_t>(node.inputs[0])].reshape(batch_shape(batch, node.shape));
        continue;
      }
      const Index relu = fused_relu_[k];
      const std::size_t target = relu >= 0 ? static_cast<std::size_t>(relu) : k;
      const Shape<4> shape = batch_shape(batch, nodes_[target].shape);
      TensorView<T, 4> y;
      if (pooled) {
        y = TensorView<T, 4>(pool_[buffer_of_[target]].data(), shape);
      } else {
        activations_[target].resize(shape);
        y = activations_[target];
      }
      if (relu >= 0) {
        fusing_[k]->forward_relu(outputs_[static_cast<std::size_t>(node.inputs[0])], y);
        outputs_[k] = TensorView<const T, 4>();  // never written: backward needs only the ReLU's output
      } else if (node.layer->merges_inputs()) {
        node.layer->forward_merged(gather_inputs(k), y, training_);
      } else {
        node.layer->forward(outputs_[static_cast<std::size_t>(node.inputs[0])], y, training_);
      }
      outputs_[target] = y;
    }
    forwarded_ = !pooled;
    kept_all_ = !pooled;
    passed_ = true;
  }

  // Which pool buffer each computed output of infer() lives in, decided
  // once per plan so every call reuses the same buffers: nodes in order, each
  // taking the free buffer that fits best (the smallest large enough, else
  // the largest, which grows), and freeing a buffer when its last reader has
  // run. pool_values_[b] is buffer b's size per sample.
  void plan_pool() const {
    const std::size_t n = nodes_.size();
    buffer_of_.assign(n, 0);
    pool_values_.clear();
    std::vector<char> free;
    for (std::size_t k = 1; k < n; ++k) {
      if (applied_by_[k] >= 0 || nodes_[k].layer->only_reshapes()) continue;
      const std::size_t target = fused_relu_[k] >= 0 ? static_cast<std::size_t>(fused_relu_[k]) : k;
      const Index need = shape_size(nodes_[target].shape);
      std::size_t best = pool_values_.size();
      for (std::size_t b = 0; b < pool_values_.size(); ++b) {
        if (free[b] == 0) continue;
        if (best == pool_values_.size()) {
          best = b;
          continue;
        }
        const Index have = pool_values_[b], chosen = pool_values_[best];
        const bool fits = have >= need, chosen_fits = chosen >= need;
        if ((fits && (!chosen_fits || have < chosen)) || (!fits && !chosen_fits && have > chosen)) best = b;
      }
      if (best == pool_values_.size()) {
        pool_values_.push_back(0);
        free.push_back(1);
      }
      pool_values_[best] = std::max(pool_values_[best], need);
      free[best] = 0;
      buffer_of_[target] = best;
      // Buffers whose last reader is this node are free for the next one.
      for (Index in : nodes_[k].inputs) {
        const auto owner = static_cast<std::size_t>(view_of_[static_cast<std::size_t>(in)]);
        if (owner != 0 && last_reader_[owner] == static_cast<Index>(k)) free[buffer_of_[owner]] = 1;
      }
    }
  }

  std::span<const TensorView<const T, 4>> gather_inputs(std::size_t k) {
    x_views_.clear();
    for (Index in : nodes_[k].inputs) x_views_.push_back(outputs_[static_cast<std::size_t>(in)]);
    return x_views_;
  }

  double node_flops(std::size_t k) const {
    const NodeInfo& node = nodes_[k];
    if (!node.layer->merges_inputs()) {
      return node.layer->flops_per_sample(nodes_[static_cast<std::size_t>(node.inputs[0])].shape);
    }
    return node.layer->flops_per_sample(node.shape);
  }
  Index node_parameter_count(std::size_t k) const {
    const std::string prefix = nodes_[k].name + ".";
    Index n = 0;
    for (const auto& p : params_) {
      if (p.name.compare(0, prefix.size(), prefix) == 0) n += p.value.size();
    }
    return n;
  }
  static std::string format_bytes(Index bytes) {
    char text[32];
    if (bytes < (1 << 10)) return std::to_string(bytes) + " B";
    if (bytes >= (1 << 20)) {
      std::snprintf(text, sizeof text, "%.2f MB", static_cast<double>(bytes) / (1 << 20));
    } else {
      std::snprintf(text, sizeof text, "%.1f KB", static_cast<double>(bytes) / (1 << 10));
    }
    return text;
  }

  std::string kind_;
  std::vector<NodeInfo> nodes_;    // [0] is the input; every node after its inputs
  std::vector<Index> output_ids_;  // empty: the last node
  mutable std::vector<Index> last_node_{0};
  std::vector<Parameter<T>> params_;

  // The plan (rebuilt when nodes or outputs change).
  mutable bool planned_ = false;
  bool fusion_ = true;
  mutable std::vector<Index> view_of_;      // [k]: the node whose buffer holds k's output (k, unless k only reshapes)
  mutable std::vector<Index> fused_relu_;   // [k]: the ReLU node that k's layer applies itself, or -1
  mutable std::vector<Index> applied_by_;   // [j]: the node whose layer applies ReLU j, or -1
  mutable std::vector<Index> last_reader_;  // [k]: the last node reading buffer k (n: an output)
  mutable std::vector<std::size_t> buffer_of_;  // [k]: node k's pool buffer in the last infer
  mutable std::vector<FusesReLU<T>*> fusing_;   // [k]: k's layer as FusesReLU when it applies a ReLU

  // Buffers, sized on first use for a batch and reused.
  std::vector<Tensor<T, 4>> activations_;           // [k]: node k's output, when it computes one
  std::vector<TensorView<const T, 4>> outputs_;     // [k]: node k's output as its readers see it
  std::vector<Tensor<T, 4>> gradients_;             // [k]: loss gradient with respect to node k's output
  std::vector<char> gradient_written_;              // [k]: gradients_[k] holds a value in this backward
  std::vector<std::vector<Tensor<T, 4>>> scratch_;  // [k][i]: node k's input gradient i, when added
  std::vector<TensorView<const T, 4>> x_views_;     // the inputs of a merging node
  std::vector<TensorView<T, 4>> dx_views_;          // the input gradients of one node
  std::vector<detail::AlignedBuffer<T>> pool_;      // infer's activation buffers, reused along the graph
  mutable std::vector<Index> pool_values_;          // [b]: pool_[b]'s size per sample, from the plan
  bool training_ = true;
  bool passed_ = false;     // a pass has run: the outputs are there
  bool forwarded_ = false;  // the last pass was forward: backward may follow
  bool kept_all_ = false;   // the last pass kept every node's output
  bool input_gradient_ = false;
  std::function<void(std::size_t)> backward_hook_;  // set_backward_hook's
};

}  // namespace fovea
