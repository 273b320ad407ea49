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
/// The model and its execution are apart. The graph holds the model: nodes,
/// layers (weights, running statistics) and a plan of how to run them. What a
/// pass writes lives in an ExecutionContext: each layer's context (what its
/// backward needs, its scratch), one activation and one gradient tensor per
/// node, sized for the batch on first use and reused (resize keeps
/// capacity), so after the first step a training step allocates nothing.
/// forward(x), backward and infer(x) use a context the graph keeps;
/// infer(x, context), predict(x) and forward/backward with a context are
/// const, so any number of threads may run one network at once, each with its
/// own context (predict keeps a few for them). Training lanes
/// (train/data_parallel.hpp) are contexts over the one set of weights.
///
/// The plan, made as nodes are added, changes none of the user's nodes: a
/// layer that only reshapes (Flatten) passes a view of its input on, both
/// ways; a layer whose one reader is a clamping activation it supports (a
/// ReLU after a Linear; a ReLU, ReLU6 or Clip after a Conv2d, BatchNorm or Add) is
/// asked to apply it as its epilogue (supports_epilogue), on each thread's
/// part of the output while it is in that core's cache, with the same bits
/// as the two run apart.

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <iomanip>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fovea/core/aligned_buffer.hpp"
#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
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

template <class T>
class Graph;

/// What one pass of a Graph writes (see nn/graph.hpp's overview): each
/// layer's context, every node's activation and gradient, scratch. Made
/// empty, it is fitted to a graph on its first pass and refitted when the
/// graph's structure changes. One context serves one thread at a time.
template <class T>
class ExecutionContext {
 public:
  /// Where backward puts the parameter gradients.
  enum class Gradients {
    network,  ///< accumulated into the network's own (Graph::params()[j].grad)
    own       ///< accumulated into this context's (gradient(j)): a training lane's
  };
  /// An empty context whose backward accumulates into `gradients`.
  explicit ExecutionContext(Gradients gradients = Gradients::network) : where_(gradients) {}
  ExecutionContext(const ExecutionContext&) = delete;
  ExecutionContext& operator=(const ExecutionContext&) = delete;
  /// Takes over the buffers.
  ExecutionContext(ExecutionContext&&) noexcept = default;
  /// Takes over the buffers.
  ExecutionContext& operator=(ExecutionContext&&) noexcept = default;
  ~ExecutionContext() = default;

  /// For Gradients::own: the gradient of the graph's parameter j (params()
  /// order), after at least one pass; throws state_error otherwise.
  TensorView<T, 1> gradient(std::size_t j) {
    if (where_ != Gradients::own || j >= own_gradients_.size()) {
      throw state_error("ExecutionContext::gradient: no gradient " + std::to_string(j) +
                        " (own gradients exist after a pass of a context made with Gradients::own)");
    }
    return own_gradients_[j];
  }
  /// Sets this context's own gradients to zero (Gradients::own).
  void zero_gradients() {
    for (auto& g : own_gradients_) g.fill(T{0});
  }
  /// Where the samples of the next passes lie in the batch the network's
  /// start_batch() announced: a training lane's first sample (0 by default).
  void set_batch_offset(Index offset) { batch_offset_ = offset; }
  /// Whether training passes in this context move the layers' buffers
  /// (BatchNorm's running statistics; on by default): a training lane other
  /// than the first turns it off (LayerContext::update_buffers).
  void set_updates_buffers(bool update) { updates_buffers_ = update; }

 private:
  friend class Graph<T>;

  Gradients where_;
  std::uint64_t structure_ = 0;  // the graph structure it is fitted to (0: none)
  Index batch_offset_ = 0;
  bool updates_buffers_ = true;
  std::vector<std::unique_ptr<LayerContext<T>>> layers_;  // [k]: node k's layer context (null: input, views)
  std::vector<Tensor<T, 1>> own_gradients_;               // [j]: Gradients::own
  std::vector<Tensor<T, 4>> activations_;                 // [k]: node k's output, when it computes one
  std::vector<TensorView<const T, 4>> outputs_;           // [k]: node k's output as its readers see it
  std::vector<Tensor<T, 4>> gradients_;                   // [k]: loss gradient with respect to node k's output
  std::vector<char> gradient_written_;                    // [k]: gradients_[k] holds a value in this backward
  std::vector<std::vector<Tensor<T, 4>>> scratch_;        // [k][i]: node k's input gradient i, when added
  std::vector<TensorView<const T, 4>> x_views_;           // the inputs of a merging node
  std::vector<TensorView<T, 4>> dx_views_;                // the input gradients of one node
  std::vector<detail::AlignedBuffer<T>> pool_;            // infer's activation buffers, reused along the graph
  // infer() of a batch in pieces (Graph::infer_piece): a context per thread,
  // and each output of the whole batch gathered from the pieces.
  std::vector<std::unique_ptr<ExecutionContext>> piece_contexts_;
  std::vector<Tensor<T, 4>> batch_outputs_;
  bool passed_ = false;     // a pass has run: the outputs are there
  bool forwarded_ = false;  // the last pass was forward: backward may follow
  bool kept_all_ = false;   // the last pass kept every node's output
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
    plan();
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
  /// The per-sample input shape [C, H, W] (the constructor's, or set_input_shape's).
  const SampleShape& input_shape() const { return nodes_.front().shape; }

