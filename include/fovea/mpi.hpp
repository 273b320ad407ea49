#pragma once

/// @file
/// Data-parallel training across processes over MPI (the optional target
/// fovea::mpi; the rest of fovea never includes this header).
///
/// @code
/// fovea::mpi::Session session(argc, argv);  // MPI only when started by mpirun or srun
/// return session.run([&] {
///   ...build net, optimizer, data as alone...
///   fovea::mpi::fit(session, net, loss, optimizer, train, validation, options);
///   if (session.is_root()) save(...);
/// });
/// @endcode
///
/// Every process (rank) holds the whole network and data set. fit() shuffles
/// with the one seed, so the global batches are those of one process with the
/// same batch size; rank r trains on its share of each, its gradients are
/// summed over the ranks (weighted by each rank's share, so the result is the
/// whole batch's mean gradient), and every rank takes the same optimizer step:
/// weights and optimizer state stay identical on every rank. The gradients go
/// out in buckets, each as soon as backward has finished the layers it holds
/// (MPI_Iallreduce), so the transfer overlaps the backward of the layers
/// before them. Only rank 0 prints progress. See docs/distributed.md.
///
/// Faults: a check that can fail on one rank only (start-up mismatches) is
/// made on every rank from the same gathered figures, so all throw the same
/// error; an exception that leaves Session::run on one rank prints that
/// rank's message and aborts every rank (MPI_Abort), instead of leaving the
/// others waiting in a collective forever.

// Only MPI's C interface is used: leave out the deprecated C++ bindings, whose
// header warns under -Wextra when it is not included as a system header.
#ifndef OMPI_SKIP_MPICXX
#define OMPI_SKIP_MPICXX 1  ///< Open MPI: no C++ bindings.
#endif
#ifndef MPICH_SKIP_MPICXX
#define MPICH_SKIP_MPICXX 1  ///< MPICH: no C++ bindings.
#endif
#include <mpi.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <functional>
#include <iostream>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/nn/graph.hpp"
#include "fovea/optim/optimizer.hpp"
#include "fovea/train/fit.hpp"
#include "fovea/version.hpp"

namespace fovea::mpi {

/// Whether this process was started by a parallel launcher (mpirun or
/// mpiexec of Open MPI or MPICH, or Slurm's srun), which a program alone
/// need not initialise MPI for.
inline bool launched_in_parallel() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

/// MPI for the length of a program: initialised on construction when the
/// process was started in parallel (launched_in_parallel()) or `force` is
/// set, finalised on destruction. Otherwise a session of one rank that makes
/// no MPI call, so the same program runs alone without MPI at all.
class Session {
 public:
  /// Initialises MPI (MPI_THREAD_FUNNELED: only the main thread calls it) when
  /// started in parallel or `force`; throws state_error when MPI cannot.
  Session(int& argc, char**& argv, bool force = false) { start(&argc, &argv, force); }
  /// As Session(argc, argv, force), for a program that does not pass its
  /// command line to MPI.
  explicit Session(bool force = false) { start(nullptr, nullptr, force); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  Session(Session&&) = delete;
  Session& operator=(Session&&) = delete;
  /// Finalises MPI if this session initialised it.
  ~Session() {
    if (owner_) MPI_Finalize();
  }

  /// This process's rank, in [0, size()).
  int rank() const { return rank_; }
  /// The number of ranks (1 when MPI is not in use).
  int size() const { return size_; }
  /// Whether this is rank 0: the one that prints and writes files.
  bool is_root() const { return rank_ == 0; }
  /// Ranks on this machine, this one included (1 when MPI is not in use):
  /// a rank's fair share of the cores is their count / local_size().
  int local_size() const { return local_size_; }
  /// Whether MPI is in use (false: alone, no MPI call is made).
  bool active() const { return active_; }

  /// Runs `body` and returns what it returns (an int exit status). When it
  /// throws with several ranks, prints "rank R of P: <message>" to stderr and
  /// aborts every rank with status 1, so no rank waits for a dead one; alone,
  /// prints the message and returns 1.
  template <class Body>
  int run(Body&& body) {
    try {
      return std::forward<Body>(body)();
    } catch (const std::exception& e) {
      fail(e.what());
    } catch (...) {
      fail("unknown exception");
    }
    return 1;
  }

  /// Prints "rank R of P: <message>" to stderr and, with several ranks, ends
  /// every rank (MPI_Abort with status 1); alone it only prints.
  void fail(const std::string& message) const {
    if (size_ > 1) {
      std::cerr << "rank " << rank_ << " of " << size_ << ": " << message << std::endl;
      MPI_Abort(MPI_COMM_WORLD, 1);
    } else {
      std::cerr << message << std::endl;
    }
  }

  /// Sums `values` over every rank, in place; the same result on each.
  void sum(std::span<double> values) const {
    if (size_ == 1) return;
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  }

  /// Gathers `values` from every rank: rank r's in [r * values.size(), (r + 1) * values.size()).
  std::vector<std::int64_t> gather(std::span<const std::int64_t> values) const {
    std::vector<std::int64_t> all(values.size() * static_cast<std::size_t>(size_));
    if (size_ == 1) {
      std::copy(values.begin(), values.end(), all.begin());
    } else {
      MPI_Allgather(values.data(), static_cast<int>(values.size()), MPI_INT64_T, all.data(),
                    static_cast<int>(values.size()), MPI_INT64_T, MPI_COMM_WORLD);
    }
    return all;
  }

 private:
  void start(int* argc, char*** argv, bool force) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (initialized != 0) {
      active_ = true;
    } else if (force || launched_in_parallel()) {
      int provided = 0;
      if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        throw state_error("mpi::Session: MPI_Init_thread failed");
      }
      active_ = true;
      owner_ = true;
    }
    if (active_) {
      MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
      MPI_Comm_size(MPI_COMM_WORLD, &size_);
      MPI_Comm local = MPI_COMM_NULL;
      MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
      MPI_Comm_size(local, &local_size_);
      MPI_Comm_free(&local);
    }
  }

