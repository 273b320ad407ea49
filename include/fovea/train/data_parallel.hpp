#pragma once

/// @file
/// DataParallel<T>: one training step's forward, loss and backward with the
/// batch cut into lanes, one per thread, each lane running the whole network
/// on its own samples from the first layer to the last.
///
/// Why lanes and not layers: split layer by layer, every one of a LeNet
/// step's fourteen passes hands its output to the next across the cores (the
/// samples a thread produced are not always those it consumes next, and the
/// fully connected layers' weights are read by both), and on a virtual
/// machine a cache line takes ~600 ns to cross: the same work cost 1.2x the
/// CPU time on two threads (docs/benchmarks.md). In a lane a sample's
/// activations stay in one core's cache from input to loss; what crosses is
/// each lane's parameter gradient (added once per step) and the updated
/// weights (copied once per step).
///
/// Lane 0 runs on the network itself, lane r > 0 on a replica: a network
/// rebuilt from the layers' specs (nn/registry.hpp) whose weights are copied
/// from the network at the start of each step, so it always computes with the
/// weights the optimizer last wrote. A layer's own parallel loops are nested
/// in its lane's block: the lane's thread runs them, and a thread whose lane
/// is done takes their unstarted blocks from the back (core/parallel.hpp), so
/// a lane on a slower core is helped through its last layers. The lanes'
/// gradients are added to the network's in lane order, lane r always gets the
/// same samples, and the layers' blocks depend only on the thread count, so a
/// given thread count gives the same bits every run.
///
/// One lane, the network's own layer-by-layer threading, when there is one
/// thread or one sample, or when a layer cannot be replicated: it draws random
/// numbers (Dropout: a replica would draw other masks than the network, and a
/// checkpoint would not restore its generator), it keeps buffers (BatchNorm:
/// its batch statistics must be the whole batch's, not a lane's, and the
/// running statistics a replica updated would be lost), or the registry
/// cannot rebuild it (a custom layer nobody registered).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <span>
#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/nn/registry.hpp"
#include "fovea/train/loss.hpp"

namespace fovea {

/// Runs forward, loss and backward of a batch on `net` in lanes (see this
/// file's overview). Holds a pointer to the network: keep the network alive
/// and in place while this is used. Not copyable; one per network.
template <class T>
class DataParallel {
 public:
  /// Lanes for `net`, which must outlive this object.
  explicit DataParallel(Graph<T>& net) : net_(&net) {}
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;
  /// Takes over the replicas and buffers.
  DataParallel(DataParallel&&) noexcept = default;
  /// Takes over the replicas and buffers.
  DataParallel& operator=(DataParallel&&) noexcept = default;
  ~DataParallel() = default;

  /// How many lanes a batch of n samples runs in: the thread count (at most n)
  /// when every layer can be replicated, else 1.
  int lanes(Index n) {
    const int wanted = chunk_count(n);
    return wanted > 1 && replicable() ? wanted : 1;
  }

  /// x: [N, ...input shape] with N targets; scores: [N, K], K the output's
  /// C*H*W, receives the network's output. Every parameter gradient of the
  /// network accumulates d(mean loss)/d(parameter) over the whole batch, as
  /// net.forward(x), the loss and net.backward would leave it (call
  /// zero_grad() between steps). Returns the mean loss over the batch.
  /// Afterwards the network's own forward state is lane 0's (its samples
  /// only): call forward again before a backward of your own.
  /// Throws shape_error when x does not fit the network or the targets or
  /// scores do not match x, value_error for a label outside [0, K) (as the
  /// loss names it, by its index in the batch), and whatever the layers or
  /// the loss throw; then the gradients may hold part of the batch.
  T forward_backward(TensorView<const T, 4> x, const Targets<T>& targets, Loss<T>& loss, TensorView<T, 2> scores) {
    const Index n = x.dim(0);
    const Index classes = shape_size(net_->output_shape());
    if (targets.count() != n) {
      throw shape_error("DataParallel: " + std::to_string(targets.count()) + " targets for a batch of " +
                        to_string(x.shape()));
    }
    if (scores.shape() != Shape<2>{n, classes}) {
      throw shape_error("DataParallel: scores " + to_string(scores.shape()) + ", expected " +
                        to_string(Shape<2>{n, classes}) + " for a batch of " + to_string(x.shape()));
    }
    // Checked on the whole batch, as the loss would: inside a lane the loss
    // would name a label by its place in the lane and a target by the lane's
    // shape. (loss.name() allocates: only a bad batch asks for it.)
    targets.visit(
        [&](std::span<const std::int32_t> labels) {
          const auto bad = [&](std::int32_t label) { return label < 0 || label >= classes; };
          if (std::any_of(labels.begin(), labels.end(), bad)) detail::require_labels(loss.name(), labels, {n, classes});
        },
        [&](TensorView<const T, 2> rows) {
          if (rows.shape() != Shape<2>{n, classes}) detail::require_target(loss.name(), rows.shape(), {n, classes});
        });
    // A batch the network cannot take goes to the one-lane path, where
    // the network's forward names what is wrong.
    const bool fits = n > 0 && sample_shape(x.shape()) == net_->input_shape();
    const int count = fits ? lanes(n) : 1;
    prepare(count);
    if (count == 1) return run_lane(*net_, 0, x, targets, loss, scores, 1);

    parallel_for(count, [&](Index begin, Index end, int /*chunk*/) {
      for (Index lane = begin; lane < end; ++lane) {
        const Range r = chunk_range(n, count, static_cast<int>(lane));
        Graph<T>& network = lane == 0 ? *net_ : replicas_[static_cast<std::size_t>(lane - 1)];
        if (lane > 0) start_replica(network);
        lane_loss_[static_cast<std::size_t>(lane)] =
            run_lane(network, static_cast<std::size_t>(lane), x.slice(r.begin, r.end), targets.slice(r.begin, r.end),
                     loss, scores.slice(r.begin, r.end), static_cast<T>(r.end - r.begin) / static_cast<T>(n));
      }
    });
    add_replica_gradients(count);
    T total{0};
    for (int lane = 0; lane < count; ++lane) total += lane_loss_[static_cast<std::size_t>(lane)];
    return total;
  }

