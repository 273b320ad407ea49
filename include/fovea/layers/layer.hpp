#pragma once

/// @file
/// The contract every layer keeps. Inside a network every activation is a 4-D
/// batch [N, C, H, W]; a feature vector is [N, F, 1, 1] (as in Caffe's blobs),
/// so one interface serves convolutions and fully connected layers alike.
///
/// A layer:
///  - infers shapes without computing: output_shape() is pure and throws
///    shape_error when it cannot take the input;
///  - computes forward into a buffer the caller owns (the network plans every
///    activation buffer once per batch size, so a training step allocates
///    nothing);
///  - computes backward from the same x and y plus dy: parameter gradients
///    ACCUMULATE (+=) into the context's gradient views, the input gradient is
///    written to dx. dx may be empty (size 0) when nobody needs it (the first
///    layer), and is then skipped;
///  - owns the model: its settings, parameters and buffers (running
///    statistics). Everything one execution writes lives in a LayerContext
///    the caller owns and the layer makes (make_context()): what backward
///    needs from forward (the shapes, max-pool argmax, a dropout mask, batch
///    statistics) and scratch (im2col columns). forward and backward are
///    const, so threads that each hold a context may run one layer at once;
///  - describes itself for summaries and model files.
///
/// For standalone use (tests, experiments), forward(x, y, training) and
/// backward(x, y, dy, dx) run with a context the layer keeps for itself and
/// accumulate into the layer's own gradients.
///
/// Virtual calls happen once per layer per batch, never per element.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/random.hpp"
#include "fovea/core/tensor.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/ops/clamp.hpp"

namespace fovea {

/// The shape of one sample inside a network: [C, H, W].
using SampleShape = Shape<3>;

/// Batch shape for a per-sample shape: [batch, C, H, W].
inline Shape<4> batch_shape(Index batch, const SampleShape& sample) { return {batch, sample[0], sample[1], sample[2]}; }
/// Per-sample shape of a batch shape: [N, C, H, W] -> [C, H, W].
inline SampleShape sample_shape(const Shape<4>& batch) { return {batch[1], batch[2], batch[3]}; }

/// A trainable tensor and its gradient, flattened; `shape` keeps the true
/// shape for initialisers (fan-in/fan-out) and model files.
template <class T>
struct Parameter {
  std::string name;          ///< "weight" or "bias"
  std::vector<Index> shape;  ///< The tensor's true shape, e.g. [Cout, Cin, KH, KW].
  TensorView<T, 1> value;    ///< The values, flattened: a view of storage the layer owns.
  TensorView<T, 1> grad;     ///< The gradient, same size as value; backward accumulates into it.
};

/// A tensor a layer keeps beside its parameters that the optimizer does not
/// train but the model needs (BatchNorm's running mean and variance): model
/// files save and load it with the parameters.
template <class T>
struct Buffer {
  std::string name;          ///< "running_mean", "running_var", ...
  std::vector<Index> shape;  ///< The tensor's true shape, e.g. [C].
  TensorView<T, 1> value;    ///< The values, flattened: a view of storage the layer owns.
};

namespace detail {

// Calls body(i, begin, end) over elements [begin, end) of parameter i, every
// element of every parameter once: on this thread when they hold fewer than
// elementwise_parallel_min values in all, else in one parallel loop in which
// thread t takes the t-th piece of every parameter, small ones included. The
// passes between two training steps (zeroing, adding lanes' gradients, the
// optimizer's update, the trainer's checks) all cut this way, so each core
// works on the same rows of every parameter step after step. The cuts fall on
// multiples of element_chunk_align, as for_each_element_chunk's do: the same
// bits for any thread count. The serial pass is the same loop cut into one
// piece, so that the body is compiled once.
template <class T, class Body>
void for_each_parameter_piece(const std::vector<Parameter<T>>& params, Body&& body) {
  Index total = 0;
  for (const auto& p : params) total += p.value.size();
  const int pieces = total < elementwise_parallel_min ? 1 : max_threads();
  parallel_for(pieces, [&](Index first, Index last, int /*chunk*/) {
    for (Index piece = first; piece < last; ++piece) {
      for (std::size_t i = 0; i < params.size(); ++i) {
        const Index size = params[i].value.size();
        const Range r =
            chunk_range((size + element_chunk_align - 1) / element_chunk_align, pieces, static_cast<int>(piece));
        const Index begin = r.begin * element_chunk_align, end = std::min(r.end * element_chunk_align, size);
        if (begin < end) body(i, begin, end);
      }
    }
  });
}

}  // namespace detail

/// Sets every gradient in `params` to zero (backward accumulates into them),
/// split across threads as the optimizer's update is: each core then holds
/// the gradients it will add and update next.
template <class T>
void zero_gradients(const std::vector<Parameter<T>>& params) {
  detail::for_each_parameter_piece(
      params, [&](std::size_t i, Index begin, Index end) { params[i].grad.slice(begin, end).fill(T{0}); });
}

/// The hyperparameters that rebuild a layer: its type name and numbered
/// settings, e.g. {"Conv2d", {{"in", 1}, {"out", 6}, {"kh", 5}, ...}}. Model
/// files store this; nn/registry.hpp turns it back into a layer.
struct LayerSpec {
  std::string type;                                    ///< Layer type name, e.g. "Conv2d" or "MaxPool2d".
  std::vector<std::pair<std::string, double>> values;  ///< Named settings, in the order the layer writes them.

