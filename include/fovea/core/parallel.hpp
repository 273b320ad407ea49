#pragma once

/// @file
/// Parallel loops: parallel_for cuts [0, n) into one contiguous chunk per
/// thread (core/partition.hpp), the same cut for the same thread count, so a
/// caller that keeps one partial result per chunk and reduces them in chunk
/// order gets bit-identical results run after run.
///
/// parallel_blocks cuts the items finer, into a fixed number of blocks that
/// the pool's threads share out (core/thread_pool.hpp): on equal cores each
/// block stays with the thread that ran the same items in the previous layer,
/// and on unequal ones the faster thread takes over the slower one's last
/// blocks. Where a block starts and ends depends only on the item count and
/// the block count the caller asks for, so per-block partial results added in
/// a fixed order (detail::BlockReduction, core/block_reduction.hpp) give the same bits whichever thread
/// ran which block.

#include <algorithm>
#include <memory>
#include <type_traits>

#include "fovea/core/partition.hpp"
#include "fovea/core/shape.hpp"
#include "fovea/core/thread_pool.hpp"

namespace fovea {

/// How many chunks parallel_for will cut n items into: n clamped to [1, max_threads()].
inline int chunk_count(Index n) { return static_cast<int>(std::clamp<Index>(n, 1, max_threads())); }

/// One block of a parallel_blocks call, as its body sees it.
struct Block {
  Index begin;  ///< First item of the block.
  Index end;    ///< One past the last item of the block.
  int index;    ///< The block's number in [0, blocks): where a per-block partial result goes.
  int slot;     ///< The thread running it, in [0, block_slots(blocks)): where per-thread scratch goes.
  bool first;   ///< True for the first block this slot runs in this call (set up its scratch).
};

/// How many threads parallel_blocks runs `blocks` blocks on: blocks clamped to [1, max_threads()].
inline int block_slots(int blocks) { return chunk_count(blocks); }

namespace detail {
// The one copy of a parallel loop's body: the pool's threads and the serial
// path both call it through this function, which is never inlined, so the
// compiler optimises and emits each body once instead of once per path.
template <class Function>
[[gnu::noinline]] void run_block(void* erased, Index items, int count, int block, int slot, bool first) {
  const Range r = chunk_range(items, count, block);
  (*static_cast<Function*>(erased))(Block{r.begin, r.end, block, slot, first});
}
}  // namespace detail

/// Calls body(const Block&) once per block of [0, n) cut into `blocks` blocks
/// (block b covers chunk_range(n, blocks, b)), on up to block_slots(blocks)
/// threads: each runs its share of blocks in order, then takes unstarted
/// blocks from the back of the others' shares (see the top of this file). No
/// two blocks of one slot run at the same time. Errors as parallel_for. A call
/// inside a block runs on that block's thread, its unstarted blocks taken from
/// the back by threads that have run out of the outer call's blocks (one level
/// deep; deeper calls, and a call made while another thread's runs, take every
/// block in order as slot 0).
template <class Body>
void parallel_blocks(Index n, int blocks, Body&& body) {
  blocks = static_cast<int>(std::clamp<Index>(blocks, 1, std::max<Index>(n, 1)));
  const int slots = block_slots(blocks);
  const detail::ThreadPool::BlockFunction run = detail::run_block<std::remove_reference_t<Body>>;
  void* erased = const_cast<void*>(static_cast<const void*>(std::addressof(body)));
  if (slots > 1) {
    detail::ThreadPool& pool = detail::ThreadPool::instance();
    if (pool.run_nested(n, blocks, slots, run, erased) || pool.run(n, blocks, slots, run, erased)) return;
  }
  for (int b = 0; b < blocks; ++b) run(erased, n, blocks, b, 0, b == 0);
}

/// parallel_for cut into at most `chunks` chunks: with 1, the body runs once,
/// over all of [0, n), on this thread (a caller that decides itself whether
/// its work is worth the other threads).
template <class Body>
void parallel_for(Index n, int chunks, Body&& body) {
  parallel_blocks(n, static_cast<int>(std::clamp<Index>(n, 1, std::max(chunks, 1))),
                  [&](const Block& chunk) { body(chunk.begin, chunk.end, chunk.index); });
}

/// Calls body(begin, end, chunk) once per chunk, chunks in parallel: one
/// block per thread of parallel_blocks. An exception thrown by a chunk reaches
/// the caller once every chunk has ended (the lowest-numbered chunk's, if
/// several threw). A parallel_for inside a chunk is a nested parallel_blocks
/// (see there); one started while another thread's is running runs the same
/// chunks in order on the calling thread.
template <class Body>
void parallel_for(Index n, Body&& body) {
  parallel_for(n, max_threads(), body);
}

/// A block count for parallel_blocks: about `per_thread` blocks per thread, at
/// most one per item, and a single block on one thread (nobody to hand blocks to).
inline int blocks_per_thread(Index n, Index per_thread) {
  const int threads = chunk_count(n);
  return threads == 1 ? 1 : static_cast<int>(std::min<Index>(n, per_thread * threads));
}

namespace detail {

// Calls body(begin, end) over [0, n): split across threads when n is large
// (LeNet's first ReLU sees 300k values per batch, its first Linear layer has
// 48k weights to update), on this thread when a pass costs less than waking
// the others. For elementwise work. The cuts fall on multiples of
// element_chunk_align elements: Eigen runs whole SIMD packets over the middle
// of a range and scalar code over its ends, and the two can round differently
// (sqrt, tanh, a contracted multiply-add), so a cut mid-packet would change
// the bits of the elements beside it. Aligned cuts give every element the code
// path it gets in one pass: the same bits for any thread count.
inline constexpr Index elementwise_parallel_min = Index{1} << 15;
inline constexpr Index element_chunk_align = 64;  // whole packets of float and double, whole cache lines
// A small pass is one chunk through the same parallel_blocks call, so that
// the body is compiled once.
template <class Body>
void for_each_element_chunk(Index n, Body&& body) {
  const Index pieces = (n + element_chunk_align - 1) / element_chunk_align;
  const int chunks = n < elementwise_parallel_min ? 1 : chunk_count(pieces);
  parallel_blocks(pieces, chunks, [&](const Block& chunk) {
    body(chunk.begin * element_chunk_align, std::min(chunk.end * element_chunk_align, n));
  });
}

}  // namespace detail

}  // namespace fovea