  bool active_ = false;
  bool owner_ = false;
  int rank_ = 0;
  int size_ = 1;
  int local_size_ = 1;
};

namespace detail {

template <class T>
MPI_Datatype datatype() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "fovea::mpi: float or double");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

// FNV-1a over text: names and descriptions of a network's nodes.
inline std::uint64_t hash_text(std::uint64_t h, const std::string& text) {
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return (h ^ 0xFF) * 1099511628211ULL;
}

// A network's structure as one number: node names, layers, shapes, inputs.
template <class T>
std::uint64_t network_hash(const Graph<T>& net) {
  std::uint64_t h = 14695981039346656037ULL;
  h = hash_text(h, to_string(net.input_shape()));
  for (std::size_t i = 0; i < net.size(); ++i) {
    const Node node{static_cast<Index>(i) + 1};
    h = hash_text(h, net.name(node) + " " + net.layer(i).describe() + " " + to_string(net.shape_after(i)));
    for (const Node in : net.inputs(node)) h = hash_text(h, std::to_string(in.id));
  }
  return h;
}

// The gradients of a network, summed over the ranks in buckets of whole
// layers, last layer first (the order backward finishes them). A bucket is
// sent (MPI_Iallreduce) once every layer in it has reported (Graph's backward
// hook); finish() sends the rest and waits for all. Buckets are always sent
// in the same order, so every rank issues the same collectives in turn.
template <class T>
class GradientReducer {
 public:
  GradientReducer(Graph<T>& net, Index bucket_values) : net_(&net) {
    const auto& params = net.params();
    // Parameters are listed node by node, in the order nodes were added.
    std::vector<std::size_t> layer_of;
    for (std::size_t i = 0; i < net.size(); ++i) {
      const std::size_t count = net.layer(i).params().size();
      layer_of.insert(layer_of.end(), count, i);
    }
    layer_bucket_.assign(net.size(), -1);
    for (std::size_t p = params.size(); p-- > 0;) {
      const std::size_t layer = layer_of[p];
      const bool new_layer = p + 1 == params.size() || layer_of[p + 1] != layer;
      if (buckets_.empty() || (new_layer && buckets_.back().values >= bucket_values)) buckets_.emplace_back();
      Bucket& b = buckets_.back();
      b.params.push_back(p);
      b.values += params[p].grad.size();
      if (new_layer) {
        ++b.layers;
        layer_bucket_[layer] = static_cast<int>(buckets_.size() - 1);
      }
    }
    for (auto& b : buckets_) b.data.resize(static_cast<std::size_t>(b.values));
  }

  // How many buckets the gradients travel in.
  std::size_t buckets() const { return buckets_.size(); }
  // How many buckets of this step have been sent so far.
  std::size_t sent() const { return next_; }

