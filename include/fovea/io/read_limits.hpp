#pragma once

/// @file
/// How much a reader may allocate. Every reader checks a file's header first
/// and bounds what it allocates by what the file can hold (its size, or the
/// best compression ratio its format allows); these caps bound it further, so
/// a damaged or hostile file costs at most this much memory. Raise them for
/// larger inputs: `load<float>(path, {.max_file_bytes = Index{1} << 34})`.

#include "fovea/core/shape.hpp"

namespace fovea {

/// Upper bounds on what a reader allocates (see this file's overview).
struct ReadLimits {
  /// The largest file read whole (model files, images), and the most bytes an
  /// idx file may hold after decompression: 2 GiB.
  Index max_file_bytes = Index{1} << 31;
  /// The most pixels an image may declare: 8192 x 8192 (an RGBA image that
  /// large is 1 GiB as floats).
  Index max_image_pixels = Index{1} << 26;
};

}  // namespace fovea
