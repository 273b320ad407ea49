// libFuzzer entry point for the ONNX importer; built and run by
// tests/fuzz/run.sh when ONNX's library is installed.

#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/onnx_target.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fovea::fuzz::onnx_model(std::span<const std::uint8_t>(data, size));
  return 0;
}
