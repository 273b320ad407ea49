#pragma once

/// @file
/// The sum of per-block partial results of a parallel_blocks loop
/// (core/parallel.hpp), added while the loop runs, in an order that depends
/// only on the block count.

#include <atomic>
#include <vector>

namespace fovea::detail {

// Adds per-block partial results while parallel_blocks runs, in a binary tree
// whose shape depends only on the block count: blocks 2i and 2i+1 are summed
// into 2i, then 4i and 4i+2 into 4i, and so on (a block with no partner moves
// up unchanged). Whichever thread finishes the second half of a pair adds it,
// so the sums run beside the other threads' blocks instead of after the loop,
// and the bits do not depend on which thread ran or added what. Call reset()
// before the loop; the partials live with the caller.
class BlockReduction {
 public:
  /// Before each parallel_blocks call: `blocks` partials, none finished.
  void reset(int blocks) {
    blocks_ = blocks;
    arrivals_.assign(static_cast<std::size_t>(blocks), 0);
  }

  // Block `block`'s partial is complete: add(into, from) adds partial `from`
  // into partial `into` for every pair this completes. Returns true on the one
  // call that completes the tree: partial 0 then holds the sum of all of them.
  template <class Add>
  bool finish(int block, Add&& add) {
    int node = block;
    for (int half = 1; half < blocks_; half *= 2) {
      const int left = node & ~(2 * half - 1);
      const int right = left + half;  // unique per pair: its lowest set bit is `half`
      if (right < blocks_) {
        std::atomic_ref<int> arrived(arrivals_[static_cast<std::size_t>(right)]);
        if (arrived.fetch_add(1, std::memory_order_acq_rel) == 0) return false;  // the other half is still running
        add(left, right);
      }
      node = left;
    }
    return true;
  }

 private:
  int blocks_ = 0;
  std::vector<int> arrivals_;  // [right]: halves of the pair (right - half, right) finished
};

}  // namespace fovea::detail