  /// Makes the network take samples of `input_shape` from now on, inferring
  /// every node's shape again: a fully convolutional network, or one whose
  /// global pooling makes the later layers independent of the height and
  /// width, then runs on images of another size. Weights are unchanged.
  /// Throws shape_error, leaving the network as it was, for a shape with an
  /// extent below 1 or more than 2^31 values, or naming the first node that
  /// cannot take its inputs at that size (a Linear after a Flatten, say).
  void set_input_shape(const SampleShape& input_shape) {
    check_sample_shape(input_shape, kind_ + "::set_input_shape");
    std::vector<SampleShape> shapes(nodes_.size());
    shapes[0] = input_shape;
    for (std::size_t k = 1; k < nodes_.size(); ++k) {
      std::vector<SampleShape> inputs;
      std::string prefix = kind_ + "::set_input_shape(" + to_string(input_shape) + "): node '" + nodes_[k].name + "'";
      for (Index in : nodes_[k].inputs) {
        inputs.push_back(shapes[static_cast<std::size_t>(in)]);
        prefix += (inputs.size() == 1 ? " with input '" : ", '") + nodes_[static_cast<std::size_t>(in)].name + "' " +
                  to_string(inputs.back());
      }
      shapes[k] = node_output_shape(*nodes_[k].layer, inputs, prefix + ":");
    }
    for (std::size_t k = 0; k < nodes_.size(); ++k) nodes_[k].shape = shapes[k];
    plan();
  }
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

  /// Whether a layer applies the activation that reads it (a ReLU after a
  /// Conv2d, say; on by default, the same bits either way). Off, every node's
  /// own output is kept, so activation() can show a convolution's output
  /// before its ReLU.
  void set_fusion(bool fuse) {
    fusion_ = fuse;
    plan();
  }
  /// Promises that the weights (and every other parameter and buffer) stay
  /// as they are until the next call: inference then keeps them in the
  /// order its kernels read them and uses them without checking them
  /// against the weights on every call, as deployment engines do (a
  /// convolution's weights packed for its GEMM, once per execution context:
  /// each context holds its own copy). Each call with true is a new promise:
  /// after changing a weight, call it again (or with false, which makes every
  /// pass check again). While it holds, a training pass throws state_error;
  /// a weight written while it holds gives wrong answers.
  void set_constant_weights(bool constant) {
    static std::atomic<std::uint64_t> promises{0};
    constant_weights_ = constant ? ++promises : 0;
  }
  /// Whether set_constant_weights(true) holds.
  bool constant_weights() const { return constant_weights_ != 0; }
  /// Whether backward also computes the gradient with respect to the input
  /// (off by default: training does not need it); see input_gradient().
  void set_input_gradient(bool compute) { input_gradient_ = compute; }
  /// Calls `hook(i)` during backward as soon as the i-th node added (layer(i))
  /// has accumulated its parameter gradients, on the thread running backward,
  /// so a distributed trainer can send them while the earlier layers' backward
  /// goes on (fovea/mpi.hpp). Nodes that only reshape, and nodes no output
  /// depends on, are not reported. Only the graph's own backward (without a
  /// context argument) calls it. Empty (the default): no calls.
  void set_backward_hook(std::function<void(std::size_t)> hook) { backward_hook_ = std::move(hook); }

  /// Announces a training batch of `batch` samples to every layer before its
  /// forward passes (Layer::start_batch: Dropout draws the batch's masks). The
  /// graph's own training forward(x) does this itself; a trainer that runs a
  /// batch in parts, each in its own context (set_batch_offset), calls it once.
  void start_batch(Index batch) {
    for (std::size_t k = 1; k < nodes_.size(); ++k) nodes_[k].layer->start_batch(batch);
  }

  /// x: [N, ...input_shape] -> the first output [N, ...output_shape]; every
  /// node runs once, in the order added, in the network's mode (a training
  /// forward starts a batch first: start_batch). The result is a view of a
  /// buffer the network's own context holds, valid until its next pass. x
  /// must stay alive until backward (the nodes reading the input read it
  /// then). Throws state_error for a network with no nodes and shape_error for
  /// an input of another sample shape or N = 0.
  TensorView<const T, 4> forward(TensorView<const T, 4> x) {
    check_input(x);
    if (training_) start_batch(x.dim(0));
    return forward(x, own_);
  }
  /// As forward(x), in `context` (no start_batch: see there): const, so
  /// threads with a context each may run it at once. The result lives in the context.
  TensorView<const T, 4> forward(TensorView<const T, 4> x, ExecutionContext<T>& context) const {
    run(x, context, Pass::keep, training_);
    return context.outputs_[static_cast<std::size_t>(output_list().front())];
  }