  /// The setting named `key`; throws format_error naming the type when it is missing.
  double get(const std::string& key) const {
    auto it = std::find_if(values.begin(), values.end(), [&](const auto& kv) { return kv.first == key; });
    if (it == values.end()) throw format_error(type + ": missing setting '" + key + "'");
    return it->second;
  }
  /// Whether the spec has a setting named `key`.
  bool has(const std::string& key) const {
    return std::any_of(values.begin(), values.end(), [&](const auto& kv) { return kv.first == key; });
  }
  /// The setting named `key`, or `fallback` when the spec has none: for
  /// settings added after files without them were written.
  double get_or(const std::string& key, double fallback) const { return has(key) ? get(key) : fallback; }
  /// A size or count: a whole number of at most 2^31 in magnitude (a file's
  /// -inf or 1e300 must not reach an integer conversion, which is undefined).
  /// Throws format_error when the setting is missing or not such a number.
  Index get_index(const std::string& key) const {
    const double value = get(key);
    if (!(std::abs(value) <= 2147483648.0) || value != std::trunc(value)) {
      throw format_error(type + ": setting '" + key + "' is " + detail::format_number(value) +
                         ", expected a whole number");
    }
    return static_cast<Index>(value);
  }
  /// get_index(key) when the spec has the setting, else `fallback`.
  Index get_index_or(const std::string& key, Index fallback) const { return has(key) ? get_index(key) : fallback; }
  /// Same type and the same settings, with the same values, in the same order.
  bool operator==(const LayerSpec&) const = default;
};

/// Shape bookkeeping every layer shares: the checks at the top of forward and
/// backward, so each layer's own code is just its arithmetic.
class ForwardRecord {
 public:
  /// Checks y has the shape `expected_output` (already validated by
  /// output_shape) for x's batch, then remembers both for backward. Throws
  /// shape_error naming `layer` and both shapes otherwise.
  void record(const std::string& layer, const Shape<4>& x, const SampleShape& expected_output, const Shape<4>& y) {
    const Shape<4> want = batch_shape(x[0], expected_output);
    if (y != want) {
      throw shape_error(layer + "::forward: output buffer " + to_string(y) + ", expected " + to_string(want) +
                        " for input " + to_string(x));
    }
    input_ = x;
    output_ = y;
    valid_ = true;
  }
  /// Checks a backward call against the recorded forward: throws state_error
  /// when no forward was recorded, shape_error when x or dy differ from that
  /// forward's input and output, or when dx is neither empty nor x's shape.
  void check_backward(const std::string& layer, const Shape<4>& x, const Shape<4>& dy, const Shape<4>& dx) const {
    if (!valid_) throw state_error(layer + "::backward: called before forward");
    if (x != input_) {
      throw shape_error(layer + "::backward: input " + to_string(x) + " is not the last forward's input " +
                        to_string(input_));
    }
    if (dy != output_) {
      throw shape_error(layer + "::backward: gradient " + to_string(dy) + " does not match the forward output " +
                        to_string(output_));
    }
    if (shape_size(dx) != 0 && dx != input_) {
      throw shape_error(layer + "::backward: input gradient buffer " + to_string(dx) + ", expected " +
                        to_string(input_));
    }
  }
  /// Whether a forward has been recorded.
  bool valid() const { return valid_; }

