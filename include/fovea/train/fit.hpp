#pragma once

/// @file
/// The training loop and evaluation.
///
/// @code
/// fit(net, loss, optimizer, train, options[, validation]) -> History
/// evaluate(net, loss, data, batch_size) -> Evaluation
/// @endcode
///
/// Each epoch visits the training set in an order shuffled from
/// (options.seed, epoch) alone, so a run resumed at epoch k (start_epoch = k)
/// continues exactly as the uninterrupted run would have. With the same seed,
/// data and thread count, the final weights are identical bit for bit.
///
/// Everything that can be checked before training is: the options, the data's
/// sample shapes, and that the optimizer updates this network's parameters.
/// A sample holding NaN or infinity, or a label outside [0, K), is refused
/// with its index in the data set, in training and validation data alike.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <numeric>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/random.hpp"
#include "fovea/detail/number_format.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/optim/optimizer.hpp"
#include "fovea/optim/schedule.hpp"
#include "fovea/train/data.hpp"
#include "fovea/train/data_parallel.hpp"
#include "fovea/train/loss.hpp"
#include "fovea/train/metrics.hpp"
#include "fovea/train/progress.hpp"

namespace fovea {

/// What evaluate() measures over a whole data set.
struct Evaluation {
  double loss = 0;              ///< Mean loss per sample (0 for an empty set).
  double accuracy = 0;          ///< Fraction of samples whose highest score is the true class.
  ConfusionMatrix confusion{};  ///< Counts of true class (rows) against predicted class (columns).
};

/// One epoch's figures, handed to FitOptions::on_epoch_end and kept in History.
struct EpochReport {
  int epoch = 0;                                ///< counted from 0
  double learning_rate = 0;                     ///< The rate the epoch ran at, after the schedule.
  double train_loss = 0;                        ///< Mean training loss per sample over the epoch.
  double train_accuracy = 0;                    ///< Fraction of training samples classified right during the epoch.
  std::optional<double> validation_loss{};      ///< Mean validation loss; empty without a validation set.
  std::optional<double> validation_accuracy{};  ///< Validation accuracy; empty without a validation set.
  double seconds = 0;                           ///< Wall time of the epoch's training, validation not included.
  double images_per_second = 0;                 ///< Training samples per second of that wall time.
};

/// One batch's figures, handed to FitOptions::on_batch_end.
struct BatchReport {
  int epoch = 0;      ///< Counted from 0.
  Index batch = 0;    ///< This batch within the epoch, counted from 0.
  Index batches = 0;  ///< Batches per epoch.
  double loss = 0;    ///< This batch's mean loss.
};

/// The figure early stopping watches. Without a validation set the training
/// loss or accuracy stands in.
enum class Monitor {
  validation_loss,     ///< Lower is better.
  validation_accuracy  ///< Higher is better.
};

/// When to end training before FitOptions::epochs because the monitored figure stopped improving.
struct EarlyStopping {
  int patience = 0;                            ///< epochs without improvement before stopping; 0 = never; not negative
  Monitor monitor = Monitor::validation_loss;  ///< The figure to watch.
  double min_delta = 0;                        ///< an improvement smaller than this does not count; not negative
};

/// The other processes fit() shares each batch with, when it is one of
/// several training the same network (fovea/mpi.hpp fills this in; see
/// docs/distributed.md). With size 1, the default, fit runs alone.
///
/// Process `rank` trains on samples [count * rank / size, count * (rank + 1) /
/// size) of each batch of `count`; its gradients are of its share's mean loss.
/// Every process must then take the same steps, so every decision fit makes
/// (divergence, early stopping) is taken from figures summed over them.
struct FitPeers {
  int rank = 0;  ///< This process, in [0, size).
  int size = 1;  ///< Processes sharing each batch; 1: alone.
  /// Called before each batch's forward with this process's share of it
  /// (its samples / the batch's), which its gradients must be scaled by.
  std::function<void(double share)> begin_batch{};
  /// Called after this process's backward: must leave in every parameter
  /// gradient, on every process, the sum over processes of share x gradient.
  std::function<void()> reduce_gradients{};
  /// Sums `values` over the processes, in place, with the same result on each.
  std::function<void(std::span<double> values)> sum{};
};

/// The settings of fit().
struct FitOptions {
  int epochs = 10;         ///< Total epochs, counting any skipped by start_epoch; must be positive.
  Index batch_size = 64;   ///< Samples per batch (the last batch of an epoch may be shorter); must be positive.
  std::uint64_t seed = 0;  ///< Seeds each epoch's shuffle, together with the epoch number.
  int start_epoch = 0;     ///< Resume: epochs before this one are skipped; in [0, epochs].
  /// Threads for this call only (the previous count is restored when fit
  /// returns or throws); 0 keeps the current count; at most thread_limit().
  int threads = 0;
  /// With several threads, a network with BatchNorm trains in one lane with
  /// the whole batch's statistics (whole_batch, the default: the same result
  /// for any thread count), or in one lane per thread, each normalising with
  /// its own samples' statistics (per_lane: faster, as in distributed
  /// training without synchronised batch norm; see train/data_parallel.hpp).
  LaneStatistics lane_statistics = LaneStatistics::whole_batch;
  Schedule schedule = Schedule::constant();  ///< Factor on the optimizer's rate, per epoch.
  EarlyStopping early_stopping{};            ///< Off by default (patience 0).
  /// Training has diverged when a batch's loss exceeds this factor times
  /// max(1, the first batch's loss): fit then restores the weights from before
  /// the last update and throws numeric_error. 0 stops only on a non-finite
  /// loss; otherwise at least 1.
  double divergence_factor = 1e3;
  ProgressStyle progress = ProgressStyle::automatic;  ///< How progress is shown on `log`.
  std::ostream* log = &std::cout;  ///< Where progress goes; null writes nothing, but ProgressStyle::bar needs a stream.
  std::function<void(const BatchReport&)> on_batch_end{};  ///< Called after each batch's update, if set.
  /// Called after each epoch; returning false stops training.
  std::function<bool(const EpochReport&)> on_epoch_end{};
  FitPeers peers{};  ///< Other processes sharing each batch (fovea/mpi.hpp); alone by default.
};

/// What fit() returns.
struct History {
  std::vector<EpochReport> epochs;  ///< One report per epoch run, in order.
  bool stopped_early = false;       ///< Whether early stopping ended training (not on_epoch_end).
};

namespace detail {

[[gnu::cold]] inline std::string format_epoch(const EpochReport& r, int epochs) {
  std::ostringstream out;
  out << std::fixed << "epoch " << r.epoch + 1 << "/" << epochs << "  lr " << std::setprecision(5) << r.learning_rate
      << "  train loss " << std::setprecision(4) << r.train_loss << " acc " << std::setprecision(2)
      << 100 * r.train_accuracy << "%";
  if (r.validation_loss) {
    out << "  val loss " << std::setprecision(4) << *r.validation_loss << " acc " << std::setprecision(2)
        << 100 * *r.validation_accuracy << "%";
  }
  out << "  " << std::setprecision(1) << r.seconds << "s  " << std::setprecision(0) << r.images_per_second << " img/s";
  return out.str();
}

// The shuffle generator for an epoch depends only on the seed and the epoch.
inline Rng epoch_rng(std::uint64_t seed, int epoch) {
  return Rng(seed ^ (0x9E3779B97F4A7C15ULL * static_cast<std::uint64_t>(epoch + 1)));
}

template <class T>
Index count_correct(TensorView<const T, 2> scores, std::span<const std::int32_t> labels) {
  Index correct = 0;
  for (Index i = 0; i < scores.dim(0); ++i) {
    const T* row = &scores(i, 0);
    const auto best = std::max_element(row, row + scores.dim(1)) - row;
    correct += best == labels[static_cast<std::size_t>(i)] ? 1 : 0;
  }
  return correct;
}

// These passes run between every two training steps, split across threads
// like the optimizer's update (each core then reads the rows it has just
// updated, and the pool's threads stay awake for the next step instead of
// falling asleep in a serial gap).
template <class T>
bool all_finite(const std::vector<Parameter<T>>& params, TensorView<T, 1> Parameter<T>::*part) {
  std::atomic<bool> finite{true};
  for_each_parameter_piece(params, [&](std::size_t i, Index begin, Index end) {
    if (!(params[i].*part).slice(begin, end).array().allFinite()) finite.store(false, std::memory_order_relaxed);
  });
  return finite.load();
}
template <class T>
bool gradients_finite(const std::vector<Parameter<T>>& params) {
  return all_finite(params, &Parameter<T>::grad);
}
template <class T>
bool values_finite(const std::vector<Parameter<T>>& params) {
  return all_finite(params, &Parameter<T>::value);
}

// Where fit is in its training, for its error messages: epoch and batch
// counted from 0, and the optimizer's steps so far; epoch -1 outside fit's
// loop (evaluate), where messages name no position.
struct FitPosition {
  int epoch = -1;
  Index batch = 0;
  Index steps = 0;
};

// fit's and evaluate's error messages, built out of line: cold (optimised for
// size) and not templates, so the training loop carries calls, not string code.

// ", at epoch 2, batch 7 (step 19)", or "" outside fit's loop.
[[gnu::cold]] inline std::string describe(const FitPosition& at) {
  if (at.epoch < 0) return {};
  return ", at epoch " + std::to_string(at.epoch + 1) + ", batch " + std::to_string(at.batch + 1) + " (step " +
         std::to_string(at.steps + 1) + ")";
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_sample_not_finite(std::string_view what, Index index,
                                                                           double value, Index element,
                                                                           const Shape<3>& sample,
                                                                           const FitPosition& at) {
  throw numeric_error(std::string(what) + " " + std::to_string(index) + " holds " + detail::format_number(value) +
                      " at element " + std::to_string(element) + " of " + to_string(sample) + describe(at));
}
// "fit: <problem> (learning rate r): training diverged; lower the learning rate<weights>"
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_diverged(const std::string& problem, double learning_rate,
                                                                  const char* weights) {
  throw numeric_error("fit: " + problem + " (learning rate " + detail::format_number(learning_rate) +
                      "): training diverged; lower the learning rate" + weights);
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_loss_not_finite(double loss, const FitPosition& at,
                                                                         double learning_rate) {
  throw_diverged("the loss is " + detail::format_number(loss) + describe(at), learning_rate, "");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_loss_diverged(double loss, const FitPosition& at, double limit,
                                                                       double divergence_factor, double learning_rate) {
  std::ostringstream above;
  above << limit << " (divergence_factor " << divergence_factor << ")";
  throw_diverged("the loss rose to " + detail::format_number(loss) + describe(at) + ", above " + above.str(),
                 learning_rate, "; the weights are those before the last update");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_gradient_not_finite(const FitPosition& at) {
  throw numeric_error("fit: a gradient is not finite at epoch " + std::to_string(at.epoch + 1) + ", batch " +
                      std::to_string(at.batch + 1) + "; the weights were left as they were before this batch");
}
[[noreturn, gnu::cold, gnu::noinline]] inline void throw_update_not_finite(const FitPosition& at,
                                                                           double learning_rate) {
  throw_diverged("the update at epoch " + std::to_string(at.epoch + 1) + ", batch " + std::to_string(at.batch + 1) +
                     " made a weight non-finite",
                 learning_rate, "; the weights were left as they were before this batch");
}

// Throws numeric_error for the first sample of x [n, C, H, W] that holds NaN
// or infinity, named by its index in the data set (indices[i] for row i):
// "<what> 37 holds nan at element 68 of [1, 16, 16]<position>".
template <class T>
void require_finite_samples(TensorView<const T, 4> x, std::span<const Index> indices, std::string_view what,
                            const FitPosition& at) {
  if (x.array().allFinite()) return;
  for (Index i = 0; i < x.dim(0); ++i) {
    const auto sample = x.item(i);
    for (Index e = 0; e < sample.size(); ++e) {
      if (!std::isfinite(sample.data()[e])) {
        throw_sample_not_finite(what, indices[static_cast<std::size_t>(i)], static_cast<double>(sample.data()[e]), e,
                                sample_shape(x.shape()), at);
      }
    }
  }
}

// Throws value_error for the first label outside [0, classes), named by its
// sample's index in the data set: "<what> 20 has label 9, out of range for 4 classes<position>".
inline void require_labels_in_range(std::span<const std::int32_t> labels, std::span<const Index> indices, Index classes,
                                    std::string_view what, const FitPosition& at) {
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= classes) {
      throw value_error(std::string(what) + " " + std::to_string(indices[i]) + " has label " +
                        std::to_string(labels[i]) + ", out of range for " + std::to_string(classes) + " classes" +
                        describe(at));
    }
  }
}

// fit's thread count for the length of one call: set on construction (0:
// unchanged), the previous count restored on destruction, also when fit throws.
class CallThreads {
 public:
  explicit CallThreads(int threads) : saved_(max_threads()) {
    if (threads > 0) set_threads(threads);
  }
  CallThreads(const CallThreads&) = delete;
  CallThreads& operator=(const CallThreads&) = delete;
  CallThreads(CallThreads&&) = delete;
  CallThreads& operator=(CallThreads&&) = delete;
  // The saved count was valid when read, so storing it back cannot fail.
  ~CallThreads() { thread_setting().store(saved_); }

 private:
  int saved_;
};

// An optimizer over another network's parameters would step tensors this
// network never reads: fit would train nothing. Every parameter the optimizer
// updates must be one of the network's (a subset is fine: the rest stay
// frozen), and appear once.
template <class T>
void require_optimizer_of(const Graph<T>& net, const Optimizer<T>& optimizer) {
  const auto& mine = net.params();
  const auto& theirs = optimizer.params();
  if (theirs.empty()) throw value_error("fit: the optimizer has no parameters to update");
  for (std::size_t i = 0; i < theirs.size(); ++i) {
    const auto same = [&](const Parameter<T>& p) {
      return p.value.data() == theirs[i].value.data() && p.value.size() == theirs[i].value.size();
    };
    if (std::none_of(mine.begin(), mine.end(), same)) {
      throw value_error("fit: the optimizer's parameter " + std::to_string(i) + " ('" + theirs[i].name + "', " +
                        std::to_string(theirs[i].value.size()) +
                        " values) is not one of the network's; build the optimizer over net.params()");
    }
    if (std::any_of(theirs.begin(), theirs.begin() + static_cast<std::ptrdiff_t>(i), same)) {
      throw value_error("fit: the optimizer updates parameter '" + theirs[i].name + "' twice (entries " +
                        std::to_string(std::find_if(theirs.begin(), theirs.end(), same) - theirs.begin()) + " and " +
                        std::to_string(i) + ")");
    }
  }
}

// The options fit checks before its first batch (a function of its own: the
// same for every element type and data set).
[[gnu::cold]] inline void require_fit_options(const FitOptions& options) {
  auto number = [](double v) {
    std::ostringstream out;
    out << v;
    return out.str();
  };
  if (options.epochs <= 0) throw value_error("fit: epochs must be positive, got " + std::to_string(options.epochs));
  if (options.batch_size <= 0) {
    throw value_error("fit: batch_size must be positive, got " + std::to_string(options.batch_size));
  }
  if (options.start_epoch < 0 || options.start_epoch > options.epochs) {
    throw value_error("fit: start_epoch must be in [0, epochs = " + std::to_string(options.epochs) + "], got " +
                      std::to_string(options.start_epoch));
  }
  if (options.threads < 0 || options.threads > thread_limit()) {
    throw value_error("fit: threads must be 0 (keep the current count) or in [1, " + std::to_string(thread_limit()) +
                      "], got " + std::to_string(options.threads));
  }
  if (options.early_stopping.patience < 0) {
    throw value_error("fit: early_stopping.patience must be >= 0 (0: off), got " +
                      std::to_string(options.early_stopping.patience));
  }
  if (!(options.early_stopping.min_delta >= 0)) {
    throw value_error("fit: early_stopping.min_delta must be >= 0, got " + number(options.early_stopping.min_delta));
  }
  if (!(options.divergence_factor == 0 || options.divergence_factor >= 1)) {
    throw value_error("fit: divergence_factor must be 0 (off) or >= 1, got " + number(options.divergence_factor));
  }
  const FitPeers& peers = options.peers;
  if (peers.size < 1 || peers.rank < 0 || peers.rank >= peers.size) {
    throw value_error("fit: peers.rank must be in [0, peers.size) with peers.size >= 1, got rank " +
                      std::to_string(peers.rank) + " of " + std::to_string(peers.size));
  }
  if (peers.size > 1 && (!peers.reduce_gradients || !peers.sum)) {
    throw value_error("fit: peers.size is " + std::to_string(peers.size) +
                      " but peers.reduce_gradients or peers.sum is not set");
  }
}

// fit's Validation without a validation set: no evaluation is compiled into
// a program that never validates.
struct NoValidation {};

// Everything fit can check before its first batch, in the order a reader
// would fix them: options, data, network, optimizer.
template <class T, class Data, class Validation>
void require_fit_arguments(const Graph<T>& net, const Optimizer<T>& optimizer, const Data& train,
                           const FitOptions& options, const Validation* validation) {
  require_fit_options(options);
  if (train.size() <= 0) throw value_error("fit: the training set is empty");
  if (train.sample_shape() != net.input_shape()) {
    throw shape_error("fit: training samples " + to_string(train.sample_shape()) + " but the network takes " +
                      to_string(net.input_shape()));
  }
  if constexpr (!std::is_same_v<Validation, NoValidation>) {
    if (validation != nullptr && validation->size() <= 0) throw value_error("fit: the validation set is empty");
    if (validation != nullptr && validation->sample_shape() != net.input_shape()) {
      throw shape_error("fit: validation samples " + to_string(validation->sample_shape()) + " but the network takes " +
                        to_string(net.input_shape()));
    }
  }
  if (net.output_shape()[1] != 1 || net.output_shape()[2] != 1) {
    throw shape_error("fit: the network's output " + to_string(net.output_shape()) +
                      " is not a vector of class scores [K, 1, 1]");
  }
  require_optimizer_of(net, optimizer);
}

// Copies every parameter value into `saved` (to_saved) or back from it.
template <class T>
void copy_values(const std::vector<Parameter<T>>& params, std::vector<T>& saved, bool to_saved) {
  for_each_parameter_piece(params, [&](std::size_t i, Index begin, Index end) {
    Index offset = 0;  // where parameter i starts in `saved`
    for (std::size_t k = 0; k < i; ++k) offset += params[k].value.size();
    ArrayMap<T> copy(saved.data() + offset + begin, end - begin);
    if (to_saved) {
      copy = params[i].value.slice(begin, end).array();
    } else {
      params[i].value.slice(begin, end).array() = copy;
    }
  });
}

}  // namespace detail

namespace detail {

// evaluate(), with `what` naming a sample in errors ("evaluate: sample", or
// "fit: validation sample" when fit evaluates its validation set).
template <class T, class Data>
Evaluation evaluate_impl(Graph<T>& net, Loss<T>& loss, const Data& data, Index batch_size, std::string_view what,
                         const FitPeers& peers = {}) {
  if (batch_size <= 0) throw value_error("evaluate: batch_size must be positive, got " + std::to_string(batch_size));
  if (data.sample_shape() != net.input_shape()) {
    throw shape_error("evaluate: data samples " + to_string(data.sample_shape()) + " but the network takes " +
                      to_string(net.input_shape()));
  }
  const bool was_training = net.training();
  // Restores the mode also when a bad sample or label throws.
  struct RestoreMode {
    Graph<T>& net;
    bool training;
    ~RestoreMode() { net.set_training(training); }
  } restore{net, was_training};
  net.set_training(false);
  const Index n = data.size();
  const Index classes = net.output_shape()[0];
  Evaluation result{.confusion = ConfusionMatrix(classes)};
  Tensor<T, 4> x(batch_shape(std::min(batch_size, n), data.sample_shape()));
  std::vector<std::int32_t> labels(static_cast<std::size_t>(x.dim(0)));
  std::vector<std::int32_t> predicted(labels.size());
  std::vector<Index> indices(static_cast<std::size_t>(n));
  std::iota(indices.begin(), indices.end(), Index{0});
  double loss_sum = 0;
  // With peers, each process evaluates its own part of the data set.
  const Index first = n * peers.rank / peers.size;
  const Index last = n * (peers.rank + 1) / peers.size;
  for (Index begin = first; begin < last; begin += batch_size) {
    const Index count = std::min(batch_size, last - begin);
    auto xb = x.slice(0, count);
    std::span<std::int32_t> yb(labels.data(), static_cast<std::size_t>(count));
    const auto batch_indices =
        std::span<const Index>(indices).subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(count));
    data.make_batch(batch_indices, xb, yb);
    // A NaN would otherwise pass through as a loss and an accuracy.
    require_finite_samples<T>(xb, batch_indices, what, FitPosition{});
    require_labels_in_range(yb, batch_indices, classes, what, FitPosition{});
    auto scores = net.forward(xb).reshape(Shape<2>{count, classes});
    // A NaN score would still be counted as some class (max_element of NaN).
    if (!scores.array().allFinite()) {
      const auto rows = scores.matrix();
      for (Index i = 0; i < count; ++i) {
        for (Index k = 0; k < classes; ++k) {
          if (std::isfinite(rows(i, k))) continue;
          throw numeric_error(std::string(what) + " " + std::to_string(batch_indices[static_cast<std::size_t>(i)]) +
                              " is finite but the network's output for it holds " +
                              detail::format_number(static_cast<double>(rows(i, k))) + " at class " +
                              std::to_string(k) + ": a weight is not finite or the network overflowed");
        }
      }
    }
    loss_sum += static_cast<double>(loss.forward_backward(scores, Targets<T>(yb), TensorView<T, 2>())) *
                static_cast<double>(count);
    std::span<std::int32_t> pb(predicted.data(), static_cast<std::size_t>(count));
    argmax_rows(scores, pb);
    for (Index i = 0; i < count; ++i)
      result.confusion.add(yb[static_cast<std::size_t>(i)], pb[static_cast<std::size_t>(i)]);
  }
  if (peers.size > 1) {
    std::vector<double> figures(static_cast<std::size_t>(1 + classes * classes));
    figures[0] = loss_sum;
    for (Index t = 0; t < classes; ++t)
      for (Index p = 0; p < classes; ++p)
        figures[static_cast<std::size_t>(1 + t * classes + p)] = static_cast<double>(result.confusion.count(t, p));
    peers.sum(figures);
    loss_sum = figures[0];
    result.confusion = ConfusionMatrix(classes);
    for (Index t = 0; t < classes; ++t) {
      for (Index p = 0; p < classes; ++p) {
        const auto times = static_cast<Index>(figures[static_cast<std::size_t>(1 + t * classes + p)]);
        for (Index i = 0; i < times; ++i)
          result.confusion.add(static_cast<std::int32_t>(t), static_cast<std::int32_t>(p));
      }
    }
  }
  result.loss = n > 0 ? loss_sum / static_cast<double>(n) : 0.0;
  result.accuracy = result.confusion.accuracy();
  return result;
}

}  // namespace detail

/// Mean loss, accuracy and confusion matrix over a whole data set, in
/// inference mode (the network's mode is restored afterwards). Batches hold at
/// most `batch_size` samples. Throws value_error for a batch_size below 1 or a
/// label outside [0, K), shape_error when the data's sample shape is not the
/// network's input shape, and numeric_error for a sample holding NaN or
/// infinity or whose output does; a bad sample is named by its index in `data`.
template <class T, BatchSource<T> Data>
Evaluation evaluate(Graph<T>& net, Loss<T>& loss, const Data& data, Index batch_size = 256) {
  return detail::evaluate_impl<T, Data>(net, loss, data, batch_size, "evaluate: sample");
}

namespace detail {

template <class T, class Data, class Validation>
History fit_impl(Graph<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train, const FitOptions& options,
                 const Validation* validation) {
  require_fit_arguments(net, optimizer, train, options, validation);
  const CallThreads call_threads(options.threads);
  const FitPeers& peers = options.peers;

  const Index n = train.size();
  const Index batch = std::min(options.batch_size, n);
  const Index batches = (n + batch - 1) / batch;
  const Index classes = net.output_shape()[0];
  const double base_rate = optimizer.learning_rate();

  // Every buffer the loop needs, allocated once.
  Tensor<T, 4> x(batch_shape(batch, train.sample_shape()));
  Tensor<T, 2> scores(Shape<2>{batch, classes});
  DataParallel<T> lanes(net, options.lane_statistics);  // each thread runs the whole network on its part of a batch
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  std::vector<Index> order(static_cast<std::size_t>(n));
  Index weight_count = 0;
  for (const auto& p : optimizer.params()) weight_count += p.value.size();
  std::vector<T> previous_weights(static_cast<std::size_t>(weight_count));

  Progress progress(options.log, options.progress);
  History history;
  double best = 0;
  int epochs_without_improvement = 0;
  double divergence_limit = 0;  // set from the first batch's loss
  bool stepped = false;         // previous_weights holds the weights before the last update
  net.set_training(true);

  for (int epoch = options.start_epoch; epoch < options.epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    optimizer.set_learning_rate(base_rate * options.schedule.factor(epoch));
    std::iota(order.begin(), order.end(), Index{0});
    Rng rng = epoch_rng(options.seed, epoch);
    rng.shuffle(std::span<Index>(order));
    progress.start_epoch(epoch, options.epochs, batches);

    double loss_sum = 0;
    Index correct = 0;
    for (Index b = 0; b < batches; ++b) {
      const Index begin = b * batch;
      const Index count = std::min(batch, n - begin);
      // This process's share of the batch: all of it when alone (FitPeers).
      const Index mine = count * (peers.rank + 1) / peers.size - count * peers.rank / peers.size;
      const Index my_begin = begin + count * peers.rank / peers.size;
      auto xb = x.slice(0, mine);
      auto sb = scores.slice(0, mine);
      std::span<std::int32_t> yb(labels.data(), static_cast<std::size_t>(mine));
      const auto batch_indices =
          std::span<const Index>(order).subspan(static_cast<std::size_t>(my_begin), static_cast<std::size_t>(mine));
      train.make_batch(batch_indices, xb, yb);
      const FitPosition at{epoch, b, optimizer.steps()};
      // The batch's own position of a bad sample means nothing to the caller:
      // these name its index in the training set.
      require_finite_samples<T>(xb, batch_indices, "fit: training sample", at);
      require_labels_in_range(yb, batch_indices, classes, "fit: training sample", at);

      optimizer.zero_grad();
      double batch_loss = 0;
      Index batch_correct = 0;
      if (peers.size == 1) {
        batch_loss = static_cast<double>(lanes.forward_backward(xb, Targets<T>(yb), loss, sb));
        batch_correct = count_correct<T>(sb, yb);
      } else {
        const double share = static_cast<double>(mine) / static_cast<double>(count);
        if (peers.begin_batch) peers.begin_batch(share);
        if (mine > 0) {
          batch_loss = share * static_cast<double>(lanes.forward_backward(xb, Targets<T>(yb), loss, sb));
          batch_correct = count_correct<T>(sb, yb);
        }
        peers.reduce_gradients();
        std::array<double, 2> figures{batch_loss, static_cast<double>(batch_correct)};
        peers.sum(figures);
        batch_loss = figures[0];
        batch_correct = static_cast<Index>(figures[1]);
      }
      if (!std::isfinite(batch_loss)) throw_loss_not_finite(batch_loss, at, optimizer.learning_rate());
      // A loss far above where training started: each update is overshooting.
      // Finite weights are no proof of health (at a learning rate of 1e6 they
      // reach 1e10 and the loss 1e9 while every check above passes).
      if (divergence_limit == 0) divergence_limit = options.divergence_factor * std::max(1.0, batch_loss);
      if (options.divergence_factor > 0 && batch_loss > divergence_limit) {
        if (stepped) copy_values(optimizer.params(), previous_weights, false);
        throw_loss_diverged(batch_loss, at, divergence_limit, options.divergence_factor, optimizer.learning_rate());
      }
      loss_sum += batch_loss * static_cast<double>(count);
      correct += batch_correct;
      if (!gradients_finite(optimizer.params())) throw_gradient_not_finite(at);
      // A step can overflow even from finite gradients (a huge learning rate):
      // keep the weights from before it, so a diverged run never leaves
      // non-finite weights behind for a checkpoint to write.
      copy_values(optimizer.params(), previous_weights, true);
      stepped = true;
      optimizer.step();
      if (!values_finite(optimizer.params())) {
        copy_values(optimizer.params(), previous_weights, false);
        throw_update_not_finite(at, optimizer.learning_rate());
      }

      const Index seen = begin + count;
      progress.batch_done(b, loss_sum / static_cast<double>(seen));
      if (options.on_batch_end) options.on_batch_end({epoch, b, batches, batch_loss});
    }

    EpochReport report;
    report.epoch = epoch;
    report.learning_rate = optimizer.learning_rate();
    report.train_loss = loss_sum / static_cast<double>(n);
    report.train_accuracy = static_cast<double>(correct) / static_cast<double>(n);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    report.images_per_second = static_cast<double>(n) / std::max(report.seconds, 1e-9);
    if constexpr (!std::is_same_v<Validation, NoValidation>) {
      if (validation != nullptr) {
        const Evaluation v = evaluate_impl<T, Validation>(net, loss, *validation, std::max<Index>(batch, 256),
                                                          "fit: validation sample", peers);
        report.validation_loss = v.loss;
        report.validation_accuracy = v.accuracy;
      }
    }
    progress.end_epoch(format_epoch(report, options.epochs));
    history.epochs.push_back(report);

    bool keep_going = !options.on_epoch_end || options.on_epoch_end(report);
    if (options.early_stopping.patience > 0) {
      const bool by_accuracy = options.early_stopping.monitor == Monitor::validation_accuracy;
      // Without a validation set the training figures stand in.
      const double value = by_accuracy ? report.validation_accuracy.value_or(report.train_accuracy)
                                       : -report.validation_loss.value_or(report.train_loss);
      if (history.epochs.size() == 1 || value > best + options.early_stopping.min_delta) {
        best = value;
        epochs_without_improvement = 0;
      } else if (++epochs_without_improvement >= options.early_stopping.patience) {
        history.stopped_early = true;
        keep_going = false;
      }
    }
    if (!keep_going) break;
  }
  optimizer.set_learning_rate(base_rate);
  return history;
}

}  // namespace detail

/// Trains `net` on `train` for options.epochs epochs: per batch, forward, loss,
/// backward, one optimizer step. On return the optimizer's learning rate is
/// back to its base rate, and the thread count is what it was before the call.
/// Throws, before training: value_error for an option out of range
/// (FitOptions says each one's), an empty data set, or an optimizer that does
/// not update this network's parameters; shape_error when the samples do not
/// fit the network. While training: value_error for a label outside [0, K)
/// and numeric_error for a sample holding NaN or infinity (both name the
/// sample's index in the data set), and numeric_error when the loss, a
/// gradient or an updated weight is not finite (the weights are then left as
/// they were before that batch) or the loss has diverged (see
/// FitOptions::divergence_factor).
template <class T, BatchSource<T> Data>
History fit(Graph<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train, const FitOptions& options = {}) {
  return detail::fit_impl<T, Data, detail::NoValidation>(net, loss, optimizer, train, options, nullptr);
}

/// As fit() above, and evaluates `validation` after each epoch (EpochReport's
/// validation figures; early stopping watches them). The two sets may be of
/// different types: augmented training data (train/augment.hpp) with a plain
/// validation set.
template <class T, BatchSource<T> Data, BatchSource<T> Validation>
History fit(Graph<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train, const Validation& validation,
            const FitOptions& options = {}) {
  return detail::fit_impl<T, Data, Validation>(net, loss, optimizer, train, options, &validation);
}

}  // namespace fovea