  /// Inference on x: [N, ...input_shape] -> the first output, in inference
  /// mode (Dropout off, BatchNorm's running statistics), whatever mode the
  /// network is in. A node's memory goes back to a pool as soon as its last
  /// reader has run and the next node takes it, so a deep network needs a few
  /// activations' worth instead of one per node (inference_bytes()). The
  /// result is valid until the next pass; the inner nodes' activations are
  /// not kept (activation() needs forward). Errors are forward's.
  TensorView<const T, 4> infer(TensorView<const T, 4> x) { return infer(x, own_); }
  /// As infer(x), in `context`: const, so threads with a context each may run it at once.
  TensorView<const T, 4> infer(TensorView<const T, 4> x, ExecutionContext<T>& context) const {
    check_input(x);
    const Index piece = infer_piece(x.dim(0));
    if (piece < x.dim(0)) {
      infer_in_pieces(x, piece, context);
    } else {
      run(x, context, Pass::pooled, false);
    }
    return context.outputs_[static_cast<std::size_t>(output_list().front())];
  }

  /// The samples infer() runs through the whole network at a time: a network
  /// whose weights fit in cache beside a few samples' activations runs a
  /// large batch in pieces of that many samples, one piece per thread at a
  /// time, so that each layer's output is still in the core's cache when the
  /// next layer reads it, instead of the whole batch's going through memory
  /// between layers (ResNet-8 on 28x28 images at batch 256: about a quarter
  /// less time; docs/benchmarks.md). Otherwise, and for small batches, the
  /// whole batch.
  Index infer_piece(Index batch) const {
    const auto weight_bytes = parameter_count() * static_cast<Index>(sizeof(T));
    Index sample_bytes = 0;
    for (Index values : pool_values_) sample_bytes += values * static_cast<Index>(sizeof(T));
    if (weight_bytes > infer_piece_bytes || sample_bytes == 0) return batch;
    return std::clamp<Index>(infer_piece_bytes / sample_bytes, 1, batch);
  }

  /// Bytes of activation memory infer() holds in the network's own context:
  /// its pooled buffers, which grow to the largest shapes seen.
  Index inference_bytes() const {
    Index bytes = 0;
    for (const auto& buffer : own_.pool_) bytes += buffer.capacity() * static_cast<Index>(sizeof(T));
    for (const auto& piece : own_.piece_contexts_) {
      for (const auto& buffer : piece->pool_) bytes += buffer.capacity() * static_cast<Index>(sizeof(T));
    }
    for (const auto& output : own_.batch_outputs_) bytes += output.size() * static_cast<Index>(sizeof(T));
    return bytes;
  }

  /// Output i of the last forward or infer (in set_outputs order); throws state_error
  /// before any forward and std::out_of_range for a bad i.
  TensorView<const T, 4> output(std::size_t i) const {
    if (!own_.passed_) throw state_error(kind_ + "::output: called before forward");
    return own_.outputs_[static_cast<std::size_t>(output_list().at(i))];
  }

  /// The last forward's output of any node, by name ("input" too): the
  /// feature maps of the inner layers. Throws state_error before any forward,
  /// index_error for an unknown name, and state_error for a layer that
  /// applied the activation after it itself (read the activation's node, or
  /// set_fusion(false)).
  TensorView<const T, 4> activation(const std::string& name) const { return activation(node(name)); }
  /// The last forward's output of a node: as activation(name).
  TensorView<const T, 4> activation(Node tensor) const {
    if (!own_.kept_all_) {
      throw state_error(
          kind_ + "::activation: called before forward" +
          std::string(own_.forwarded_ || !own_.passed_ ? "" : " (infer and predict keep no inner activations)"));
    }
    info(tensor);  // throws for a tensor not of this graph
    const auto k = static_cast<std::size_t>(tensor.id);
    if (fused_activation_[k] >= 0) {
      throw state_error(kind_ + "::activation: node '" + nodes_[k].name + "' applied the activation of node '" +
                        nodes_[static_cast<std::size_t>(fused_activation_[k])].name +
                        "' itself and kept only that output; read that node, or call set_fusion(false) first");
    }
    return own_.outputs_[k];
  }

