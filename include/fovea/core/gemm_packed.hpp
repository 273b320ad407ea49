#pragma once

/// @file
/// A left operand of gemm packed once and multiplied many times: a
/// convolution's weights, which every product of a call (each Winograd pass
/// and cell, each sample) multiplies, and which stay the same from call to
/// call at inference. gemm (core/gemm.hpp) packs both of its operands into
/// the kernel's panel order on every call; reading the weights from memory
/// and reordering them was a sixth of a ResNet-18 inference at batch 1. A
/// PackedGemmOperand holds them in that order already, so a product packs
/// only its other operand.
///
/// The packed order is that of Eigen's GEMM kernel, which computes c^T =
/// b^T a^T on a column-major result (see gemm_add): a is its right-hand
/// operand, packed in slices of `depth_block` columns of a (Eigen's choice of
/// blocking for a's shape), each slice in panels of the kernel's `nr` rows of
/// a. A product through it sums in the same order as gemm does for the same
/// sizes.

#include <Eigen/Core>
#include <algorithm>
#include <cassert>

#include "fovea/core/aligned_buffer.hpp"
#include "fovea/core/gemm.hpp"
#include "fovea/core/parallel.hpp"

namespace fovea {

template <class T>
struct PackedGemmRows;

/// A row-major [rows, cols] matrix packed for use as gemm's left operand a;
/// pack() again after the matrix changes. The storage grows but never
/// shrinks: packing a matrix of a size it has held allocates nothing.
template <class T>
class PackedGemmOperand {
 public:
  /// The kernel's panel height: a band of rows (PackedGemmRows) starts on a multiple of it.
  static constexpr Index row_panel = Eigen::internal::gebp_traits<T, T>::nr;

  /// Packs the row-major [rows, cols] matrix at `data` whose rows are
  /// `stride` apart, on up to `threads` threads (each packing its own rows).
  void pack(const T* data, Index rows, Index cols, Index stride, int threads = 1) {
    using Mapper = Eigen::internal::const_blas_data_mapper<T, Index, Eigen::ColMajor>;
    using Pack = Eigen::internal::gemm_pack_rhs<T, Index, Mapper, row_panel, Eigen::ColMajor>;
    rows_ = rows;
    cols_ = cols;
    depth_block_ = depth_block_for(rows, cols);
    storage_.reserve(std::max<Index>(rows * cols, 1));
    // a read transposed is column-major: a^T (k, i) is data[i * stride + k].
    const Mapper a_t(data, stride);
    const Index panels = (rows + row_panel - 1) / row_panel;
    parallel_for(panels, threads, [&](Index first, Index last, int /*chunk*/) {
      const Index begin = first * row_panel, end = std::min(last * row_panel, rows);
      for (Index k = 0; k < cols; k += depth_block_) {
        const Index depth = std::min(depth_block_, cols - k);
        Pack{}(storage_.data() + k * rows + begin * depth, a_t.getSubMapper(k, begin), depth, end - begin);
      }
    });
  }

  Index rows() const { return rows_; }  ///< Rows of the packed matrix (M of the products).
  Index cols() const { return cols_; }  ///< Its columns (K of the products).
  /// Columns per slice: a product runs its sum in steps of this many.
  Index depth_block() const { return depth_block_; }
  /// The packed values, slice after slice.
  const T* data() const { return storage_.data(); }

  /// Every row, as gemm's operand.
  PackedGemmRows<T> all() const { return {this, 0, rows_}; }
  /// Rows [begin, end), begin a multiple of row_panel, as gemm's operand.
  PackedGemmRows<T> band(Index begin, Index end) const {
    assert(begin % row_panel == 0 && begin <= end && end <= rows_);
    return {this, begin, end - begin};
  }

  /// The slice width Eigen's GEMM takes for a [rows, cols] left operand: it
  /// depends on the depth and the cache sizes only.
  static Index depth_block_for(Index rows, Index cols) {
    Index depth = cols, m = 1024, n = rows;
    Eigen::internal::computeProductBlockingSizes<T, T, 1, Index>(depth, m, n, Index{1});
    return std::max<Index>(depth, 1);
  }