  void begin(double share) {
    share_ = static_cast<T>(share);
    next_ = 0;
    for (auto& b : buckets_) {
      b.pending = b.layers;
      b.request = MPI_REQUEST_NULL;
    }
  }

  // Layer i's gradients are complete: send every bucket that is ready, in order.
  void layer_done(std::size_t layer) {
    const int b = layer_bucket_[layer];
    if (b >= 0) --buckets_[static_cast<std::size_t>(b)].pending;
    while (next_ < buckets_.size() && buckets_[next_].pending <= 0) send(next_++);
    // Open MPI moves a non-blocking collective on only inside MPI calls.
    for (std::size_t i = 0; i < next_; ++i) {
      int done = 0;
      if (buckets_[i].request != MPI_REQUEST_NULL) MPI_Test(&buckets_[i].request, &done, MPI_STATUS_IGNORE);
    }
  }

  void finish() {
    while (next_ < buckets_.size()) send(next_++);
    for (auto& b : buckets_) {
      MPI_Wait(&b.request, MPI_STATUS_IGNORE);
      const auto& params = net_->params();
      Index offset = 0;
      for (const std::size_t p : b.params) {
        auto grad = params[p].grad;
        for (Index e = 0; e < grad.size(); ++e) grad.data()[e] = b.data[static_cast<std::size_t>(offset + e)];
        offset += grad.size();
      }
    }
  }

 private:
  struct Bucket {
    std::vector<std::size_t> params;  // indices into net.params(), last first
    Index values = 0;
    int layers = 0;   // layers with parameters in this bucket
    int pending = 0;  // of those, how many have not finished backward in this step
    std::vector<T> data;
    MPI_Request request = MPI_REQUEST_NULL;
  };

  void send(std::size_t index) {
    Bucket& b = buckets_[index];
    const auto& params = net_->params();
    Index offset = 0;
    for (const std::size_t p : b.params) {
      const auto grad = params[p].grad;
      for (Index e = 0; e < grad.size(); ++e) b.data[static_cast<std::size_t>(offset + e)] = share_ * grad.data()[e];
      offset += grad.size();
    }
    MPI_Iallreduce(MPI_IN_PLACE, b.data.data(), static_cast<int>(b.values), datatype<T>(), MPI_SUM, MPI_COMM_WORLD,
                   &b.request);
  }

  Graph<T>* net_;
  std::vector<Bucket> buckets_;
  std::vector<int> layer_bucket_;  // [layer]: its bucket, -1 without parameters
  std::size_t next_ = 0;           // the next bucket to send
  T share_ = T{1};
};

}  // namespace detail

/// Settings of fit() beyond FitOptions.
struct Options {
  /// Gradient values per bucket (at least; a bucket holds whole layers).
  Index bucket_values = 16384;
  /// Send each bucket as soon as backward finishes its layers (on with one
  /// thread per rank; with more, the lanes' gradients are complete only at
  /// the end of backward, and buckets go out then).
  bool overlap = true;
};

/// Copies rank 0's parameter values and buffers (BatchNorm's running
/// statistics) to every rank.
template <class T>
void broadcast_weights(const Session& session, Graph<T>& net) {
  if (session.size() == 1) return;
  for (const auto& p : net.params()) {
    MPI_Bcast(p.value.data(), static_cast<int>(p.value.size()), detail::datatype<T>(), 0, MPI_COMM_WORLD);
  }
  for (std::size_t i = 0; i < net.size(); ++i) {
    for (const auto& b : net.layer(i).buffers()) {
      MPI_Bcast(b.value.data(), static_cast<int>(b.value.size()), detail::datatype<T>(), 0, MPI_COMM_WORLD);
    }
  }
}

