#pragma once

/// @file
/// The one matrix product every op calls: gemm(a, b, c, update), c = a b or
/// c += a b, on raw row-major memory. A transposed operand is the same memory
/// read the other way (GemmOperand::t()), not another product: the work runs
/// in one function per scalar type (detail::gemm_add), which calls Eigen's
/// GEMM and GEMV kernels directly. Each Eigen product expression would
/// instantiate its own copies of those kernels (and a coefficient-wise product
/// for small sizes), per storage order and per shape of the operands; funnelled
/// here, a program that trains a CNN compiles them once.

#include <Eigen/Core>
#include <algorithm>
#include <cassert>
#include <type_traits>

#include "fovea/core/shape.hpp"

namespace fovea {

/// A read-only operand of gemm: a `rows` x `cols` matrix in row-major memory.
/// Element (i, j) is at data[i * stride + j], or, when `transposed`, at
/// data[j * stride + i] (the transpose of a row-major [cols, rows] matrix
/// whose rows are `stride` apart).
template <class T>
struct GemmOperand {
  const T* data = nullptr;  ///< First element.
  Index rows = 0;           ///< Rows of the operand as the product sees it.
  Index cols = 0;           ///< Columns of the operand as the product sees it.
  Index stride = 0;         ///< Distance between consecutive rows of the stored row-major matrix.
  bool transposed = false;  ///< Whether the operand is the stored matrix transposed.

  /// The transpose: the same memory, read the other way.
  GemmOperand t() const { return {data, cols, rows, stride, !transposed}; }
};

/// A contiguous row-major [rows, cols] matrix at `data` as a gemm operand.
template <class T>
GemmOperand<T> gemm_operand(const T* data, Index rows, Index cols) {
  return {data, rows, cols, cols, false};
}

/// The result of gemm: a row-major `rows` x `cols` matrix whose rows are `stride` apart.
template <class T>
struct GemmResult {
  T* data = nullptr;  ///< First element.
  Index rows = 0;     ///< Rows (M).
  Index cols = 0;     ///< Columns (N).
  Index stride = 0;   ///< Distance between consecutive rows.
};

/// A contiguous row-major [rows, cols] matrix at `data` as a gemm result.
template <class T>
GemmResult<T> gemm_result(T* data, Index rows, Index cols) {
  return {data, rows, cols, cols};
}

/// Whether gemm overwrites its result or adds the product to it.
enum class GemmUpdate {
  overwrite,  ///< c = a b
  accumulate  ///< c += a b
};

namespace detail {

// c += a b. Eigen's kernels work on a column-major result, so this computes
// c^T [N, M] += b^T [N, K] a^T [K, M]: a row-major operand read transposed
// is column-major, and a transposed one row-major. A product with one row or
// one column runs as a matrix-vector product when the vector's memory allows
// (as Eigen's own products do); the rest runs in the GEMM kernel, with the
// cache blocking Eigen's products choose for the same sizes.
template <class T>
[[gnu::noinline]] void gemm_add(const GemmOperand<T>& a, const GemmOperand<T>& b, const GemmResult<T>& c) {
  using Eigen::ColMajor;
  using Eigen::RowMajor;
  using Eigen::internal::const_blas_data_mapper;
  const Index M = c.rows, N = c.cols, K = a.cols;
  if (M == 0 || N == 0 || K == 0) return;
  using ColMapper = const_blas_data_mapper<T, Index, ColMajor>;
  using RowMapper = const_blas_data_mapper<T, Index, RowMajor>;
  using ColGemv =
      Eigen::internal::general_matrix_vector_product<Index, T, ColMapper, ColMajor, false, T, RowMapper, false>;
  using RowGemv =
      Eigen::internal::general_matrix_vector_product<Index, T, RowMapper, RowMajor, false, T, ColMapper, false>;
  if (M == 1) {  // c^T [N] += b^T [N, K] a^T [K]; a's row k-th element is `increment` apart
    const Index increment = a.transposed ? a.stride : 1;
    if (!b.transposed) {
      ColGemv::run(N, K, ColMapper(b.data, b.stride), RowMapper(a.data, increment), c.data, 1, T{1});
      return;
    }
    if (increment == 1) {
      RowGemv::run(N, K, RowMapper(b.data, b.stride), ColMapper(a.data, 1), c.data, 1, T{1});
      return;
    }
  } else if (N == 1) {  // c [M] += a [M, K] b [K]; c's column is c.stride apart
    const Index increment = b.transposed ? 1 : b.stride;
    if (!a.transposed && increment == 1) {
      RowGemv::run(M, K, RowMapper(a.data, a.stride), ColMapper(b.data, 1), c.data, c.stride, T{1});
      return;
    }
    if (a.transposed && c.stride == 1) {
      ColGemv::run(M, K, ColMapper(a.data, a.stride), RowMapper(b.data, increment), c.data, 1, T{1});
      return;
    }
  }
  Eigen::internal::gemm_blocking_space<ColMajor, T, T, Eigen::Dynamic, Eigen::Dynamic, Eigen::Dynamic> blocking(
      N, M, K, 1, true);
  auto run = [&](auto lhs_order, auto rhs_order) {
    Eigen::internal::general_matrix_matrix_product<Index, T, decltype(lhs_order)::value, false, T,
                                                   decltype(rhs_order)::value, false, ColMajor, 1>::run(N, M, K, b.data,
                                                                                                        b.stride,
                                                                                                        a.data,
                                                                                                        a.stride,
                                                                                                        c.data, 1,
                                                                                                        c.stride, T{1},
                                                                                                        blocking,
                                                                                                        nullptr);
  };
  using Col = std::integral_constant<int, ColMajor>;
  using Row = std::integral_constant<int, RowMajor>;
  if (!b.transposed) {
    a.transposed ? run(Col{}, Row{}) : run(Col{}, Col{});
  } else {
    a.transposed ? run(Row{}, Row{}) : run(Row{}, Col{});
  }
}

}  // namespace detail

/// c [M, N] = a [M, K] b [K, N] (GemmUpdate::overwrite) or c += a b
/// (accumulate). The sizes must agree (checked by assertion: callers check
/// their own shapes and throw); c must not overlap a or b.
template <class T>
void gemm(const GemmOperand<T>& a, const GemmOperand<T>& b, const GemmResult<T>& c, GemmUpdate update) {
  assert(a.cols == b.rows && c.rows == a.rows && c.cols == b.cols);
  if (update == GemmUpdate::overwrite) {
    for (Index i = 0; i < c.rows; ++i) std::fill_n(c.data + i * c.stride, c.cols, T{});
  }
  detail::gemm_add(a, b, c);
}

}  // namespace fovea