 private:
  // One lane's forward, loss and backward; the loss and its gradient are
  // scaled by `share` (the lane's part of the batch), so the lanes' gradients
  // add up to the gradient of the whole batch's mean.
  T run_lane(Graph<T>& network, std::size_t lane, TensorView<const T, 4> x, const Targets<T>& targets, Loss<T>& loss,
             TensorView<T, 2> scores, T share) {
    const Index n = x.dim(0);
    const auto output = network.forward(x);
    const auto out = output.reshape(scores.shape());
    Tensor<T, 2>& doutput = doutputs_[lane];
    doutput.resize(scores.shape());
    T value = loss.forward_backward(out, targets, doutput);
    if (share != T{1}) {
      value *= share;
      doutput.array() *= share;
    }
    scores.copy_from(out);
    network.backward(TensorView<const T, 2>(doutput).reshape(batch_shape(n, network.output_shape())));
    return value;
  }

  // A replica computes with the network's current weights and its own zeroed
  // gradients; run on the lane's thread, so they land in that core's cache
  // (not zero_grad(), which would split them across the threads again).
  void start_replica(Graph<T>& replica) const {
    const auto& from = net_->params();
    const auto& to = replica.params();
    for (std::size_t i = 0; i < from.size(); ++i) {
      to[i].value.copy_from(from[i].value);
      to[i].grad.fill(T{0});
    }
  }

  // network gradient += replica 1's + replica 2's + ..., in that order, split
  // across threads like the optimizer's update that follows.
  void add_replica_gradients(int count) {
    const auto& into = net_->params();
    detail::for_each_parameter_piece(into, [&](std::size_t i, Index begin, Index end) {
      auto sum = into[i].grad.slice(begin, end).array();
      for (int lane = 1; lane < count; ++lane) {
        sum += replicas_[static_cast<std::size_t>(lane - 1)].params()[i].grad.slice(begin, end).array();
      }
    });
  }

  // The network rebuilt from its layers' specs, node for node with the same
  // names, inputs and outputs (weights are copied per step).
  Graph<T> make_replica() const {
    Graph<T> replica(net_->input_shape());
    for (std::size_t i = 0; i < net_->size(); ++i) {
      const Node node{static_cast<Index>(i) + 1};
      replica.add(net_->name(node), make_layer<T>(net_->layer(i).spec()), net_->inputs(node));
    }
    replica.set_outputs(net_->outputs());
    return replica;
  }

  // Whether every layer can run in a replica, decided again when layers were
  // added: the first replica is built here, and its building is the test.
  bool replicable() {
    if (checked_layers_ == net_->size()) return replicable_;
    replicas_.clear();
    checked_layers_ = net_->size();
    replicable_ = false;
    for (std::size_t i = 0; i < net_->size(); ++i) {
      if (net_->layer(i).rng() != nullptr || !net_->layer(i).buffers().empty()) return false;
    }
    if (net_->size() == 0) return false;
    try {
      replicas_.push_back(make_replica());
      replicable_ = true;
    } catch (const std::exception&) {  // an unregistered type, or settings its factory rejects
    }
    return replicable_;
  }

  // Replicas, per-lane output gradients and losses for `count` lanes; built
  // once (a later step of the same shape allocates nothing).
  void prepare(int count) {
    const auto lanes = static_cast<std::size_t>(count);
    if (doutputs_.size() < lanes) doutputs_.resize(lanes);
    if (lane_loss_.size() < lanes) lane_loss_.resize(lanes);
    while (replicas_.size() + 1 < lanes) replicas_.push_back(make_replica());
    for (std::size_t r = 0; r + 1 < lanes; ++r) replicas_[r].set_training(net_->training());
  }

  Graph<T>* net_;
  std::vector<Graph<T>> replicas_;      // lane r > 0 runs on replicas_[r - 1]
  std::vector<Tensor<T, 2>> doutputs_;  // [lane]: d(loss)/d(output) for its samples
  std::vector<T> lane_loss_;            // [lane]: its share of the mean loss
  std::size_t checked_layers_ = static_cast<std::size_t>(-1);
  bool replicable_ = false;
};

}  // namespace fovea
