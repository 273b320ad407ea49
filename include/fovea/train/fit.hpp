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

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <iostream>
#include <numeric>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/random.hpp"
#include "fovea/nn/sequential.hpp"
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
  int patience = 0;                            ///< epochs without improvement before stopping; 0 = never stop early
  Monitor monitor = Monitor::validation_loss;  ///< The figure to watch.
  double min_delta = 0;                        ///< an improvement smaller than this does not count
};

/// The settings of fit().
struct FitOptions {
  int epochs = 10;         ///< Total epochs, counting any skipped by start_epoch; must be positive.
  Index batch_size = 64;   ///< Samples per batch (the last batch of an epoch may be shorter); must be positive.
  std::uint64_t seed = 0;  ///< Seeds each epoch's shuffle, together with the epoch number.
  int start_epoch = 0;     ///< resume: epochs before this one are skipped
  int threads = 0;         ///< 0: leave the current setting
  Schedule schedule = Schedule::constant();           ///< Factor on the optimizer's rate, per epoch.
  EarlyStopping early_stopping{};                     ///< Off by default (patience 0).
  ProgressStyle progress = ProgressStyle::automatic;  ///< How progress is shown on `log`.
  std::ostream* log = &std::cout;  ///< Where progress goes; null writes nothing, but ProgressStyle::bar needs a stream.
  std::function<void(const BatchReport&)> on_batch_end{};  ///< Called after each batch's update, if set.
  /// Called after each epoch; returning false stops training.
  std::function<bool(const EpochReport&)> on_epoch_end{};
};

/// What fit() returns.
struct History {
  std::vector<EpochReport> epochs;  ///< One report per epoch run, in order.
  bool stopped_early = false;       ///< Whether early stopping ended training (not on_epoch_end).
};

namespace detail {

inline std::string format_epoch(const EpochReport& r, int epochs) {
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

/// Mean loss, accuracy and confusion matrix over a whole data set, in
/// inference mode (the network's mode is restored afterwards). Batches hold at
/// most `batch_size` samples. Throws value_error for a batch_size below 1 and
/// shape_error when the data's sample shape is not the network's input shape.
template <class T, BatchSource<T> Data>
Evaluation evaluate(Sequential<T>& net, Loss<T>& loss, const Data& data, Index batch_size = 256) {
  if (batch_size <= 0) throw value_error("evaluate: batch_size must be positive, got " + std::to_string(batch_size));
  if (data.sample_shape() != net.input_shape()) {
    throw shape_error("evaluate: data samples " + to_string(data.sample_shape()) + " but the network takes " +
                      to_string(net.input_shape()));
  }
  const bool was_training = net.training();
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
  for (Index begin = 0; begin < n; begin += batch_size) {
    const Index count = std::min(batch_size, n - begin);
    auto xb = x.slice(0, count);
    std::span<std::int32_t> yb(labels.data(), static_cast<std::size_t>(count));
    data.make_batch(
        std::span<const Index>(indices).subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(count)), xb,
        yb);
    auto scores = net.forward(xb).reshape(Shape<2>{count, classes});
    loss_sum += static_cast<double>(loss.forward_backward(scores, Targets<T>(yb), TensorView<T, 2>())) *
                static_cast<double>(count);
    std::span<std::int32_t> pb(predicted.data(), static_cast<std::size_t>(count));
    argmax_rows(scores, pb);
    for (Index i = 0; i < count; ++i)
      result.confusion.add(yb[static_cast<std::size_t>(i)], pb[static_cast<std::size_t>(i)]);
  }
  net.set_training(was_training);
  result.loss = n > 0 ? loss_sum / static_cast<double>(n) : 0.0;
  result.accuracy = result.confusion.accuracy();
  return result;
}

namespace detail {

template <class T, class Data>
History fit_impl(Sequential<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train,
                 const FitOptions& options, const Data* validation) {
  if (options.epochs <= 0) throw value_error("fit: epochs must be positive, got " + std::to_string(options.epochs));
  if (options.batch_size <= 0) {
    throw value_error("fit: batch_size must be positive, got " + std::to_string(options.batch_size));
  }
  if (train.size() <= 0) throw value_error("fit: the training set is empty");
  if (train.sample_shape() != net.input_shape()) {
    throw shape_error("fit: training samples " + to_string(train.sample_shape()) + " but the network takes " +
                      to_string(net.input_shape()));
  }
  if (net.output_shape()[1] != 1 || net.output_shape()[2] != 1) {
    throw shape_error("fit: the network's output " + to_string(net.output_shape()) +
                      " is not a vector of class scores [K, 1, 1]");
  }
  if (options.threads > 0) set_threads(options.threads);

  const Index n = train.size();
  const Index batch = std::min(options.batch_size, n);
  const Index batches = (n + batch - 1) / batch;
  const Index classes = net.output_shape()[0];
  const double base_rate = optimizer.learning_rate();

  // Every buffer the loop needs, allocated once.
  Tensor<T, 4> x(batch_shape(batch, train.sample_shape()));
  Tensor<T, 2> scores(Shape<2>{batch, classes});
  DataParallel<T> lanes(net);  // each thread runs the whole network on its part of a batch
  std::vector<std::int32_t> labels(static_cast<std::size_t>(batch));
  std::vector<Index> order(static_cast<std::size_t>(n));
  Index weight_count = 0;
  for (const auto& p : optimizer.params()) weight_count += p.value.size();
  std::vector<T> previous_weights(static_cast<std::size_t>(weight_count));

  Progress progress(options.log, options.progress);
  History history;
  double best = 0;
  int epochs_without_improvement = 0;
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
      auto xb = x.slice(0, count);
      auto sb = scores.slice(0, count);
      std::span<std::int32_t> yb(labels.data(), static_cast<std::size_t>(count));
      train.make_batch(
          std::span<const Index>(order).subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(count)), xb,
          yb);

