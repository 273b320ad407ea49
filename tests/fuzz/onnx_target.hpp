#pragma once

// The ONNX importer's fuzz target, apart from targets.hpp because it needs
// ONNX's library and protobuf (the optional fovea::onnx target), and the
// same contract as targets.hpp's: built by
// tests/fuzz/run.sh when libonnx is installed, replayed by tests/onnx/import.cpp.
//
// The contract: whatever the bytes, fovea::onnx::load_bytes returns a network
// or throws a fovea exception (onnx_error for every fault of the model);
// a network it returns runs on a small batch and exports again.

#include <cstdint>
#include <span>
#include <string_view>

#include "fovea/core/error.hpp"
#include "fovea/onnx.hpp"

namespace fovea::fuzz {

inline void onnx_model(std::span<const std::uint8_t> bytes) {
  // Small limits keep every input's memory in the fuzzer's budget.
  const onnx::ImportOptions limits{.max_bytes = 1 << 20, .max_tensor_values = 1 << 20, .max_total_values = 1 << 22};
  try {
    auto imported =
        onnx::import_bytes<float>(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), limits);
    auto& net = imported.graph;
    if (shape_size(net.input_shape()) > (1 << 12) || net.parameter_count() > (1 << 20)) return;
    Tensor<float, 4> x = Tensor<float, 4>::full(batch_shape(2, net.input_shape()), 0.5f);
    (void)net.infer(x);
    (void)onnx::to_model(net);
  } catch (const format_error&) {  // onnx_error among them
  } catch (const io_error&) {
  } catch (const shape_error&) {
  } catch (const value_error&) {
  } catch (const index_error&) {
  } catch (const state_error&) {
  } catch (const numeric_error&) {
  }
}

}  // namespace fovea::fuzz