 private:
  Shape<4> input_{};
  Shape<4> output_{};
  bool valid_ = false;
};

/// What one execution of a layer writes, apart from the model: the shapes of
/// the last forward (checked by backward), whether it trained, where backward
/// accumulates the parameter gradients, and whatever else the layer keeps
/// between forward and backward or works in. Layers with more state extend it
/// (Conv2d's workspace, MaxPool2d's argmax) and make theirs in make_context().
template <class T>
struct LayerContext {
  LayerContext() = default;
  LayerContext(const LayerContext&) = delete;
  LayerContext& operator=(const LayerContext&) = delete;
  LayerContext(LayerContext&&) = delete;
  LayerContext& operator=(LayerContext&&) = delete;
  /// Virtual: owned through the base.
  virtual ~LayerContext() = default;

  /// Training forward (batch statistics, dropout) or inference; set by the caller.
  bool training = true;
  /// Set by the caller to a clamp the layer supports (supports_epilogue): its
  /// forward clamps y as it writes it (y = max(y, 0) for a ReLU) and its
  /// backward takes y and dy after that clamp.
  std::optional<Clamp> epilogue;
  /// Where backward accumulates each parameter's gradient, in params() order:
  /// the layer's own gradients, or a training lane's. Empty: backward computes
  /// only dx (an inference context must not run backward of a layer with parameters).
  std::vector<TensorView<T, 1>> gradients;
  /// Whether a training forward moves the layer's buffers (BatchNorm's
  /// running statistics): off in every training lane but the first when
  /// lanes normalise with their own samples' statistics, so that one lane
  /// writes them.
  bool update_buffers = true;
  /// Nonzero: a promise that the layer's parameters stay as they are for
  /// every pass with this value (Graph::set_constant_weights), so that what
  /// the layer keeps made from them (a convolution's packed weights) need not
  /// be checked against them; 0 promises nothing.
  std::uint64_t constant_weights = 0;
  /// Where x's first sample lies in the batch that start_batch() announced:
  /// a training lane's offset, 0 for a whole batch. Dropout draws sample
  /// (batch_offset + i)'s mask for x's sample i.
  Index batch_offset = 0;
  /// The last forward's shapes.
  ForwardRecord record;
};

/// The abstract base of every layer, with element type T (float or double):
/// shape inference, forward and backward on [N, C, H, W] batches, parameters,
/// and a description for summaries and model files (see this file's overview).
template <class T>
class Layer {
 public:
  /// The base holds no model state.
  Layer() = default;
  /// A copy computes like the original; it makes its own context when first run standalone.
  Layer(const Layer& /*other*/) {}
  /// Drops this layer's standalone context (its gradient views may point at storage the assignment replaced).
  Layer& operator=(const Layer& /*other*/) {
    own_context_.reset();
    return *this;
  }
  /// Takes over nothing but the model: the context stays with its layer.
  Layer(Layer&& /*other*/) noexcept {}
  /// Drops this layer's standalone context, as copy assignment does.
  Layer& operator=(Layer&& /*other*/) noexcept {
    own_context_.reset();
    return *this;
  }
  /// Virtual: networks own layers through LayerPtr.
  virtual ~Layer() = default;

  /// One line for summaries and error messages: "Conv2d(1->6, k5x5, s1, p2)".
  virtual std::string describe() const = 0;
  /// The type name and settings that rebuild this layer (its parameters not
  /// included): what model files store and from_spec() reads back.
  virtual LayerSpec spec() const = 0;

  /// Per-sample output shape for a per-sample input shape; throws shape_error
  /// naming this layer, what it expected and what it got.
  virtual SampleShape output_shape(const SampleShape& input) const = 0;

  /// A fresh execution context for this layer; its gradients are left empty
  /// for the caller to point.
  virtual std::unique_ptr<LayerContext<T>> make_context() const { return std::make_unique<LayerContext<T>>(); }