  /// Class probabilities [N, K] in inference mode: the softmax of the first
  /// output, unless its layer already gives probabilities (Softmax).
  /// Allocates the result. K is the output's C*H*W; errors are forward's.
  /// Const: any number of threads may call it at once on one network, each
  /// borrowing a context the network keeps for this (made on first need,
  /// reused afterwards).
  Tensor<T, 2> predict(TensorView<const T, 4> x) const {
    std::unique_ptr<ExecutionContext<T>> context = spare_contexts_->take();
    struct GiveBack {
      const Graph& graph;
      std::unique_ptr<ExecutionContext<T>>& context;
      ~GiveBack() { graph.spare_contexts_->give_back(std::move(context)); }
    } give_back{*this, context};
    return predict(x, *context);
  }
  /// As predict(x), in the caller's `context`.
  Tensor<T, 2> predict(TensorView<const T, 4> x, ExecutionContext<T>& context) const {
    const TensorView<const T, 4> out = infer(x, context);
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
    if (!dinput.empty() && own_.forwarded_ && dinput.shape() != own_.outputs_[0].shape()) {
      throw shape_error(kind_ + "::backward: input gradient " + to_string(dinput.shape()) +
                        " does not match the input " + to_string(own_.outputs_[0].shape()));
    }
    backward_pass(std::span(&doutput, 1), own_, input_gradient_ || !dinput.empty(), &backward_hook_);
    if (!dinput.empty()) dinput.copy_from(own_.gradients_[0]);
  }

  /// As backward(doutput), with one gradient per output in set_outputs order;
  /// an empty one means the loss does not depend on that output. Throws
  /// shape_error for a count or a shape that does not match the outputs.
  void backward(std::span<const TensorView<const T, 4>> doutputs) {
    backward_pass(doutputs, own_, input_gradient_, &backward_hook_);
  }
  /// As backward(doutput), after forward(x, context), accumulating into the
  /// context's gradient target (ExecutionContext::Gradients): const, so
  /// training lanes with contexts of their own may run it at once.
  void backward(TensorView<const T, 4> doutput, ExecutionContext<T>& context) const {
    backward_pass(std::span(&doutput, 1), context, false, nullptr);
  }

  /// The gradient of the loss with respect to the last backward's input
  /// [N, ...input_shape]; throws state_error unless set_input_gradient(true)
  /// was called before that backward.
  TensorView<const T, 4> input_gradient() const {
    if (!input_gradient_ || own_.gradients_.empty() || own_.gradients_[0].empty()) {
      throw state_error(kind_ + "::input_gradient: call set_input_gradient(true) before backward");
    }
    return own_.gradients_[0];
  }

  /// Keras-style table: node, output shape, parameters, multiply-adds and
  /// activation memory per image (and, when the network is not a chain, each
  /// node's inputs); then totals: parameters and their memory, multiply-adds
  /// and FLOPs per image, the activation memory of one image, and that of
  /// training at `batch_size` (the input and every output the network
  /// stores, each with its gradient: a Flatten's is a view of its input, and a
  /// layer that applies the activation after it keeps only the activation's).
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
    double total_flops = 0;
    Index activation_values = shape_size(input_shape());
    Index image_values = shape_size(input_shape());
    for (std::size_t k = 1; k < nodes_.size(); ++k) {
      const NodeInfo& node = nodes_[k];
      const double flops = node_flops(k);
      total_flops += flops;
      const bool view = node.layer->only_reshapes();
      if (!view) image_values += shape_size(node.shape);
      if (!view && fused_activation_[k] < 0) activation_values += shape_size(node.shape);
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
    check_sample_shape(input_shape, kind_);
    nodes_.push_back({"input", nullptr, {}, input_shape, 0});
    plan();
  }

  /// Adds a node after the checks of add(); shape errors read
  /// "<error_prefix> <the layer's message>".
  Node add_node(const std::string& name, LayerPtr<T> layer, const std::vector<Node>& inputs,
                const std::string& error_prefix) {
    std::vector<SampleShape> shapes;
    for (const Node& in : inputs) shapes.push_back(shape(in));
    const SampleShape out = node_output_shape(*layer, shapes, error_prefix);
    const std::size_t first_param = params_.size();
    for (auto& p : layer->params()) {
      p.name = name + "." + p.name;
      params_.push_back(std::move(p));
    }
    NodeInfo node{name, std::move(layer), {}, out, first_param};
    for (const Node& in : inputs) node.inputs.push_back(in.id);
    nodes_.push_back(std::move(node));
    default_output_[0] = static_cast<Index>(nodes_.size()) - 1;
    plan();
    return {static_cast<Index>(nodes_.size()) - 1};
  }

