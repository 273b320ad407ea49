#pragma once

// Reads ONNX models and the cases of ONNX's own node tests with ONNX's
// protobuf classes. A case is a folder (onnx/backend/test/data/node/<case>/,
// installed by Debian's libonnx-testdata under /usr/share/libonnx-testdata):
//
//   model.onnx                      a ModelProto, usually of one node
//   test_data_set_<k>/input_<i>.pb  a TensorProto per graph input, in order
//   test_data_set_<k>/output_<i>.pb a TensorProto per graph output
//
// The conformance runner of the importer reads cases with read_test_case and
// compares fovea's outputs with to_array(output). Test data is trusted input,
// but every failure still throws a fovea::format_error naming the file.

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fovea/core/error.hpp"
#include "fovea/io/data/npy.hpp"

namespace fovea::onnx_test {

namespace fs = std::filesystem;

// One test_data_set_<k>: the graph's inputs and its expected outputs.
struct DataSet {
  fs::path folder;
  std::vector<::onnx::TensorProto> inputs;
  std::vector<::onnx::TensorProto> outputs;
};

struct TestCase {
  std::string name;  // the folder's name, e.g. "test_conv_with_strides_padding"
  ::onnx::ModelProto model;
  std::vector<DataSet> data_sets;  // by k, at least one
};

inline std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw io_error("onnx_test: cannot open " + detail::quoted_path(path));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw io_error("onnx_test: cannot read " + detail::quoted_path(path));
  return bytes;
}

template <class Proto>
Proto read_proto(const fs::path& path, const char* type) {
  Proto proto;
  if (!proto.ParseFromString(read_bytes(path))) {
    throw format_error("onnx_test: " + detail::quoted_path(path) + " is not a serialized " + type);
  }
  return proto;
}

inline ::onnx::ModelProto read_model(const fs::path& path) {
  return read_proto<::onnx::ModelProto>(path, "ModelProto");
}
inline ::onnx::TensorProto read_tensor(const fs::path& path) {
  return read_proto<::onnx::TensorProto>(path, "TensorProto");
}

// The version of the default operator set ("" or "ai.onnx") the model imports; 0 if none.
inline std::int64_t opset_of(const ::onnx::ModelProto& model) {
  for (const auto& entry : model.opset_import()) {
    if (entry.domain().empty() || entry.domain() == "ai.onnx") return entry.version();
  }
  return 0;
}

// The operator types of the graph's nodes, each once, sorted.
inline std::set<std::string> op_types(const ::onnx::ModelProto& model) {
  std::set<std::string> types;
  for (const auto& node : model.graph().node()) types.insert(node.op_type());
  return types;
}

inline std::vector<Index> dims_of(const ::onnx::TensorProto& tensor) {
  return {tensor.dims().begin(), tensor.dims().end()};
}

inline std::string describe(const ::onnx::TensorProto& tensor) {
  return "tensor '" + tensor.name() + "' " + to_string(dims_of(tensor));
}

// Element count of the dims, refusing negative or absurd ones.
inline Index element_count(const ::onnx::TensorProto& tensor) {
  Index count = 1;
  for (const std::int64_t d : tensor.dims()) {
    if (d < 0 || (d > 0 && count > (Index{1} << 40) / d)) {
      throw format_error("onnx_test: " + describe(tensor) + " has an impossible dimension " + std::to_string(d));
    }
    count *= d;
  }
  return count;
}

// The raw_data bytes as `count` little-endian values of Bits, or an error
// when their length is another.
template <class Bits>
std::vector<Bits> raw_values(const ::onnx::TensorProto& tensor, Index count) {
  const std::string& raw = tensor.raw_data();
  if (static_cast<Index>(raw.size()) != count * static_cast<Index>(sizeof(Bits))) {
    throw format_error("onnx_test: " + describe(tensor) + " has " + std::to_string(raw.size()) +
                       " bytes of raw data, expected " + std::to_string(count * static_cast<Index>(sizeof(Bits))));
  }
  std::vector<Bits> values(static_cast<std::size_t>(count));
  for (Index i = 0; i < count; ++i) {
    Bits bits = 0;
    for (std::size_t b = 0; b < sizeof(Bits); ++b) {
      bits = static_cast<Bits>(bits |
                               (static_cast<Bits>(static_cast<std::uint8_t>(raw[i * sizeof(Bits) + b])) << (8 * b)));
    }
    values[static_cast<std::size_t>(i)] = bits;
  }
  return values;
}

template <class Field>
void require_count(const ::onnx::TensorProto& tensor, const Field& field, Index count) {
  if (static_cast<Index>(field.size()) != count) {
    throw format_error("onnx_test: " + describe(tensor) + " holds " + std::to_string(field.size()) +
                       " values, its dims need " + std::to_string(count));
  }
}

