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
/// Every lane runs the one network, with the one set of weights, in an
/// execution context of its own (nn/graph.hpp): its activations, its layers'
/// saved state and, for lanes after the first, its own parameter gradients,
/// added to the network's once the lanes are done. A layer's own parallel
/// loops are nested in its lane's block: the lane's thread runs them, and a
/// thread whose lane is done takes their unstarted blocks from the back
/// (core/thread_pool.hpp), so a lane on a slower core is helped through its last
/// layers. The lanes' gradients are added to the network's in lane order,
/// lane r always gets the same samples, and the layers' blocks depend only on
/// the thread count, so a given thread count gives the same bits every run.
/// Random draws are the whole batch's (Graph::start_batch before the lanes
/// start, each lane told where its samples lie), so Dropout masks the same
/// samples the same way however the batch is cut.
///
/// One lane, the network's own layer-by-layer threading, when there is one
/// thread or one sample, or when a layer keeps buffers (BatchNorm: its batch
/// statistics are the whole batch's, and its running statistics move once
/// per batch) — unless the lanes are asked to normalise each with its own
/// samples' statistics (LaneStatistics::per_lane), as each process does in
/// distributed training without synchronised batch norm: then every network
/// runs in lanes, the running statistics follow the first lane's samples,
/// and the result depends on the thread count.

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
#include "fovea/train/loss.hpp"

namespace fovea {

/// How a training step in lanes treats layers with buffers (BatchNorm).
enum class LaneStatistics {
  whole_batch,  ///< one lane, the whole batch's statistics: the same result for any thread count
  per_lane      ///< lanes anyway, each normalising with its own samples' statistics
};

/// Runs forward, loss and backward of a batch on `net` in lanes (see this
/// file's overview). Holds a pointer to the network: keep the network alive
/// and in place while this is used. Not copyable; one per network.
template <class T>
class DataParallel {
 public:
  /// Lanes for `net`, which must outlive this object.
  explicit DataParallel(Graph<T>& net, LaneStatistics statistics = LaneStatistics::whole_batch)
      : net_(&net), statistics_(statistics) {}
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;
  /// Takes over the lanes' contexts.
  DataParallel(DataParallel&&) noexcept = default;
  /// Takes over the lanes' contexts.
  DataParallel& operator=(DataParallel&&) noexcept = default;
  ~DataParallel() = default;

  /// How many lanes a batch of n samples runs in: the thread count (at most
  /// n), or 1 when a layer keeps buffers and the statistics are the whole batch's.
  int lanes(Index n) {
    const int wanted = chunk_count(n);
    return wanted > 1 && lanes_allowed() ? wanted : 1;
  }

  /// x: [N, ...input shape] with N targets; scores: [N, K], K the output's
  /// C*H*W, receives the network's output. Every parameter gradient of the
  /// network accumulates d(mean loss)/d(parameter) over the whole batch, as
  /// net.forward(x), the loss and net.backward would leave it (call
  /// zero_grad() between steps). Returns the mean loss over the batch. In one
  /// lane this is net.forward and net.backward themselves; in several, the
  /// network's own context (activation(), output()) is left as it was.
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
    if (count == 1) return run_lane(nullptr, 0, x, targets, loss, scores, 1);

    if (net_->training()) net_->start_batch(n);
    parallel_for(count, [&](Index begin, Index end, int /*chunk*/) {
      for (Index lane = begin; lane < end; ++lane) {
        const auto l = static_cast<std::size_t>(lane);
        const Range r = chunk_range(n, count, static_cast<int>(lane));
        ExecutionContext<T>& context = contexts_[l];
        // On the lane's thread, so the gradients land in that core's cache.
        context.zero_gradients();
        context.set_batch_offset(r.begin);
        lane_loss_[l] = run_lane(&context, l, x.slice(r.begin, r.end), targets.slice(r.begin, r.end), loss,
                                 scores.slice(r.begin, r.end), static_cast<T>(r.end - r.begin) / static_cast<T>(n));
      }
    });
    add_lane_gradients(count);
    T total{0};
    for (int lane = 0; lane < count; ++lane) total += lane_loss_[static_cast<std::size_t>(lane)];
    return total;
  }

