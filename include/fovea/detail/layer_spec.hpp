#pragma once

// Checks shared by every layer's from_spec.

#include <string>
#include <string_view>

#include "fovea/core/error.hpp"
#include "fovea/layers/layer.hpp"

namespace fovea::detail {

// from_spec was handed a spec for another layer type.
inline void require_spec_type(const LayerSpec& spec, std::string_view expected) {
  if (spec.type != expected) {
    throw format_error(std::string(expected) + "::from_spec: spec is for a '" + spec.type + "' layer");
  }
}

}  // namespace fovea::detail
