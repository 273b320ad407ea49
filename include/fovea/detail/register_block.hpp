#pragma once

// Register blocks for the hand-written convolution kernels
// (ops/conv2d_direct.hpp, ops/conv2d_vector.hpp, ops/conv2d_depthwise.hpp):
// a block of V values the compiler keeps in one vector register (or two),
// short copies with whole-vector moves, and the loops that turn a run-time
// count into a compile-time block size. Knows nothing about convolution.

#include <Eigen/Core>
#include <algorithm>
#include <type_traits>

#include "fovea/core/shape.hpp"

namespace fovea::detail {

// Values in one register block: 16
// floats (8 doubles), one 512-bit or two 256-bit vectors per output channel,
// so that six channels' accumulators plus the input vector fit in the 16
// (AVX2) or 32 (AVX-512) vector registers.
template <class T>
inline constexpr Index direct_block = static_cast<Index>(64 / sizeof(T));

// Accumulators are fixed-size Eigen arrays, which the compiler keeps in
// vector registers: one block of V output positions (or channels).
template <class T>
using DirectBlock = Eigen::Array<T, direct_block<T>, 1>;

// Copies a short run of values (a row of a small feature map, 1 to a few
// dozen) with fixed-size vector moves: whole blocks, then two overlapping
// pieces of the widest size that fits. std::copy_n calls memmove, whose
// per-call cost, paid on hundreds of short rows per sample, is a visible
// part of a LeNet step.
template <class T, Index Width>
void copy_pieces(const T* from, Index count, T* to) {
  using Piece = Eigen::Array<T, Width, 1>;
  if constexpr (Width > 1) {
    if (count < Width) {
      copy_pieces<T, Width / 2>(from, count, to);
      return;
    }
    Eigen::Map<Piece> head(to), tail(to + count - Width);
    const Piece first = Eigen::Map<const Piece>(from), last = Eigen::Map<const Piece>(from + count - Width);
    head = first;
    tail = last;
  } else {
    if (count == 1) *to = *from;
  }
}
template <class T>
void copy_row(const T* from, Index count, T* to) {
  constexpr Index V = direct_block<T>;
  Index i = 0;
  for (; i + V <= count; i += V) {
    Eigen::Map<DirectBlock<T>> block(to + i);
    block = Eigen::Map<const DirectBlock<T>>(from + i);
  }
  if (i == count) return;
  if (i > 0) {  // the last whole block, overlapping the previous one
    Eigen::Map<DirectBlock<T>> block(to + count - V);
    block = Eigen::Map<const DirectBlock<T>>(from + count - V);
    return;
  }
  copy_pieces<T, V / 2>(from, count, to);
}

// Stores the first `count` of a block's V values (a block past the right
// edge computed outputs that do not exist).
template <class T>
void store_block(const DirectBlock<T>& block, Index count, T* out) {
  if (count == direct_block<T>) {
    Eigen::Map<DirectBlock<T>> whole(out);
    whole = block;
  } else {
    alignas(64) T last[direct_block<T>];
    Eigen::Map<DirectBlock<T>> spill(last);
    spill = block;
    copy_row(last, count, out);
  }
}

// One kernel row of KW taps into RB x CB register blocks: acc[r][c] +=
// weights[c * filter_stride + kj] * (the V values at row + r * width + kj),
// for every tap kj. Each weight is broadcast once for all RB rows. Shared by
// the direct convolution and the full correlation of the input gradient.
template <class T, int CB, int RB>
[[gnu::always_inline]] inline void accumulate_kernel_row(const T* row, Index width, const T* weights,
                                                         Index filter_stride, Index KW, DirectBlock<T> (&acc)[RB][CB]) {
  for (Index kj = 0; kj < KW; ++kj) {
    DirectBlock<T> in[RB];
    for (int r = 0; r < RB; ++r) in[r] = Eigen::Map<const DirectBlock<T>>(row + r * width + kj);
    for (int c = 0; c < CB; ++c) {
      const T weight = weights[c * filter_stride + kj];
      for (int r = 0; r < RB; ++r) acc[r][c] += weight * in[r];
    }
  }
}

// Calls body(std::integral_constant<int, n>{}) for a run-time Min <= n <= Max:
// each block size is its own instantiation, with accumulators the compiler
// keeps in registers.
template <int Max, int Min = 1, class Body>
void with_count(Index n, Body&& body) {
  if constexpr (Max > Min) {
    if (n < Max) {
      with_count<Max - 1, Min>(n, body);
      return;
    }
  }
  body(std::integral_constant<int, Max>{});
}

// Splits [0, total) into the fewest blocks of at most Max items, as even as
// possible (a 10-wide row is one block of 10, a 28-wide one 10 + 9 + 9), and
// calls body(begin, block) for each. Blocks have at least Max / 2 items when
// total does, so a caller that passes Min = Max / 2 for such totals compiles
// half the block sizes.
template <int Max, int Min = 1, class Body>
void for_even_blocks(Index total, Body&& body) {
  const Index blocks = (total + Max - 1) / Max;
  for (Index b = 0, begin = 0; b < blocks; ++b) {
    const Index size = total / blocks + (b < total % blocks ? 1 : 0);
    with_count<Max, Min>(size, [&](auto count) { body(begin, count); });
    begin += size;
  }
}

// Filters (or channels) in blocks of six (LeNet's conv1 is one block), the
// rest in one smaller block; each block size is its own instantiation so that its
// accumulators have a compile-time shape.
template <class Body>
void for_filter_blocks(Index filters, Body&& body) {
  for (Index f = 0; f < filters; f += 6) {
    with_count<6>(std::min<Index>(filters - f, 6), [&](auto block) { body(f, block); });
  }
}

}  // namespace fovea::detail
