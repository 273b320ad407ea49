#pragma once

// parallel_for with a static partition: item range [0, n) is cut into one
// contiguous chunk per thread, the same cut for the same thread count, so a
// caller that keeps one partial result per chunk and reduces them in chunk
// order gets bit-identical results run after run.
//
// Threads come from OpenMP when fovea is built with it (the fovea::fovea
// target adds it unless FOVEA_OPENMP=OFF); without OpenMP everything runs on
// the calling thread.

#include <algorithm>

#include "fovea/core/shape.hpp"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace fovea {

// Threads parallel_for will use (OpenMP's current setting, or 1).
inline int max_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// Sets the thread count for fovea's parallel loops (and OpenMP's).
inline void set_threads(int threads) {
#ifdef _OPENMP
  omp_set_num_threads(std::max(1, threads));
#else
  (void)threads;
#endif
}

// The chunk of [0, n) that chunk `c` of `chunks` covers.
struct Range {
  Index begin;
  Index end;
};
inline Range chunk_range(Index n, int chunks, int c) {
  const Index base = n / chunks;
  const Index extra = n % chunks;
  const Index begin = c * base + std::min<Index>(c, extra);
  return {begin, begin + base + (c < extra ? 1 : 0)};
}

// How many chunks parallel_for will cut n items into.
inline int chunk_count(Index n) { return static_cast<int>(std::clamp<Index>(n, 1, max_threads())); }

// Calls body(begin, end, chunk) once per chunk, chunks in parallel.
template <class Body>
void parallel_for(Index n, Body&& body) {
  const int chunks = chunk_count(n);
  if (chunks == 1) {
    body(Index{0}, n, 0);
    return;
  }
#ifdef _OPENMP
#pragma omp parallel for schedule(static, 1) num_threads(chunks)
#endif
  for (int c = 0; c < chunks; ++c) {
    const Range r = chunk_range(n, chunks, c);
    body(r.begin, r.end, c);
  }
}

}  // namespace fovea
