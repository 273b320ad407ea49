#pragma once

// Numbers in layer descriptions and error messages: the shortest text that
// reads back as the same double ("0.01", "1.5", "1e-07"), where std::to_string
// would print "0.010000".

#include <array>
#include <charconv>
#include <string>

namespace fovea::detail {

inline std::string format_number(double value) {
  std::array<char, 32> text{};
  const auto result = std::to_chars(text.data(), text.data() + text.size(), value);
  return {text.data(), result.ptr};
}

}  // namespace fovea::detail