inline void require_local(const ::onnx::TensorProto& tensor) {
  if (tensor.data_location() == ::onnx::TensorProto::EXTERNAL) {
    throw format_error("onnx_test: " + describe(tensor) + " keeps its data in an external file, not supported");
  }
}

// A FLOAT or DOUBLE tensor as an array of T (shape = dims; a scalar has none).
template <class T = float>
NpyArray<T> to_array(const ::onnx::TensorProto& tensor) {
  require_local(tensor);
  const Index count = element_count(tensor);
  NpyArray<T> array;
  array.shape = dims_of(tensor);
  array.values.reserve(static_cast<std::size_t>(count));
  if (tensor.data_type() == ::onnx::TensorProto::FLOAT) {
    if (tensor.has_raw_data()) {
      for (std::uint32_t bits : raw_values<std::uint32_t>(tensor, count)) {
        array.values.push_back(static_cast<T>(std::bit_cast<float>(bits)));
      }
    } else {
      require_count(tensor, tensor.float_data(), count);
      for (float v : tensor.float_data()) array.values.push_back(static_cast<T>(v));
    }
  } else if (tensor.data_type() == ::onnx::TensorProto::DOUBLE) {
    if (tensor.has_raw_data()) {
      for (std::uint64_t bits : raw_values<std::uint64_t>(tensor, count)) {
        array.values.push_back(static_cast<T>(std::bit_cast<double>(bits)));
      }
    } else {
      require_count(tensor, tensor.double_data(), count);
      for (double v : tensor.double_data()) array.values.push_back(static_cast<T>(v));
    }
  } else {
    throw format_error("onnx_test: " + describe(tensor) + " has data type " +
                       ::onnx::TensorProto::DataType_Name(tensor.data_type()) + ", expected FLOAT or DOUBLE");
  }
  return array;
}

// An INT64 or INT32 tensor's values (shapes, axes, pads, indices).
inline std::vector<std::int64_t> int64_values(const ::onnx::TensorProto& tensor) {
  require_local(tensor);
  const Index count = element_count(tensor);
  std::vector<std::int64_t> values;
  if (tensor.data_type() == ::onnx::TensorProto::INT64) {
    if (tensor.has_raw_data()) {
      for (std::uint64_t bits : raw_values<std::uint64_t>(tensor, count)) {
        values.push_back(static_cast<std::int64_t>(bits));
      }
    } else {
      require_count(tensor, tensor.int64_data(), count);
      values.assign(tensor.int64_data().begin(), tensor.int64_data().end());
    }
  } else if (tensor.data_type() == ::onnx::TensorProto::INT32) {
    if (tensor.has_raw_data()) {
      for (std::uint32_t bits : raw_values<std::uint32_t>(tensor, count)) {
        values.push_back(static_cast<std::int32_t>(bits));
      }
    } else {
      require_count(tensor, tensor.int32_data(), count);
      values.assign(tensor.int32_data().begin(), tensor.int32_data().end());
    }
  } else {
    throw format_error("onnx_test: " + describe(tensor) + " has data type " +
                       ::onnx::TensorProto::DataType_Name(tensor.data_type()) + ", expected INT64 or INT32");
  }
  return values;
}

// <prefix>_0.pb, <prefix>_1.pb, ... in `folder`, by number; the numbers must
// run from 0 without a gap.
inline std::vector<::onnx::TensorProto> read_numbered(const fs::path& folder, const std::string& prefix) {
  std::vector<std::pair<long, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(folder)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with(prefix + "_") || entry.path().extension() != ".pb") continue;
    const std::string number = name.substr(prefix.size() + 1, name.size() - prefix.size() - 4);
    if (number.empty() || !std::all_of(number.begin(), number.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    files.emplace_back(std::stol(number), entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<::onnx::TensorProto> tensors;
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (files[i].first != static_cast<long>(i)) {
      throw format_error("onnx_test: " + detail::quoted_path(folder) + " has no " + prefix + "_" + std::to_string(i) +
                         ".pb before " + files[i].second.filename().string());
    }
    tensors.push_back(read_tensor(files[i].second));
  }
  return tensors;
}

// The model and every test_data_set_<k> of one case folder.
inline TestCase read_test_case(const fs::path& folder) {
  TestCase test;
  test.name = folder.filename().string();
  test.model = read_model(folder / "model.onnx");
  for (int k = 0;; ++k) {
    const fs::path set = folder / ("test_data_set_" + std::to_string(k));
    if (!fs::is_directory(set)) break;
    test.data_sets.push_back({set, read_numbered(set, "input"), read_numbered(set, "output")});
  }
  if (test.data_sets.empty()) {
    throw format_error("onnx_test: " + detail::quoted_path(folder) + " has no test_data_set_0");
  }
  return test;
}

}  // namespace fovea::onnx_test