 private:
  detail::AlignedBuffer<T> storage_;
  Index rows_ = 0, cols_ = 0, depth_block_ = 1;
};

/// Rows [first, first + count) of a packed matrix: gemm's left operand.
template <class T>
struct PackedGemmRows {
  const PackedGemmOperand<T>* packed = nullptr;  ///< The packed matrix.
  Index first = 0;                               ///< First row, a multiple of PackedGemmOperand<T>::row_panel.
  Index count = 0;                               ///< Rows.
};

namespace detail {

// c = a b or c += a b with a packed: the blocking loop of Eigen's GEMM (as
// in general_matrix_matrix_product) on the same kernel, less the packing of
// a. The kernel adds to c, so an overwrite zeroes each block of c's columns
// just before its first product, while it stays in cache for the kernel.
// Blocks of b^T are packed where Eigen's GEMM packs them: on the stack up
// to EIGEN_STACK_ALLOCATION_LIMIT (128 KB), on the heap for the call above it.
template <class T>
[[gnu::noinline]] void gemm_packed(const PackedGemmRows<T>& a, const GemmOperand<T>& b, const GemmResult<T>& c,
                                   bool overwrite) {
  using namespace Eigen::internal;  // NOLINT(google-build-using-namespace): Eigen's kernel names
  using Traits = gebp_traits<T, T>;
  using ResMapper = blas_data_mapper<T, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  using ColMapper = const_blas_data_mapper<T, Index, Eigen::ColMajor>;
  using RowMapper = const_blas_data_mapper<T, Index, Eigen::RowMajor>;
  const PackedGemmOperand<T>& packed = *a.packed;
  const Index M = a.count, N = c.cols, K = packed.cols(), kc = packed.depth_block();
  if (M == 0 || N == 0) return;
  if (K == 0) {
    if (overwrite) {
      for (Index r = 0; r < M; ++r) std::fill_n(c.data + r * c.stride, N, T{});
    }
    return;
  }
  Index depth = K, mc = N, nc = M;  // Eigen's blocking for c^T [N, M] += b^T [N, K] a^T [K, M]
  computeProductBlockingSizes<T, T, 1, Index>(depth, mc, nc, Index{1});
  nc = std::max<Index>(nc / Traits::nr, 1) * Traits::nr;  // a's slices are cut into whole panels
  // Eigen's macro names the namespace `internal` unqualified.
  namespace internal = Eigen::internal;
  ei_declare_aligned_stack_constructed_variable(T, block, static_cast<std::size_t>(kc * mc), nullptr);
  gebp_kernel<T, T, Index, ResMapper, Traits::mr, Traits::nr, false, false> kernel;
  const ResMapper result(c.data, c.stride);
  auto run = [&](const auto& b_t, auto pack_b_t) {
    for (Index i = 0; i < N; i += mc) {
      const Index rows = std::min(mc, N - i);
      if (overwrite) {
        for (Index r = 0; r < M; ++r) std::fill_n(c.data + r * c.stride + i, rows, T{});
      }
      for (Index k = 0; k < K; k += kc) {
        const Index width = std::min(kc, K - k);
        pack_b_t(block, b_t.getSubMapper(i, k), width, rows);
        const T* slice = packed.data() + k * packed.rows() + a.first * width;
        for (Index j = 0; j < M; j += nc) {
          kernel(result.getSubMapper(i, j), block, slice + j * width, rows, width, std::min(nc, M - j), T{1});
        }
      }
    }
  };
  // b^T (i, k) is b(k, i): column-major when b is stored as is, row-major when read transposed.
  if (!b.transposed) {
    run(ColMapper(b.data, b.stride), gemm_pack_lhs<T, Index, ColMapper, Traits::mr, Traits::LhsProgress,
                                                   typename Traits::LhsPacket4Packing, Eigen::ColMajor>{});
  } else {
    run(RowMapper(b.data, b.stride), gemm_pack_lhs<T, Index, RowMapper, Traits::mr, Traits::LhsProgress,
                                                   typename Traits::LhsPacket4Packing, Eigen::RowMajor>{});
  }
}

}  // namespace detail

/// c [M, N] = a [M, K] b [K, N] (GemmUpdate::overwrite) or c += a b
/// (accumulate), with a packed beforehand. The sizes must agree (checked by
/// assertion); c must not overlap a or b.
template <class T>
void gemm(const PackedGemmRows<T>& a, const GemmOperand<T>& b, const GemmResult<T>& c, GemmUpdate update) {
  assert(a.packed->cols() == b.rows && c.rows == a.count && c.cols == b.cols);
  detail::gemm_packed(a, b, c, update == GemmUpdate::overwrite);
}

}  // namespace fovea