  /// The output shape of `layer` for per-sample input shapes `inputs`; throws
  /// shape_error "<error_prefix> <the layer's message>" when the layer cannot
  /// take them or its output would be empty or hold more than 2^31 values.
  static SampleShape node_output_shape(const Layer<T>& layer, const std::vector<SampleShape>& inputs,
                                       const std::string& error_prefix) {
    SampleShape out;
    try {
      if (layer.merges_inputs()) {
        out = layer.merged_output_shape(inputs);
      } else if (inputs.size() != 1) {
        throw shape_error(layer.describe() + ": takes one input, got " + std::to_string(inputs.size()));
      } else {
        out = layer.output_shape(inputs[0]);
      }
    } catch (const shape_error& e) {
      throw shape_error(error_prefix + " " + e.what());
    }
    // Keeps every later size product (buffers, summaries) far from overflow.
    const double values = static_cast<double>(out[0]) * static_cast<double>(out[1]) * static_cast<double>(out[2]);
    if (out[0] < 1 || out[1] < 1 || out[2] < 1 || values > 2147483648.0) {
      throw shape_error(error_prefix + " " + layer.describe() + ": output " + to_string(out) +
                        " is empty or larger than 2^31 values per sample");
    }
    return out;
  }

  /// The name of this kind of network in messages ("Graph", "Sequential").
  const std::string& kind() const { return kind_; }

 private:
  struct NodeInfo {
    std::string name;
    LayerPtr<T> layer;          // null for the input
    std::vector<Index> inputs;  // the tensors it reads, in order
    SampleShape shape;          // per-sample output shape
    std::size_t first_param;    // its parameters are params_[first_param, next node's first_param)
  };

  // predict()'s contexts: one per thread that is predicting at the moment,
  // kept for the next call.
  class ContextCache {
   public:
    std::unique_ptr<ExecutionContext<T>> take() {
      const std::lock_guard<std::mutex> lock(mutex_);
      if (spare_.empty()) return std::make_unique<ExecutionContext<T>>();
      auto context = std::move(spare_.back());
      spare_.pop_back();
      return context;
    }
    void give_back(std::unique_ptr<ExecutionContext<T>> context) {
      const std::lock_guard<std::mutex> lock(mutex_);
      spare_.push_back(std::move(context));
    }

   private:
    std::mutex mutex_;
    std::vector<std::unique_ptr<ExecutionContext<T>>> spare_;
  };

  enum class Pass {
    keep,   // forward: every node keeps its output for backward and activation()
    pooled  // infer: outputs share pool buffers, handed on after their last reader
  };

  // Throws shape_error "<where>: input shape ..." unless every extent is
  // positive and there are at most 2^31 values.
  static void check_sample_shape(const SampleShape& shape, const std::string& where) {
    double values = 1;
    for (Index d : shape) {
      if (d <= 0) throw shape_error(where + ": input shape " + to_string(shape) + " must be positive");
      values *= static_cast<double>(d);
    }
    if (values > 2147483648.0) {
      throw shape_error(where + ": input shape " + to_string(shape) + " exceeds 2^31 values per sample");
    }
  }

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
  const std::vector<Index>& output_list() const { return output_ids_.empty() ? default_output_ : output_ids_; }
  bool is_chain() const {
    for (std::size_t k = 1; k < nodes_.size(); ++k) {
      if (nodes_[k].inputs.size() != 1 || nodes_[k].inputs[0] != static_cast<Index>(k) - 1) return false;
    }
    return true;
  }