  /// x: [N, ...input] -> y: [N, ...output_shape(input)], keeping in `context`
  /// (one this layer made) what backward needs. `context.training` switches
  /// layers such as Dropout and BatchNorm. Throws shape_error when x does not
  /// fit the layer or y is not of the output shape.
  virtual void forward(TensorView<const T, 4> x, TensorView<T, 4> y, LayerContext<T>& context) const = 0;

  /// dy has y's shape. Accumulates parameter gradients into
  /// context.gradients, writes dx (x's shape) unless dx is empty. Throws
  /// state_error if no forward ran in this context and shape_error if dy does
  /// not match that forward's output.
  virtual void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy,
                        TensorView<T, 4> dx, LayerContext<T>& context) const = 0;

  /// Standalone forward with the layer's own context: as forward above, in
  /// training or inference mode.
  /// A training forward starts a batch (start_batch()) first.
  void forward(TensorView<const T, 4> x, TensorView<T, 4> y, bool training) {
    LayerContext<T>& context = own_context();
    context.training = training;
    if (training) start_batch(x.dim(0));
    forward(x, y, context);
  }
  /// Standalone backward of the last standalone forward: parameter gradients
  /// accumulate into the layer's own (params()[i].grad).
  void backward(TensorView<const T, 4> x, TensorView<const T, 4> y, TensorView<const T, 4> dy, TensorView<T, 4> dx) {
    backward(x, y, dy, dx, own_context());
  }

  /// Trainable tensors (none by default): views of the layer's own values and
  /// gradients, not copies.
  virtual std::vector<Parameter<T>> params() { return {}; }

  /// Tensors the layer keeps that are not trained but belong to the model
  /// (none by default): views of the layer's own storage. Model files save and
  /// load them; a layer with buffers updates them in training forwards, so a
  /// training step runs it in one lane (train/data_parallel.hpp).
  virtual std::vector<Buffer<T>> buffers() { return {}; }

  /// The layer's own random generator, if it has one (Dropout): checkpoints
  /// save and restore its state so a resumed run draws the same masks.
  virtual Rng* rng() { return nullptr; }

  /// Called once per training batch before any forward of it, with the whole
  /// batch's size, even when the batch then runs in several lanes: a layer
  /// that draws random numbers (Dropout) draws them here, for the whole batch,
  /// so the lanes' parts make the same draw as one pass would.
  virtual void start_batch(Index /*batch*/) {}

  /// Multiply-adds counted as 2 FLOPs, forward pass, one sample.
  virtual double flops_per_sample(const SampleShape& input) const = 0;

  /// True for a layer whose outputs are class probabilities (Softmax):
  /// predict() then passes them on instead of applying a softmax.
  virtual bool outputs_probabilities() const { return false; }

  /// True for a layer whose output is its input read in another shape
  /// (Flatten): a network passes a reshaped view on instead of calling
  /// forward and backward, which would only copy.
  virtual bool only_reshapes() const { return false; }

  /// True for a layer that can apply the clamping activation reading its
  /// output itself (see LayerContext::epilogue): Linear a ReLU; Conv2d,
  /// BatchNorm and Add any clamp (ReLU, ReLU6, Clip). A network asks for it when
  /// such an activation is the output's one reader: it then runs on each
  /// thread's part of the output while it is in that core's cache, with the
  /// same bits as the two layers run apart.
  virtual bool supports_epilogue(const Clamp& /*clamp*/) const { return false; }

  /// The bounds of a layer that only clamps its input (ReLU, ReLU6, Clip),
  /// which the layer before it may apply as its epilogue; none for the rest.
  virtual std::optional<Clamp> clamp() const { return std::nullopt; }

