#pragma once

/// @file
/// Fully connected: y = x W^T + b over the whole batch as one GEMM, forward and
/// backward side by side. Stateless: layers/linear.hpp owns the parameters.
///
/// A layer large enough to be worth it (LeNet's 400->120 at batch 64: 3M
/// multiply-adds) is split across threads without any reduction: forward by
/// samples (by output features when there are fewer samples than threads);
/// backward gives half the threads the input gradient (by samples)
/// and the other half the weight and bias gradients (by output features), so
/// each chunk writes its own rows and a given thread count gives the same bits
/// every run.

#include <algorithm>
#include <string>

#include "fovea/core/gemm.hpp"
#include "fovea/core/gemm_bands.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor_view.hpp"
#include "fovea/ops/activation.hpp"

namespace fovea {

namespace detail {
inline void check_linear(const char* operation, const Shape<2>& x, const Shape<2>& weight, Index bias_size,
                         const Shape<2>& y, const char* y_name) {
  const Shape<2> want = {x[0], weight[0]};
  if (x[1] != weight[1]) {
    throw shape_error(std::string(operation) + ": input " + to_string(x) + " has " + std::to_string(x[1]) +
                      " features, weight " + to_string(weight) + " expects " + std::to_string(weight[1]));
  }
  if (bias_size != 0 && bias_size != weight[0]) {
    throw shape_error(std::string(operation) + ": bias [" + std::to_string(bias_size) + "], expected [" +
                      std::to_string(weight[0]) + "] or none");
  }
  if (y != want) {
    throw shape_error(std::string(operation) + ": " + y_name + " " + to_string(y) + ", expected " + to_string(want));
  }
}

// Below this many multiply-adds a layer costs less than waking another thread.
inline constexpr Index linear_parallel_min_macs = Index{1} << 18;

// Calls body(c, chunks) for c in [0, chunks): one chunk per thread when `macs`
// warrants it (at most `items`, the larger of the dimensions split), else one.
template <class Body>
void for_linear_chunks(Index macs, Index items, Body&& body) {
  const int chunks = macs < linear_parallel_min_macs ? 1 : chunk_count(items);
  if (chunks == 1) {
    body(0, 1);
    return;
  }
  parallel_for(chunks, [&](Index chunk, Index /*end*/, int /*chunk*/) { body(static_cast<int>(chunk), chunks); });
}
}  // namespace detail

/// x: [N, in], weight: [out, in], bias: [out] or empty -> y: [N, out] (overwritten).
/// With `relu`, y = max(x W^T + b, 0): each chunk applies the ReLU to its rows
/// while they are in cache, the same bits as a ReLU layer after it.
/// Throws shape_error, naming both shapes, when any of them disagree.
template <class T>
void linear_forward(TensorView<const T, 2> x, TensorView<const T, 2> weight, TensorView<const T, 1> bias,
                    TensorView<T, 2> y, bool relu = false) {
  detail::check_linear("linear_forward", x.shape(), weight.shape(), bias.size(), y.shape(), "output");
  const Index N = x.dim(0), in = x.dim(1), out = weight.dim(0);
  const GemmOperand<T> W = gemm_operand(weight.data(), out, in);
  if (N < max_threads() && N * in * out >= detail::linear_parallel_min_macs) {
    // Fewer samples than threads (one image at inference): the threads share
    // the output features instead.
    gemm_in_bands(
        gemm_operand(x.data(), N, in), W.t(), gemm_result(y.data(), N, out), max_threads(),
        [&](const GemmBand& band) {
          if (bias.empty()) return GemmUpdate::overwrite;
          for (Index i = band.rows.begin; i < band.rows.end; ++i) {
            std::copy(bias.data() + band.cols.begin, bias.data() + band.cols.end, y.data() + i * out + band.cols.begin);
          }
          return GemmUpdate::accumulate;
        },
        [&](const GemmBand& band) {
          if (!relu) return;
          for (Index i = band.rows.begin; i < band.rows.end; ++i) {
            T* row = y.data() + i * out;
            for (Index j = band.cols.begin; j < band.cols.end; ++j) row[j] = std::max(row[j], T{0});
          }
        });
    return;
  }
  detail::for_linear_chunks(N * in * out, N, [&](int chunk, int chunks) {
    const Range r = chunk_range(N, chunks, chunk);
    const Index rows = r.end - r.begin;
    T* y_rows = y.data() + r.begin * out;
    GemmUpdate update = GemmUpdate::overwrite;
    if (!bias.empty()) {  // the GEMM accumulates onto the bias
      for (Index i = 0; i < rows; ++i) std::copy_n(bias.data(), out, y_rows + i * out);
      update = GemmUpdate::accumulate;
    }
    gemm(gemm_operand(x.data() + r.begin * in, rows, in), W.t(), gemm_result(y_rows, rows, out), update);
    if (relu) {
      ArrayMap<T> values(y_rows, rows * out);
      values = values.max(T{0});
    }
  });
}

/// What linear_backward needs to undo a ReLU that linear_forward applied:
/// that forward's output (dy is masked to where it is positive) and two
/// [N, out] buffers for the masked gradient, one written by samples and one by
/// output features, so the threads of a split backward never share one.
template <class T>
struct LinearReluGrad {
  TensorView<const T, 2> output;     ///< y = max(x W^T + b, 0), [N, out]; empty: no ReLU
  TensorView<T, 2> masked_rows;      ///< [N, out] scratch
  TensorView<T, 2> masked_features;  ///< [N, out] scratch
};

/// dy: [N, out] -> dx: [N, in] (skipped when empty); dweight [out, in] and
/// dbias [out] (skipped when empty) ACCUMULATE. dx is overwritten. With
/// `relu.output` given, dy is the gradient after a fused ReLU and is first
/// masked to relu.output > 0 (the same bits as a ReLU layer's backward).
/// Throws shape_error, naming both shapes, when any of them disagree.
template <class T>
void linear_backward(TensorView<const T, 2> x, TensorView<const T, 2> weight, TensorView<const T, 2> dy,
                     TensorView<T, 2> dx, TensorView<T, 2> dweight, TensorView<T, 1> dbias,
                     const LinearReluGrad<T>& relu = {}) {
  detail::check_linear("linear_backward", x.shape(), weight.shape(), dbias.size(), dy.shape(), "output gradient");
  if (dweight.shape() != weight.shape()) {
    throw shape_error(std::string("linear_backward: weight gradient ") + to_string(dweight.shape()) + ", expected " +
                      to_string(weight.shape()));
  }
  if (!dx.empty() && dx.shape() != x.shape()) {
    throw shape_error(std::string("linear_backward: input gradient ") + to_string(dx.shape()) + ", expected " +
                      to_string(x.shape()));
  }
  const bool masked = !relu.output.empty();
  if (masked) {
    for (const Shape<2>& s : {relu.output.shape(), relu.masked_rows.shape(), relu.masked_features.shape()}) {
      if (s != dy.shape()) {
        throw shape_error(std::string("linear_backward: ReLU output or scratch ") + to_string(s) +
                          ", expected the output gradient's " + to_string(dy.shape()));
      }
    }
  }
  const Index N = x.dim(0), in = x.dim(1), out = weight.dim(0);
  const MatrixMap<const T> Y = relu.output.matrix();
  MatrixMap<T> rows_masked = relu.masked_rows.matrix(), features_masked = relu.masked_features.matrix();
  // Each pass reads the gradient from dy, or from its own masked copy of the
  // part it needs (with a ReLU), which it writes first.
  const T* dy_rows = masked ? relu.masked_rows.data() : dy.data();
  const T* dy_features = masked ? relu.masked_features.data() : dy.data();
  const MatrixMap<const T> dY = dy.matrix();
  const auto weight_grad = [&](Range f) {  // rows of dW = dy^T x: [out, N] x [N, in]
    const Index nf = f.end - f.begin;
    if (masked) {
      detail::relu_mask(features_masked.middleCols(f.begin, nf), Y.middleCols(f.begin, nf), dY.middleCols(f.begin, nf));
    }
    const GemmOperand<T> dY_f{dy_features + f.begin, N, nf, out, false};  // [N, nf] columns of dy
    gemm(dY_f.t(), gemm_operand(x.data(), N, in), gemm_result(dweight.data() + f.begin * in, nf, in),
         GemmUpdate::accumulate);
    if (!dbias.empty()) {
      dbias.vector().segment(f.begin, nf) +=
          MatrixMap<const T>(dy_features, N, out).middleCols(f.begin, nf).colwise().sum().transpose();
    }
  };
  // rows of dx = dy W: [N, out] x [out, in]; mask_rows: mask them first (else
  // dy itself, or a weight_grad pass over every feature has masked it)
  const auto input_grad = [&](Range r, bool mask_rows) {
    const Index nr = r.end - r.begin;
    if (mask_rows) {
      detail::relu_mask(rows_masked.middleRows(r.begin, nr), Y.middleRows(r.begin, nr), dY.middleRows(r.begin, nr));
    }
    gemm(gemm_operand((mask_rows ? dy_rows : dy_features) + r.begin * out, nr, out),
         gemm_operand(weight.data(), out, in), gemm_result(dx.data() + r.begin * in, nr, in), GemmUpdate::overwrite);
  };
  detail::for_linear_chunks(N * in * out, std::max(N, out), [&](int chunk, int chunks) {
    if (!dx.empty() && chunks >= 2) {
      // The two products are independent: half the chunks compute dx (by
      // samples), the other half dW and db (by output features). Each GEMM
      // then packs its shared operand (W, or x) once instead of once per
      // thread (docs/benchmarks.md has the figures).
      const int dx_chunks = chunks / 2;
      if (chunk < dx_chunks) {
        input_grad(chunk_range(N, dx_chunks, chunk), masked);
      } else {
        weight_grad(chunk_range(out, chunks - dx_chunks, chunk - dx_chunks));
      }
      return;
    }
    weight_grad(chunk_range(out, chunks, chunk));
    if (!dx.empty()) input_grad(chunk_range(N, chunks, chunk), false);  // one chunk: weight_grad masked all of dy
  });
}

}  // namespace fovea
