#pragma once

// How file names appear in error messages: in single quotes, so an empty or
// space-padded name is still visible.

#include <filesystem>
#include <string>

namespace fovea::detail {

// Built by appending: GCC 12's -Wrestrict misfires on "'" + path.string()
// (GCC bug 105651).
inline std::string quoted_path(const std::filesystem::path& path) {
  std::string text;
  text.reserve(path.native().size() + 2);
  text += '\'';
  text += path.native();
  text += '\'';
  return text;
}

}  // namespace fovea::detail
