// libFuzzer entry point for the .npy reader; built and run by tests/fuzz/run.sh.

#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/targets.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fovea::fuzz::npy(std::span<const std::uint8_t>(data, size));
  return 0;
}