  // Decides how passes run (see the file's overview): which buffer each
  // node's output lives in and which layers apply the activation reading them.
  // Made whenever the structure changes, never during a pass, so that const
  // passes on several threads only read it.
  void plan() {
    const std::size_t n = nodes_.size();
    view_of_.assign(n, 0);
    fused_activation_.assign(n, -1);
    applied_by_.assign(n, -1);
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
      const std::optional<Clamp> clamp = node.layer->clamp();
      if (!fusion_ || node.inputs.size() != 1 || !clamp) continue;
      const auto p = static_cast<std::size_t>(node.inputs[0]);
      if (p != 0 && nodes_[p].layer->supports_epilogue(*clamp) && readers[p] == 1 && fused_activation_[p] < 0) {
        fused_activation_[p] = static_cast<Index>(k);
        applied_by_[k] = static_cast<Index>(p);
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
    // A number no other structure of any graph has had: contexts fitted to
    // an earlier one refit themselves.
    static std::atomic<std::uint64_t> structures{0};
    structure_ = ++structures;
  }

  // Fits a context to the current structure: a layer context per node that
  // computes (with the epilogue where the plan asks for it) and its
  // parameter gradients pointed at the network's or the context's own.
  void fit_context(ExecutionContext<T>& context) const {
    if (context.structure_ == structure_) return;
    const std::size_t n = nodes_.size();
    context.structure_ = 0;  // half fitted until the end
    if (context.where_ == ExecutionContext<T>::Gradients::own) {
      context.own_gradients_.resize(params_.size());
      for (std::size_t j = 0; j < params_.size(); ++j) {
        context.own_gradients_[j].resize({params_[j].grad.size()});
        context.own_gradients_[j].fill(T{0});
      }
    }
    context.layers_.clear();
    context.layers_.resize(n);
    for (std::size_t k = 1; k < n; ++k) {
      const NodeInfo& node = nodes_[k];
      if (node.layer->only_reshapes() || applied_by_[k] >= 0) continue;
      auto layer_context = node.layer->make_context();
      if (fused_activation_[k] >= 0)
        layer_context->epilogue = nodes_[static_cast<std::size_t>(fused_activation_[k])].layer->clamp();
      const std::size_t end = k + 1 < n ? nodes_[k + 1].first_param : params_.size();
      for (std::size_t j = node.first_param; j < end; ++j) {
        layer_context->gradients.push_back(
            context.where_ == ExecutionContext<T>::Gradients::own ? context.own_gradients_[j].view() : params_[j].grad);
      }
      context.layers_[k] = std::move(layer_context);
    }
    context.activations_.resize(n);
    context.outputs_.assign(n, TensorView<const T, 4>());
    context.gradients_.resize(n);
    context.gradient_written_.assign(n, 0);
    context.scratch_.resize(n);
    context.passed_ = context.forwarded_ = context.kept_all_ = false;
    context.structure_ = structure_;
  }

  void check_input(TensorView<const T, 4> x) const {
    if (nodes_.size() < 2) throw state_error(kind_ + "::forward: the network has no layers");
    if (sample_shape(x.shape()) != input_shape() || x.dim(0) <= 0) {
      throw shape_error(kind_ + "::forward: input " + to_string(x.shape()) + ", expected [N, " +
                        std::to_string(input_shape()[0]) + ", " + std::to_string(input_shape()[1]) + ", " +
                        std::to_string(input_shape()[2]) + "] with N > 0");
    }
  }

  // The cache infer_piece() fills with a piece's activations (and, apart,
  // with the weights): half a 2 MB L2 (Intel), a whole 1 MB one (AMD Zen 4
  // and 5), where the next layer still finds them.
  static constexpr Index infer_piece_bytes = Index{1} << 20;

  // infer(x) in pieces of `piece` samples: each thread runs its pieces
  // through the whole network in a context of its own, and the outputs are
  // gathered into `context`'s, as a pass of the whole batch leaves them.
  void infer_in_pieces(TensorView<const T, 4> x, Index piece, ExecutionContext<T>& context) const {
    fit_context(context);
    const Index batch = x.dim(0), pieces = (batch + piece - 1) / piece;
    const int threads = chunk_count(pieces);
    auto& parts = context.piece_contexts_;
    while (static_cast<int>(parts.size()) < threads) parts.push_back(std::make_unique<ExecutionContext<T>>());
    const std::vector<Index>& outs = output_list();
    auto& gathered = context.batch_outputs_;
    gathered.resize(outs.size());
    for (std::size_t j = 0; j < outs.size(); ++j) {
      gathered[j].resize(batch_shape(batch, nodes_[static_cast<std::size_t>(outs[j])].shape));
    }
    context.passed_ = context.forwarded_ = context.kept_all_ = false;
    parallel_for(pieces, threads, [&](Index first, Index last, int chunk) {
      ExecutionContext<T>& part = *parts[static_cast<std::size_t>(chunk)];
      for (Index p = first; p < last; ++p) {
        const Index begin = p * piece, end = std::min(batch, begin + piece);
        run(x.slice(begin, end), part, Pass::pooled, false);
        for (std::size_t j = 0; j < outs.size(); ++j) {
          const TensorView<const T, 4> out = part.outputs_[static_cast<std::size_t>(outs[j])];
          std::copy(out.begin(), out.end(), gathered[j].data() + begin * (out.size() / (end - begin)));
        }
      }
    });
    context.outputs_.assign(nodes_.size(), TensorView<const T, 4>());
    for (std::size_t j = 0; j < outs.size(); ++j) context.outputs_[static_cast<std::size_t>(outs[j])] = gathered[j];
    context.passed_ = true;
  }

  // Every node once, in the order added, in `context`. Pass::pooled (infer):
  // outputs live in pool buffers handed back after each tensor's last reader;
  // Pass::keep: each node keeps its own (backward and activation() read them).
  void run(TensorView<const T, 4> x, ExecutionContext<T>& context, Pass pass, bool training) const {
    check_input(x);
    if (training && constant_weights_ != 0) {
      throw state_error(kind_ +
                        "::forward: a training pass while the weights are promised constant "
                        "(set_constant_weights(false) first)");
    }
    fit_context(context);
    const bool pooled = pass == Pass::pooled;
    context.forwarded_ = false;
    context.kept_all_ = false;
    if (pooled) {
      context.pool_.resize(pool_values_.size());
      for (std::size_t b = 0; b < context.pool_.size(); ++b) context.pool_[b].reserve(pool_values_[b] * x.dim(0));
    }
    const Index batch = x.dim(0);
    auto& outputs = context.outputs_;
    outputs[0] = x;
    for (std::size_t k = 1; k < nodes_.size(); ++k) {
      if (applied_by_[k] >= 0) continue;  // computed with the layer that applies it
      const NodeInfo& node = nodes_[k];
      if (node.layer->only_reshapes()) {
        outputs[k] = outputs[static_cast<std::size_t>(node.inputs[0])].reshape(batch_shape(batch, node.shape));
        continue;
      }
      const Index activation = fused_activation_[k];
      const std::size_t target = activation >= 0 ? static_cast<std::size_t>(activation) : k;
      const Shape<4> shape = batch_shape(batch, nodes_[target].shape);
      TensorView<T, 4> y;
      if (pooled) {
        y = TensorView<T, 4>(context.pool_[buffer_of_[target]].data(), shape);
      } else {
        context.activations_[target].resize(shape);
        y = context.activations_[target];
      }
      LayerContext<T>& layer_context = *context.layers_[k];
      layer_context.training = training;
      layer_context.batch_offset = context.batch_offset_;
      layer_context.update_buffers = context.updates_buffers_;
      layer_context.constant_weights = constant_weights_;
      if (node.layer->merges_inputs()) {
        node.layer->forward_merged(gather_inputs(k, context), y, layer_context);
      } else {
        node.layer->forward(outputs[static_cast<std::size_t>(node.inputs[0])], y, layer_context);
      }
      // With the activation applied, node k's own output is never written: backward needs only the activation's.
      if (activation >= 0) outputs[k] = TensorView<const T, 4>();
      outputs[target] = y;
    }
    context.forwarded_ = !pooled;
    context.kept_all_ = !pooled;
    context.passed_ = true;
  }

  // Backward of the context's last forward (see backward(doutputs)), the
  // input's gradient with `input_gradient`, calling `*hook` when set.
  void backward_pass(std::span<const TensorView<const T, 4>> doutputs, ExecutionContext<T>& context,
                     bool input_gradient, const std::function<void(std::size_t)>* hook) const {
    if (!context.forwarded_ || context.structure_ != structure_) {
      throw state_error(kind_ + "::backward: called before forward");
    }
    const std::vector<Index>& outs = output_list();
    if (doutputs.size() != outs.size()) {
      throw shape_error(kind_ + "::backward: " + std::to_string(doutputs.size()) + " output gradient(s) for " +
                        std::to_string(outs.size()) + " output(s)");
    }
    auto& outputs = context.outputs_;
    auto& gradients = context.gradients_;
    auto& written = context.gradient_written_;
    for (std::size_t j = 0; j < outs.size(); ++j) {
      const Shape<4> expected = outputs[static_cast<std::size_t>(outs[j])].shape();
      if (!doutputs[j].empty() && doutputs[j].shape() != expected) {
        throw shape_error(kind_ + "::backward: gradient " + to_string(doutputs[j].shape()) +
                          " does not match the output " + to_string(expected));
      }
    }
    std::fill(written.begin(), written.end(), char{0});
    for (std::size_t j = 0; j < outs.size(); ++j) {
      if (doutputs[j].empty()) continue;
      const auto k = static_cast<std::size_t>(outs[j]);
      const auto t = static_cast<std::size_t>(view_of_[k]);
      gradients[t].resize(batch_shape(doutputs[j].dim(0), nodes_[t].shape));
      TensorView<T, 4> g = TensorView<T, 4>(gradients[t]).reshape(doutputs[j].shape());
      if (written[t] == 0) {
        g.copy_from(doutputs[j]);
      } else {
        for (Index i = 0; i < g.size(); ++i) g.data()[i] += doutputs[j].data()[i];
      }
      written[t] = 1;
    }
    const Index batch = outputs[0].dim(0);
    for (std::size_t k = nodes_.size(); k-- > 1;) {
      if (nodes_[k].layer->only_reshapes() || fused_activation_[k] >= 0)
        continue;                     // passed as a view / done by its activation
      if (written[k] == 0) continue;  // no output depends on it
      // An activation that its input's layer applied: that layer runs the backward of both.
      const std::size_t c = applied_by_[k] >= 0 ? static_cast<std::size_t>(applied_by_[k]) : k;
      const NodeInfo& node = nodes_[c];
      auto& dx = context.dx_views_;
      dx.assign(node.inputs.size(), TensorView<T, 4>());
      std::vector<Tensor<T, 4>>& scratch = context.scratch_[c];
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        const auto p = static_cast<std::size_t>(node.inputs[i]);
        const auto t = static_cast<std::size_t>(view_of_[p]);
        if (t == 0 && !input_gradient) continue;  // nobody needs the gradient of the input data
        const Shape<4> want = batch_shape(batch, nodes_[p].shape);
        if (written[t] == 0) {
          gradients[t].resize(batch_shape(batch, nodes_[t].shape));
          dx[i] = TensorView<T, 4>(gradients[t]).reshape(want);
          written[t] = 2;  // written by this call
        } else {
          if (scratch.size() < node.inputs.size()) scratch.resize(node.inputs.size());
          scratch[i].resize(want);
          dx[i] = scratch[i];
        }
      }
      const TensorView<const T, 4> y = outputs[k];
      const TensorView<const T, 4> dy = gradients[k];
      LayerContext<T>& layer_context = *context.layers_[c];
      if (node.layer->merges_inputs()) {
        node.layer->backward_merged(gather_inputs(c, context), y, dy, dx, layer_context);
      } else {
        node.layer->backward(outputs[static_cast<std::size_t>(node.inputs[0])], y, dy, dx[0], layer_context);
      }
      // Gradients of tensors that other readers had already written: add ours.
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        const auto t = static_cast<std::size_t>(view_of_[static_cast<std::size_t>(node.inputs[i])]);
        if (dx[i].empty()) continue;
        if (written[t] == 2 && dx[i].data() == gradients[t].data()) continue;
        T* sum = gradients[t].data();
        const T* part = dx[i].data();
        for (Index e = 0; e < dx[i].size(); ++e) sum[e] += part[e];
      }
      for (std::size_t i = 0; i < node.inputs.size(); ++i) {
        auto& flag = written[static_cast<std::size_t>(view_of_[static_cast<std::size_t>(node.inputs[i])])];
        if (flag == 2) flag = 1;
      }
      if (hook != nullptr && *hook) {
        (*hook)(c - 1);
        if (c != k) (*hook)(k - 1);  // the activation that node c applied
      }
    }
    if (input_gradient && written[0] == 0) {  // no output depends on the input
      gradients[0].resize(outputs[0].shape());
      TensorView<T, 4>(gradients[0]).fill(T{0});
    }
  }

  // Which pool buffer each computed output of infer() lives in, decided
  // once per plan so every call reuses the same buffers: nodes in order, each
  // taking the free buffer that fits best (the smallest large enough, else
  // the largest, which grows), and freeing a buffer when its last reader has
  // run. pool_values_[b] is buffer b's size per sample.
  void plan_pool() {
    const std::size_t n = nodes_.size();
    buffer_of_.assign(n, 0);
    pool_values_.clear();
    std::vector<char> free;
    for (std::size_t k = 1; k < n; ++k) {
      if (applied_by_[k] >= 0 || nodes_[k].layer->only_reshapes()) continue;
      const std::size_t target = fused_activation_[k] >= 0 ? static_cast<std::size_t>(fused_activation_[k]) : k;
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

  std::span<const TensorView<const T, 4>> gather_inputs(std::size_t k, ExecutionContext<T>& context) const {
    context.x_views_.clear();
    for (Index in : nodes_[k].inputs) context.x_views_.push_back(context.outputs_[static_cast<std::size_t>(in)]);
    return context.x_views_;
  }

  double node_flops(std::size_t k) const {
    const NodeInfo& node = nodes_[k];
    if (!node.layer->merges_inputs()) {
      return node.layer->flops_per_sample(nodes_[static_cast<std::size_t>(node.inputs[0])].shape);
    }
    return node.layer->flops_per_sample(node.shape);
  }
  // By the node's own range of params_, not by name: a node named "layer1.0"
  // must not count the parameters of "layer1.0.conv1".
  Index node_parameter_count(std::size_t k) const {
    const std::size_t end = k + 1 < nodes_.size() ? nodes_[k + 1].first_param : params_.size();
    Index n = 0;
    for (std::size_t j = nodes_[k].first_param; j < end; ++j) n += params_[j].value.size();
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
  std::vector<NodeInfo> nodes_;           // [0] is the input; every node after its inputs
  std::vector<Index> output_ids_;         // empty: the last node
  std::vector<Index> default_output_{0};  // the last node added
  std::vector<Parameter<T>> params_;

  // The plan, made whenever the structure changes (see plan()).
  std::uint64_t structure_ = 0;
  bool fusion_ = true;
  std::uint64_t constant_weights_ = 0;   // the promise of set_constant_weights, 0 for none
  std::vector<Index> view_of_;           // [k]: the node whose buffer holds k's output (k, unless k only reshapes)
  std::vector<Index> fused_activation_;  // [k]: the activation node that k's layer applies as its epilogue, or -1
  std::vector<Index> applied_by_;        // [j]: the node whose layer applies activation j, or -1
  std::vector<Index> last_reader_;       // [k]: the last node reading buffer k (n: an output)
  std::vector<std::size_t> buffer_of_;   // [k]: node k's pool buffer in infer
  std::vector<Index> pool_values_;       // [b]: pool buffer b's size per sample

  bool training_ = true;
  bool input_gradient_ = false;
  std::function<void(std::size_t)> backward_hook_;  // set_backward_hook's
  ExecutionContext<T> own_;                         // forward(x), backward, infer(x)
  // predict()'s contexts; behind a pointer so that the graph stays movable.
  std::unique_ptr<ContextCache> spare_contexts_ = std::make_unique<ContextCache>();
};

}  // namespace fovea
