#pragma once

/// @file
/// How a parallel loop cuts its items: [0, n) into contiguous chunks, in
/// order, sizes differing by at most one. The cut depends only on n and the
/// chunk count, never on the threads that run it, which is what lets a caller
/// keep one partial result per chunk and get the same bits run after run.

#include <algorithm>

#include "fovea/core/shape.hpp"

namespace fovea {

/// A half-open item range [begin, end): one chunk of a parallel_for.
struct Range {
  Index begin;  ///< First item of the chunk.
  Index end;    ///< One past the last item of the chunk.
};
/// The chunk of [0, n) that chunk `c` of `chunks` covers: contiguous, in order,
/// sizes differing by at most one (the first n % chunks chunks get the extra item).
inline Range chunk_range(Index n, int chunks, int c) {
  const Index base = n / chunks;
  const Index extra = n % chunks;
  const Index begin = c * base + std::min<Index>(c, extra);
  return {begin, begin + base + (c < extra ? 1 : 0)};
}

}  // namespace fovea