 private:
  // One lane's forward, loss and backward, in `context` (null: the network's
  // own); the loss and its gradient are scaled by `share` (the lane's part of
  // the batch), so the lanes' gradients add up to the gradient of the whole
  // batch's mean.
  T run_lane(ExecutionContext<T>* context, std::size_t lane, TensorView<const T, 4> x, const Targets<T>& targets,
             Loss<T>& loss, TensorView<T, 2> scores, T share) {
    const Index n = x.dim(0);
    const auto output = context != nullptr ? net_->forward(x, *context) : net_->forward(x);
    const auto out = output.reshape(scores.shape());
    Tensor<T, 2>& doutput = doutputs_[lane];
    doutput.resize(scores.shape());
    T value = loss.forward_backward(out, targets, doutput);
    if (share != T{1}) {
      value *= share;
      doutput.array() *= share;
    }
    scores.copy_from(out);
    const auto dy = TensorView<const T, 2>(doutput).reshape(batch_shape(n, net_->output_shape()));
    if (context != nullptr) {
      net_->backward(dy, *context);
    } else {
      net_->backward(dy);
    }
    return value;
  }

  // network gradient += lane 1's + lane 2's + ..., in that order, split
  // across threads like the optimizer's update that follows. (Lane 0's
  // context accumulates into the network's gradients directly.)
  void add_lane_gradients(int count) {
    const auto& into = net_->params();
    detail::for_each_parameter_piece(into, [&](std::size_t i, Index begin, Index end) {
      auto sum = into[i].grad.slice(begin, end).array();
      for (int lane = 1; lane < count; ++lane) {
        sum += contexts_[static_cast<std::size_t>(lane)].gradient(i).slice(begin, end).array();
      }
    });
  }

  // Whether the batch may be cut into lanes: no layer keeps buffers (see
  // this file's overview). Decided again when layers were added.
  bool lanes_allowed() {
    if (checked_layers_ == net_->size()) return lanes_allowed_;
    checked_layers_ = net_->size();
    lanes_allowed_ = net_->size() > 0;
    if (statistics_ == LaneStatistics::per_lane) return lanes_allowed_;
    for (std::size_t i = 0; i < net_->size(); ++i) {
      if (!net_->layer(i).buffers().empty()) lanes_allowed_ = false;
    }
    return lanes_allowed_;
  }

  // Contexts, per-lane output gradients and losses for `count` lanes; made
  // once (a later step of the same shape allocates nothing). Lane 0
  // accumulates into the network's gradients, the others into their own.
  void prepare(int count) {
    const auto lanes = static_cast<std::size_t>(count);
    if (doutputs_.size() < lanes) doutputs_.resize(lanes);
    if (lane_loss_.size() < lanes) lane_loss_.resize(lanes);
    if (contexts_.empty()) contexts_.emplace_back(ExecutionContext<T>::Gradients::network);
    while (contexts_.size() < lanes) {
      contexts_.emplace_back(ExecutionContext<T>::Gradients::own);
      contexts_.back().set_updates_buffers(false);  // the first lane moves the running statistics
    }
  }

  Graph<T>* net_;
  LaneStatistics statistics_;
  std::vector<ExecutionContext<T>> contexts_;  // [lane]
  std::vector<Tensor<T, 2>> doutputs_;         // [lane]: d(loss)/d(output) for its samples
  std::vector<T> lane_loss_;                   // [lane]: its share of the mean loss
  std::size_t checked_layers_ = static_cast<std::size_t>(-1);
  bool lanes_allowed_ = false;
};

}  // namespace fovea