/// Throws state_error on every rank unless every rank runs the same fovea
/// version and element type, the same network, and the same data and
/// settings, naming the first rank that differs from rank 0 and how.
template <class T, class Data, class Validation = Data>
void require_same_setup(const Session& session, const Graph<T>& net, const Data& train, const FitOptions& options,
                        const Validation* validation) {
  if (session.size() == 1) return;
  const std::vector<std::string> names = {
      "fovea version", "element size",       "network",    "parameter count", "training samples",
      "sample shape",  "validation samples", "batch_size", "epochs",          "seed",
      "start_epoch"};
  const std::vector<std::int64_t> mine = {
      FOVEA_VERSION_MAJOR * 1000000 + FOVEA_VERSION_MINOR * 1000 + FOVEA_VERSION_PATCH,
      static_cast<std::int64_t>(sizeof(T)),
      static_cast<std::int64_t>(detail::network_hash(net)),
      net.parameter_count(),
      train.size(),
      static_cast<std::int64_t>(detail::hash_text(0, to_string(train.sample_shape()))),
      validation != nullptr ? validation->size() : -1,
      options.batch_size,
      options.epochs,
      static_cast<std::int64_t>(options.seed),
      options.start_epoch};
  const auto all = session.gather(mine);
  for (int r = 1; r < session.size(); ++r) {
    for (std::size_t k = 0; k < mine.size(); ++k) {
      const auto theirs = all[static_cast<std::size_t>(r) * mine.size() + k];
      if (theirs == all[k]) continue;
      const bool hashed = names[k] == "network" || names[k] == "sample shape";
      throw state_error("mpi::fit: rank " + std::to_string(r) + " differs from rank 0 in its " + names[k] +
                        (hashed ? "" : " (" + std::to_string(theirs) + " instead of " + std::to_string(all[k]) + ")") +
                        "; every rank must run the same program on the same data");
    }
  }
}

namespace detail {

template <class T, class Data, class Validation>
History fit_impl(Session& session, Graph<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train,
                 const Validation* validation, FitOptions options, const Options& mpi_options) {
  if (session.size() == 1) {
    return fovea::detail::fit_impl<T, Data, Validation>(net, loss, optimizer, train, options, validation);
  }
  require_same_setup(session, net, train, options, validation);
  broadcast_weights(session, net);
  GradientReducer<T> reducer(net, mpi_options.bucket_values);
  const int threads = options.threads > 0 ? options.threads : max_threads();
  const bool overlap = mpi_options.overlap && threads == 1;
  // Removes the hook also when fit throws.
  struct Unhook {
    Graph<T>& net;
    ~Unhook() { net.set_backward_hook({}); }
  } unhook{net};
  if (overlap) net.set_backward_hook([&](std::size_t layer) { reducer.layer_done(layer); });
  options.peers.rank = session.rank();
  options.peers.size = session.size();
  options.peers.begin_batch = [&](double share) { reducer.begin(share); };
  options.peers.reduce_gradients = [&] { reducer.finish(); };
  options.peers.sum = [&](std::span<double> values) { session.sum(values); };
  if (!session.is_root()) options.log = nullptr;
  History history = fovea::detail::fit_impl<T, Data, Validation>(net, loss, optimizer, train, options, validation);
  // Buffers (BatchNorm's running statistics) were updated from each rank's
  // own samples: rank 0's stand for all, as its model file will.
  broadcast_weights(session, net);
  return history;
}

}  // namespace detail

/// fovea::fit across the session's ranks (see this file's overview): the same
/// arguments on every rank, the same History returned on each. Throws
/// state_error on every rank when the ranks differ (require_same_setup), and
/// what fovea::fit throws.
template <class T, BatchSource<T> Data>
History fit(Session& session, Graph<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train,
            const FitOptions& options = {}, const Options& mpi_options = {}) {
  return detail::fit_impl<T, Data, Data>(session, net, loss, optimizer, train, nullptr, options, mpi_options);
}

/// As fit() above, evaluating `validation` (a data set of any type, such as
/// the plain images beside augmented training data) after each epoch, split across the ranks.
template <class T, BatchSource<T> Data, BatchSource<T> Validation>
History fit(Session& session, Graph<T>& net, Loss<T>& loss, Optimizer<T>& optimizer, const Data& train,
            const Validation& validation, const FitOptions& options = {}, const Options& mpi_options = {}) {
  return detail::fit_impl<T, Data, Validation>(session, net, loss, optimizer, train, &validation, options, mpi_options);
}

/// fovea::evaluate with the data split across the ranks: each evaluates its
/// part, and every rank returns the figures of the whole data set.
template <class T, BatchSource<T> Data>
Evaluation evaluate(Session& session, Graph<T>& net, Loss<T>& loss, const Data& data, Index batch_size = 256) {
  FitPeers peers;
  peers.rank = session.rank();
  peers.size = session.size();
  peers.sum = [&](std::span<double> values) { session.sum(values); };
  return fovea::detail::evaluate_impl<T, Data>(net, loss, data, batch_size, "evaluate: sample", peers);
}

}  // namespace fovea::mpi