      optimizer.zero_grad();
      const double batch_loss = static_cast<double>(lanes.forward_backward(xb, Targets<T>(yb), loss, sb));
      if (!std::isfinite(batch_loss)) {
        throw numeric_error("fit: the loss is " + std::to_string(batch_loss) + " at epoch " +
                            std::to_string(epoch + 1) + ", batch " + std::to_string(b + 1) + " (learning rate " +
                            std::to_string(optimizer.learning_rate()) +
                            "): training diverged; lower the learning rate");
      }
      loss_sum += batch_loss * static_cast<double>(count);
      correct += count_correct<T>(sb, yb);
      if (!gradients_finite(optimizer.params())) {
        throw numeric_error("fit: a gradient is not finite at epoch " + std::to_string(epoch + 1) + ", batch " +
                            std::to_string(b + 1) + "; the weights were left as they were before this batch");
      }
      // A step can overflow even from finite gradients (a huge learning rate):
      // keep the weights from before it, so a diverged run never leaves
      // non-finite weights behind for a checkpoint to write.
      copy_values(optimizer.params(), previous_weights, true);
      optimizer.step();
      if (!values_finite(optimizer.params())) {
        copy_values(optimizer.params(), previous_weights, false);
        throw numeric_error("fit: the update at epoch " + std::to_string(epoch + 1) + ", batch " +
                            std::to_string(b + 1) + " made a weight non-finite (learning rate " +
                            std::to_string(optimizer.learning_rate()) +
                            "): training diverged; lower the learning rate; the weights were left as they were "
                            "before this batch");
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
    if (validation != nullptr) {
      const Evaluation v = evaluate(net, loss, *validation, std::max<Index>(batch, 256));
      report.validation_loss = v.loss;
      report.validation_accuracy = v.accuracy;
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
/// back to its base rate. Throws value_error for non-positive epochs or batch_size or an empty
/// training set, shape_error when the samples do not fit the network, and
/// numeric_error when the loss, a gradient or an updated weight is not finite
/// (the weights are then left as they were before that batch).
template <class T, BatchSource<T> Data>
History fit(Sequential<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train,
            const FitOptions& options = {}) {
  return detail::fit_impl<T, Data>(net, loss, optimizer, train, options, nullptr);
}

/// As fit() above, and evaluates `validation` after each epoch (EpochReport's
/// validation figures; early stopping watches them).
template <class T, BatchSource<T> Data>
History fit(Sequential<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train, const Data& validation,
            const FitOptions& options = {}) {
  return detail::fit_impl<T, Data>(net, loss, optimizer, train, options, &validation);
}

}  // namespace fovea
