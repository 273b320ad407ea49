#include "fovea/io/data/npy.hpp"

#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <numbers>

#include "support/largest_allocation.hpp"
#include "support/temp_files.hpp"

using Catch::Matchers::Contains;
using fovea::Index;
using fovea::NpyArray;
using fovea::read_npy;
using fovea::Tensor;
using fovea::write_npy;
using fovea::test::Bytes;
namespace fs = std::filesystem;

namespace {

const fovea::test::TempFolder folder("npy");
// Written by NumPy 1.24 (tests/io/data/make_npy.py).
const fs::path numpy_files = FOVEA_NPY_DATA_DIR;

std::string quoted(const fs::path& path) { return fovea::detail::quoted_path(path); }

// A .npy file by hand: preamble of the given version, the header dict padded
// with spaces to a multiple of 64 as NumPy pads it, then the data bytes.
Bytes npy_file(const std::string& dict, const Bytes& data, int major = 1) {
  const std::size_t preamble = major == 1 ? 10 : 12;
  std::string header = dict;
  while ((preamble + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  Bytes bytes = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
  for (std::size_t i = 0; i < preamble - 8; ++i) bytes.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
  bytes.insert(bytes.end(), header.begin(), header.end());
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

Bytes float_bytes(std::initializer_list<float> values) {
  Bytes bytes;
  for (float v : values) {
    const auto bits = std::bit_cast<std::uint32_t>(v);
    for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<std::uint8_t>(bits >> (8 * b)));
  }
  return bytes;
}

fs::path write(const std::string& name, const Bytes& bytes) {
  const fs::path path = folder / name;
  fovea::test::write_file(path, bytes);
  return path;
}

// The message read_npy<float> throws for the bytes, written as `name`.
std::string error_for(const std::string& name, const Bytes& bytes) {
  const fs::path path = write(name, bytes);
  try {
    (void)read_npy<float>(path);
  } catch (const fovea::format_error& error) {
    return error.what();
  }
  return "(no format_error)";
}

std::vector<fs::path> temporary_files() {
  std::vector<fs::path> found;
  for (const auto& entry : fs::directory_iterator(folder.path())) {
    if (entry.path().filename().string().find(".tmp-") != std::string::npos) found.push_back(entry.path());
  }
  return found;
}

}  // namespace

TEST_CASE("read_npy reads what NumPy writes", "[io][npy]") {
  SECTION("float32 [2, 3], version 1.0") {
    const NpyArray<float> a = read_npy<float>(numpy_files / "f32_2x3.npy");
    CHECK(a.shape == std::vector<Index>{2, 3});
    CHECK(a.values == std::vector<float>{-0.5F, -0.25F, 0.0F, 0.25F, 0.5F, 0.75F});
    CHECK(a.rank() == 2);
    CHECK(a.size() == 6);
  }
  SECTION("float64 [1, 2, 2, 2], bit for bit, signed zero and extremes included") {
    const NpyArray<double> a = read_npy<double>(numpy_files / "f64_1x2x2x2.npy");
    CHECK(a.shape == std::vector<Index>{1, 2, 2, 2});
    const std::vector<double> expected = {1.5, -2.25, 1e-300, 3e300, 0.0, -0.0, std::numbers::pi, -7};
    REQUIRE(a.values.size() == expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
      CHECK(std::bit_cast<std::uint64_t>(a.values[i]) == std::bit_cast<std::uint64_t>(expected[i]));
    }
  }
  SECTION("version 2.0 header, one dimension") {
    const NpyArray<float> a = read_npy<float>(numpy_files / "f32_v2_5.npy");
    CHECK(a.shape == std::vector<Index>{5});
    CHECK(a.values == std::vector<float>{1, 2, 3, 4, 5});
  }
  SECTION("a 0-d array holds one value") {
    const NpyArray<float> a = read_npy<float>(numpy_files / "f32_scalar.npy");
    CHECK(a.shape.empty());
    CHECK(a.rank() == 0);
    CHECK(a.values == std::vector<float>{2.5F});
  }
  SECTION("an empty array") {
    const NpyArray<float> a = read_npy<float>(numpy_files / "f32_empty_0x3.npy");
    CHECK(a.shape == std::vector<Index>{0, 3});
    CHECK(a.values.empty());
    CHECK(read_npy<float, 2>(numpy_files / "f32_empty_0x3.npy").shape() == fovea::Shape<2>{0, 3});
  }
  SECTION("float64 files read as float and float32 files as double") {
    const NpyArray<float> narrow = read_npy<float>(numpy_files / "f64_1x2x2x2.npy");
    CHECK(narrow.values[0] == 1.5F);
    CHECK(narrow.values[6] == static_cast<float>(std::numbers::pi));
    CHECK(std::isinf(narrow.values[3]));  // 3e300 has no float
    const NpyArray<double> wide = read_npy<double>(numpy_files / "f32_2x3.npy");
    CHECK(wide.values == std::vector<double>{-0.5, -0.25, 0.0, 0.25, 0.5, 0.75});
  }
}

TEST_CASE("an NpyArray becomes a Tensor of its rank or a batch", "[io][npy]") {
  const fs::path path = numpy_files / "f32_2x3.npy";
  const Tensor<float, 2> t = read_npy<float, 2>(path);
  CHECK(t.shape() == fovea::Shape<2>{2, 3});
  CHECK(t.view()(1, 2) == 0.75F);
  CHECK_THROWS_WITH((read_npy<float, 4>(path)),
                    "read_npy: " + quoted(path) + " holds shape [2, 3] (rank 2), expected rank 4");

  const NpyArray<float> a = read_npy<float>(path);
  CHECK_THROWS_AS(a.tensor<3>(), fovea::shape_error);
  CHECK_THROWS_WITH(a.tensor<3>(), "NpyArray::tensor<3>: the array has shape [2, 3] (rank 2), expected rank 3");
  // [N, F] -> [N, F, 1, 1]: a batch of feature vectors as fovea lays it out.
  const Tensor<float, 4> batch = a.batch();
  CHECK(batch.shape() == fovea::Shape<4>{2, 3, 1, 1});
  CHECK(batch.view()(1, 0, 0, 0) == 0.25F);
  CHECK(read_npy<double>(numpy_files / "f32_v2_5.npy").batch().shape() == fovea::Shape<4>{5, 1, 1, 1});
  CHECK(read_npy<double>(numpy_files / "f64_1x2x2x2.npy").batch().shape() == fovea::Shape<4>{1, 2, 2, 2});
  CHECK_THROWS_WITH(read_npy<float>(numpy_files / "f32_scalar.npy").batch(),
                    "NpyArray::batch: the array has shape [] (rank 0), expected rank 1 to 4");
  const NpyArray<float> five{{1, 1, 1, 1, 2}, {1, 2}};
  CHECK_THROWS_WITH(five.batch(),
                    "NpyArray::batch: the array has shape [1, 1, 1, 1, 2] (rank 5), expected rank 1 to 4");
}

TEST_CASE("write_npy writes the bytes NumPy writes", "[io][npy]") {
  const fs::path path = folder / "same.npy";
  write_npy(path, read_npy<float, 2>(numpy_files / "f32_2x3.npy"));
  CHECK(fovea::test::read_file(path) == fovea::test::read_file(numpy_files / "f32_2x3.npy"));
  write_npy(path, read_npy<double, 4>(numpy_files / "f64_1x2x2x2.npy"));
  CHECK(fovea::test::read_file(path) == fovea::test::read_file(numpy_files / "f64_1x2x2x2.npy"));
  write_npy(path, read_npy<float>(numpy_files / "f32_scalar.npy"));
  CHECK(fovea::test::read_file(path) == fovea::test::read_file(numpy_files / "f32_scalar.npy"));
  write_npy(path, read_npy<float>(numpy_files / "f32_empty_0x3.npy"));
  CHECK(fovea::test::read_file(path) == fovea::test::read_file(numpy_files / "f32_empty_0x3.npy"));
}

TEMPLATE_TEST_CASE("write_npy and read_npy round-trip every rank, bit for bit", "[io][npy]", float, double) {
  fovea::Rng rng(7);
  const fs::path path = folder / "round_trip.npy";
  auto same_bits = [](const TestType* a, const TestType* b, Index n) {
    return std::memcmp(a, b, static_cast<std::size_t>(n) * sizeof(TestType)) == 0;
  };
  auto x1 = Tensor<TestType, 1>::normal({7}, rng, 0, 1);
  x1.data()[0] = std::numeric_limits<TestType>::quiet_NaN();
  x1.data()[1] = -std::numeric_limits<TestType>::infinity();
  x1.data()[2] = std::numeric_limits<TestType>::denorm_min();
  write_npy(path, x1);
  const auto y1 = read_npy<TestType, 1>(path);
  CHECK(y1.shape() == x1.shape());
  CHECK(same_bits(y1.data(), x1.data(), x1.size()));

  const auto x2 = Tensor<TestType, 2>::normal({3, 5}, rng, 0, 1);
  write_npy(path, x2.view());  // a mutable view
  CHECK(same_bits(read_npy<TestType, 2>(path).data(), x2.data(), x2.size()));

  const auto x3 = Tensor<TestType, 3>::normal({2, 3, 4}, rng, 0, 1);
  write_npy(path, fovea::TensorView<const TestType, 3>(x3.view()));
  CHECK(same_bits(read_npy<TestType, 3>(path).data(), x3.data(), x3.size()));

  const auto x4 = Tensor<TestType, 4>::normal({2, 1, 28, 28}, rng, 0, 1);
  write_npy(path, x4);
  const auto y4 = read_npy<TestType, 4>(path);
  CHECK(y4.shape() == x4.shape());
  CHECK(same_bits(y4.data(), x4.data(), x4.size()));

  const NpyArray<TestType> x5{{2, 1, 3, 1, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}};
  write_npy(path, x5);
  const auto y5 = read_npy<TestType>(path);
  CHECK(y5.shape == x5.shape);
  CHECK(y5.values == x5.values);
  CHECK(temporary_files().empty());
}

TEST_CASE("write_npy refuses an inconsistent NpyArray", "[io][npy]") {
  const fs::path path = folder / "inconsistent.npy";
  CHECK_THROWS_WITH(write_npy(path, NpyArray<float>{{2, 3}, {1, 2, 3}}),
                    "write_npy: shape [2, 3] holds 6 elements, the array has 3");
  CHECK_THROWS_WITH(write_npy(path, NpyArray<float>{{-1}, {}}), "write_npy: negative extent in shape [-1]");
  const Index huge = Index{1} << 40;
  CHECK_THROWS_WITH(write_npy(path, NpyArray<float>{{huge, huge}, {}}),
                    "NpyArray::size: shape [1099511627776, 1099511627776] holds more elements than an Index counts");
  CHECK_FALSE(fs::exists(path));
}

TEST_CASE("an empty array's huge other extents round-trip", "[io][npy]") {
  // One extent 0: no elements, however large the others (the product of all
  // of them would overflow).
  const fs::path path = folder / "empty_huge.npy";
  const Index huge = Index{1} << 40;
  const NpyArray<float> empty{{huge, 0, huge}, {}};
  CHECK(empty.size() == 0);
  write_npy(path, empty);
  const auto back = read_npy<float>(path);
  CHECK(back.shape == empty.shape);
  CHECK(back.values.empty());
}

TEST_CASE("a failed write_npy leaves the previous file intact", "[io][npy][durability]") {
  const fs::path path = folder / "durable.npy";
  const auto small = Tensor<float, 2>::full({2, 2}, 1.5F);
  write_npy(path, small);
  const Bytes good = fovea::test::read_file(path);

  SECTION("the disk fills up mid-write") {
    // A 4 KB file size limit makes the write of a 40 KB array fail with EFBIG
    // (SIGXFSZ ignored, so write() returns the error instead of killing us).
    struct rlimit saved {};
    REQUIRE(::getrlimit(RLIMIT_FSIZE, &saved) == 0);
    auto* const previous = ::signal(SIGXFSZ, SIG_IGN);
    struct rlimit limited = saved;
    limited.rlim_cur = 4096;
    REQUIRE(::setrlimit(RLIMIT_FSIZE, &limited) == 0);
    const auto big = Tensor<float, 2>::full({100, 100}, 2.0F);
    std::string message;
    try {
      write_npy(path, big);
    } catch (const fovea::io_error& error) {
      message = error.what();
    }
    ::setrlimit(RLIMIT_FSIZE, &saved);
    ::signal(SIGXFSZ, previous);
    CHECK(message == "write_npy: saving " + quoted(path) +
                         " failed while writing: File too large (the previous "
                         "file is intact)");
  }
  SECTION("the target is a directory") {
    const fs::path directory = folder / "a_directory.npy";
    fs::create_directories(directory);
    CHECK_THROWS_WITH(write_npy(directory, small), "write_npy: saving " + quoted(directory) +
                                                       " failed: " + quoted(directory) +
                                                       " is a directory, not a regular file: refusing to replace it");
    CHECK(fs::is_directory(directory));
  }
  SECTION("the folder does not exist") {
    const fs::path missing = folder / "no_such_folder" / "x.npy";
    CHECK_THROWS_WITH(write_npy(missing, small), "write_npy: cannot create a temporary file in " +
                                                     quoted(missing.parent_path()) + " to save " + quoted(missing) +
                                                     ": No such file or directory");
  }
  CHECK(fovea::test::read_file(path) == good);
  CHECK(temporary_files().empty());
}

TEST_CASE("read_npy refuses what is not a regular file, without blocking", "[io][npy][bad_input]") {
  const fs::path missing = folder / "missing.npy";
  CHECK_THROWS_WITH(read_npy<float>(missing),
                    "read_npy: cannot open " + quoted(missing) + ": No such file or directory");
  CHECK_THROWS_AS(read_npy<float>(missing), fovea::io_error);
  CHECK_THROWS_WITH(read_npy<float>(folder.path()),
                    "read_npy: cannot read " + quoted(folder.path()) + ": it is a directory, expected a regular file");
  // A FIFO with no writer: opening it for a blocking read would wait forever.
  const fs::path fifo = folder / "fifo.npy";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_THROWS_WITH(read_npy<float>(fifo),
                    "read_npy: cannot read " + quoted(fifo) + ": it is a FIFO, expected a regular file");
  CHECK_THROWS_WITH(read_npy<float>("/dev/zero"),
                    "read_npy: cannot read '/dev/zero': it is a character device, expected a regular file");
}

TEST_CASE("read_npy names the file and what is wrong with it", "[io][npy][bad_input]") {
  const Bytes data = float_bytes({1, 2, 3, 4, 5, 6});
  const std::string good_dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
  auto with_dict = [&](const std::string& dict) { return npy_file(dict, data); };
  const std::string at = "read_npy: " + quoted(folder / "bad.npy");

  SECTION("the hand-made file is valid") {
    const NpyArray<float> a = read_npy<float>(write("bad.npy", with_dict(good_dict)));
    CHECK(a.values == std::vector<float>{1, 2, 3, 4, 5, 6});
    const NpyArray<float> b = read_npy<float>(write("bad.npy", npy_file(good_dict, data, 3)));
    CHECK(b.shape == std::vector<Index>{2, 3});
    // Any order of keys, double quotes, no trailing comma, Python 2 longs.
    const NpyArray<float> c =
        read_npy<float>(write("bad.npy", with_dict("{\"shape\":(2L,3L),\"fortran_order\":False,\"descr\":\"<f4\"}")));
    CHECK(c.shape == std::vector<Index>{2, 3});
  }
  SECTION("the dtypes fovea does not read, named") {
    CHECK(error_for("bad.npy", fovea::test::read_file(numpy_files / "i64_3.npy")) ==
          at + " holds dtype '<i8' (int64), expected '<f4' (float32) or '<f8' (float64)");
    CHECK(error_for("bad.npy", with_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }")) ==
          at + " holds dtype '<f2' (float16), expected '<f4' (float32) or '<f8' (float64)");
    CHECK(error_for("bad.npy", with_dict("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3), }")) ==
          at + " holds dtype '|u1' (uint8), expected '<f4' (float32) or '<f8' (float64)");
    CHECK(error_for("bad.npy", with_dict("{'descr': '<U5', 'fortran_order': False, 'shape': (2, 3), }")) ==
          at + " holds dtype '<U5' (unicode strings), expected '<f4' (float32) or '<f8' (float64)");
    CHECK(error_for("bad.npy", with_dict("{'descr': 'zz', 'fortran_order': False, 'shape': (2, 3), }")) ==
          at + " holds dtype 'zz', expected '<f4' (float32) or '<f8' (float64)");
    CHECK(error_for("bad.npy", with_dict("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }")) ==
          at + " has a structured dtype (a list of fields), expected '<f4' (float32) or '<f8' (float64)");
  }
  SECTION("big-endian values") {
    CHECK(error_for("bad.npy", fovea::test::read_file(numpy_files / "f32_big_endian_2.npy")) ==
          at + " holds big-endian '>f4' (float32) values; fovea reads little-endian '<f4' and '<f8' (convert with "
               "array.astype('<f4'))");
  }
  SECTION("Fortran order") {
    CHECK(error_for("bad.npy", fovea::test::read_file(numpy_files / "f32_fortran_2x3.npy")) ==
          at + " is in Fortran (column-major) order, expected C order (save numpy.ascontiguousarray(array), or "
               "pass fortran_order=False)");
  }
  SECTION("not a .npy file, or cut before its header") {
    CHECK(error_for("bad.npy", {}) == at + " is empty, expected a .npy file");
    CHECK(error_for("bad.npy", {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0}) ==
          at + " is not a .npy file: it does not start with \\x93NUMPY");
    CHECK(error_for("bad.npy", {0x93, 'N', 'U'}) ==
          at + " is truncated in the preamble: 3 bytes, a .npy file starts with at least 10");
    CHECK(error_for("bad.npy", {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0x76}) ==
          at + " is truncated in the preamble: 9 bytes, expected 10 before the header");
    Bytes future = with_dict(good_dict);
    future[6] = 4;
    CHECK(error_for("bad.npy", future) == at + " has .npy format version 4.0, expected 1.0, 2.0 or 3.0");
  }
  SECTION("a header length that lies") {
    Bytes longer = with_dict(good_dict);
    longer[8] = 0xff;  // 118 -> 0x76 + 0xff00... well past the file's end
    longer[9] = 0x7f;
    CHECK(error_for("bad.npy", longer) == at + " is truncated in the header: the preamble promises a 32767-byte "
                                               "header, the file has 142 bytes after the preamble");
    // Version 2.0 counts in 4 bytes: a 100,000-byte header in a file big enough to hold it.
    // Made whole, then its preamble written (GCC 12 at -O3 warns wrongly when
    // a 12-byte vector is resized).
    Bytes huge(12 + 100000, ' ');
    const std::uint8_t preamble[] = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0xa0, 0x86, 0x01, 0x00};
    std::copy(std::begin(preamble), std::end(preamble), huge.begin());
    CHECK(error_for("bad.npy", huge) ==
          at + " claims a 100000-byte header, more than the 65536 bytes any array's header needs");
  }
  SECTION("data that does not match the shape") {
    Bytes cut = with_dict(good_dict);
    cut.resize(cut.size() - 4);
    CHECK(error_for("bad.npy", cut) == at + " is truncated: shape [2, 3] of float32 needs 24 bytes after the "
                                            "128-byte header, the file has 20");
    Bytes longer = with_dict(good_dict);
    longer.push_back(0);
    CHECK(error_for("bad.npy", longer) == at + " has trailing bytes: shape [2, 3] of float32 needs 24 bytes after "
                                               "the 128-byte header, the file has 25");
    CHECK(error_for("bad.npy", with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }")) ==
          at + " is truncated: shape [2, 3] of float64 needs 48 bytes after the 128-byte header, the file has 24");
  }
  SECTION("absurd shapes are refused before any allocation of their size") {
    largest_allocation = 0;
    CHECK(error_for("bad.npy", with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), "
                                         "}")) ==
          at + " is truncated: shape [1000000, 1000000] of float32 needs 4000000000000 bytes after the 128-byte "
               "header, the file has 24");
    CHECK(error_for("bad.npy", with_dict("{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904, "
                                         "4), }")) ==
          at + " claims shape [4611686018427387904, 4] of float64, a size that overflows 64 bits (the file has 152 "
               "bytes)");
    CHECK(error_for("bad.npy", with_dict("{'descr': '<f4', 'fortran_order': False, 'shape': "
                                         "(99999999999999999999,), }")) ==
          at + " has a malformed header at character 51: an extent beyond 2^63: {'descr': '<f4', 'fortran_order': "
               "False, 'shape': (99999999999999999999,), }");
    CHECK(largest_allocation.load() < 100000);
    std::string many = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (int i = 0; i < 65; ++i) many += "1, ";
    many += "), }";
    CHECK_THAT(error_for("bad.npy", with_dict(many)),
               Contains(at + " has a malformed header at character 243: more than 64 dimensions: {'descr'"));
  }
  SECTION("malformed headers") {
    auto dict_error = [&](const std::string& dict) { return error_for("bad.npy", with_dict(dict)); };
    CHECK(dict_error("{'descr': '<f4', 'shape': (2, 3), }") ==
          at + " has a header without 'fortran_order': {'descr': '<f4', 'shape': (2, 3), }");
    CHECK(dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}") ==
          at + " has a malformed header at character 58: unknown key 'extra' (expected 'descr', 'fortran_order' and "
               "'shape'): {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}");
    CHECK(dict_error("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}") ==
          at + " has a malformed header at character 17: the key 'descr' appears twice: {'descr': '<f4', 'descr': "
               "'<f4', 'fortran_order': False, 'shape': (2, 3)}");
    CHECK_THAT(dict_error("{'descr': '<f4', 'fortran_order': false, 'shape': (2, 3)}"),
               Contains("at character 34: expected True or False"));
    CHECK_THAT(dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (6)}"),
               Contains("at character 52: a one-dimensional shape needs a trailing comma, as in (5,)"));
    CHECK_THAT(dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (-2, -3)}"),
               Contains("at character 51: a negative extent"));
    CHECK_THAT(dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)} x"),
               Contains("at character 58: unexpected text after the closing '}'"));
    CHECK_THAT(dict_error("{'descr': '<f4, 'fortran_order': False, 'shape': (2, 3)}"),
               Contains("at character 17: expected ',' or '}'"));
    CHECK_THAT(dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)"),
               Contains("at character 118: expected ',' or '}'"));
    CHECK_THAT(dict_error("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}"),
               Contains("at character 50: expected '('"));
    CHECK_THAT(dict_error("{'desc\\x72': '<f4'}"), Contains("escape sequences are not supported"));
    CHECK_THAT(dict_error("{'descr"), Contains("at character 1: unterminated string"));
  }
}
