#pragma once

/// @file
/// Conv2dWorkspace: the scratch of ops/conv2d.hpp's convolutions, owned by
/// the caller (layers/conv2d.hpp) so that a call with the same shapes and
/// thread count allocates nothing. Each algorithm file says which buffers it
/// uses; conv2d_forward / conv2d_backward size them.

#include <cstdint>
#include <cstring>
#include <vector>

#include "fovea/core/block_reduction.hpp"
#include "fovea/core/gemm_packed.hpp"
#include "fovea/core/parallel.hpp"
#include "fovea/core/tensor.hpp"

namespace fovea {

/// Per-thread scratch and per-block partial gradients, sized on first use for
/// a shape; afterwards a call with the same shapes and thread count allocates nothing.
template <class T>
struct Conv2dWorkspace {
  /// The scratch of one thread (a parallel_blocks slot); only the buffers the algorithm in use needs are sized.
  struct ThreadScratch {
    Tensor<T, 2> cols;   ///< im2col: [K, P] one group's columns of one sample
    Tensor<T, 2> dcols;  ///< im2col: [K, P] W^T * dy for one group of one sample
    Tensor<T, 1> image;  ///< direct and vector: one zero-padded input sample
    /// direct: one sample's dy, rows zero-padded to whole blocks;
    /// vector: one sample's y or dy as [P, Cout padded]
    Tensor<T, 1> grad;
    Tensor<T, 1> full;         ///< vector: one sample's dy padded for the full correlation
    Tensor<T, 1> masked;       ///< fused ReLU: one sample's dy where y > 0
    Tensor<T, 1> transformed;  ///< winograd: one pass's input tiles V, [16, Cin, tiles]
    Tensor<T, 1> products;     ///< winograd: one pass's products M, [16, Cout, tiles]
  };
  std::vector<ThreadScratch> threads;  ///< One per thread, indexed by the slot number; never shrinks.
  /// [blocks, Cout*K]: each block's partial weight gradient ([K, Cout padded] for vector)
  Tensor<T, 2> dweight;
  Tensor<T, 2> dbias;          ///< [blocks, Cout]: each block's partial bias gradient
  detail::BlockReduction sum;  ///< adds the partials up while the blocks run
  Tensor<T, 2> weight_t;       ///< vector: [K, Cout padded], the weights transposed
  Tensor<T, 1> bias_t;         ///< vector: [Cout padded]
  /// vector: the weights [Cout, K] and bias [Cout] (zeros for none), one
  /// after the other, that weight_t and bias_t were made from
  Tensor<T, 1> weight_t_source;
  Tensor<T, 2> weight_flipped;  ///< vector: [Cin, Cout*KH*KW], each filter turned by 180 degrees
  /// winograd: the transformed filters U, one packed [Cout, Cin] per cell
  std::vector<PackedGemmOperand<T>> winograd_weight;
  Tensor<T, 1> winograd_cell;    ///< winograd: one cell's U, [Cout, Cin], before it is packed
  Tensor<T, 1> winograd_source;  ///< winograd: the weights [Cout, Cin, 3, 3] U was made from
  /// im2col, pointwise: each group's weights packed for the forward's GEMM
  std::vector<PackedGemmOperand<T>> packed_weight;
  /// The promise that the weights stay constant (Graph::set_constant_weights)
  /// under which packed_weight was made; 0: none made.
  std::uint64_t packed_constant = 0;
  /// The promise under which Winograd's kept weights were last made or
  /// checked: while it holds they are not checked again.
  std::uint64_t winograd_constant = 0;
  /// The same for the vector path's transposed weights.
  std::uint64_t vector_constant = 0;
  Tensor<T, 1> zero_row;           ///< winograd: zeros as wide as the input (rows above and below it)
  std::vector<Index> tap_offsets;  ///< depthwise forward: where each tap reads in a channel's phase planes
};

namespace detail {
// Whether kept[at, at + n) holds exactly the n values at `values`, bit for
// bit: the check that a transform kept in the workspace (the vector path's
// transposed weights, Winograd's transformed ones) was made from these
// weights. At inference they stay the same from call to call, and comparing
// costs less than transforming again.
template <class T>
bool kept_copy_matches(const Tensor<T, 1>& kept, Index at, const T* values, Index n) {
  return std::memcmp(values, kept.data() + at, static_cast<std::size_t>(n) * sizeof(T)) == 0;
}
}  // namespace detail

}  // namespace fovea