  /// True for a layer that combines several tensors (Add, Concat). A graph
  /// then calls the three *_merged members below instead of output_shape,
  /// forward and backward; with one input those act as the plain members.
  virtual bool merges_inputs() const { return false; }
  /// The output shape for per-sample input shapes, of a merging layer; throws
  /// shape_error naming the layer and the shapes it cannot combine.
  virtual SampleShape merged_output_shape(std::span<const SampleShape> inputs) const {
    if (inputs.size() != 1) throw shape_error(describe() + ": takes one input, got " + std::to_string(inputs.size()));
    return output_shape(inputs[0]);
  }
  /// x[i]: [N, ...inputs[i]] -> y: [N, ...merged_output_shape(inputs)].
  virtual void forward_merged(std::span<const TensorView<const T, 4>> x, TensorView<T, 4> y,
                              LayerContext<T>& context) const {
    forward(x[0], y, context);
  }
  /// As backward, with one input gradient per input; an empty dx[i] is skipped.
  virtual void backward_merged(std::span<const TensorView<const T, 4>> x, TensorView<const T, 4> y,
                               TensorView<const T, 4> dy, std::span<const TensorView<T, 4>> dx,
                               LayerContext<T>& context) const {
    backward(x[0], y, dy, dx[0], context);
  }
  /// Standalone forward_merged with the layer's own context.
  void forward_merged(std::span<const TensorView<const T, 4>> x, TensorView<T, 4> y, bool training) {
    LayerContext<T>& context = own_context();
    context.training = training;
    if (training && !x.empty()) start_batch(x[0].dim(0));
    forward_merged(x, y, context);
  }
  /// Standalone backward_merged of the last standalone forward.
  void backward_merged(std::span<const TensorView<const T, 4>> x, TensorView<const T, 4> y, TensorView<const T, 4> dy,
                       std::span<const TensorView<T, 4>> dx) {
    backward_merged(x, y, dy, dx, own_context());
  }

  /// Total number of trainable scalars over params().
  Index parameter_count() {
    Index n = 0;
    for (const auto& p : params()) n += p.value.size();
    return n;
  }

 protected:
  /// Whether backward should compute parameter gradients: true when
  /// `context` holds one gradient view per parameter (`count`), false when it
  /// holds none (the caller wants only dx). Throws state_error naming the
  /// layer for any other number of views.
  bool wants_gradients(const LayerContext<T>& context, std::size_t count) const {
    if (context.gradients.empty()) return false;
    if (context.gradients.size() != count) {
      throw state_error(describe() + "::backward: given " + std::to_string(context.gradients.size()) +
                        " gradient views, expected " + std::to_string(count) + " (one per parameter)");
    }
    return true;
  }

  /// The context of a layer of type L: `context` as made by make_context().
  /// Throws state_error when another layer type made it.
  template <class Context>
  const Context& context_as(const LayerContext<T>& context) const {
    const auto* own = dynamic_cast<const Context*>(&context);
    if (own == nullptr) throw state_error(describe() + ": given an execution context another layer made");
    return *own;
  }
  /// The writable context of this layer type; throws as the const overload.
  template <class Context>
  Context& context_as(LayerContext<T>& context) const {
    return const_cast<Context&>(context_as<Context>(std::as_const(context)));
  }

 private:
  // Made on first use, pointing at the layer's own gradients (assignment,
  // which may replace that storage, drops it).
  LayerContext<T>& own_context() {
    if (!own_context_) {
      own_context_ = make_context();
      for (const auto& p : params()) own_context_->gradients.push_back(p.grad);
    }
    return *own_context_;
  }

  std::unique_ptr<LayerContext<T>> own_context_;  // standalone forward and backward; never copied
};

/// An owned layer of any type: what a network holds and the registry makes.
template <class T>
using LayerPtr = std::unique_ptr<Layer<T>>;

/// Standalone use outside a network (tests, experiments): allocates the output.
/// (The views are not deduced, so a Tensor converts: forward(layer, x).)
template <class T>
Tensor<T, 4> forward(Layer<T>& layer, std::type_identity_t<TensorView<const T, 4>> x, bool training = true) {
  Tensor<T, 4> y(batch_shape(x.dim(0), layer.output_shape(sample_shape(x.shape()))));
  layer.forward(x, y, training);
  return y;
}
/// Standalone backward: allocates and returns dx of x's shape; the layer's
/// parameter gradients accumulate as in Layer::backward.
template <class T>
Tensor<T, 4> backward(Layer<T>& layer, std::type_identity_t<TensorView<const T, 4>> x,
                      std::type_identity_t<TensorView<const T, 4>> y, std::type_identity_t<TensorView<const T, 4>> dy) {
  Tensor<T, 4> dx(x.shape());
  layer.backward(x, y, dy, dx);
  return dx;
}

}  // namespace fovea
