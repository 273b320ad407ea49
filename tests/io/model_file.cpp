#include "fovea/io/model_file.hpp"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <csignal>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

#include "fovea/layers/batch_norm.hpp"
#include "fovea/layers/dropout.hpp"
#include "fovea/optim/adam.hpp"
#include "fovea/optim/sgd.hpp"
#include "fovea/train/fit.hpp"
#include "fuzz/targets.hpp"
#include "support/quadrants.hpp"
#include "support/small_cnn.hpp"

using namespace fovea;
namespace fs = std::filesystem;

namespace {
fs::path scratch(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("fovea_model_file_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  return dir / name;
}
std::vector<char> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_bytes(const fs::path& p, const std::vector<char>& bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
std::vector<float> weights_of(const Sequential<float>& net) {
  std::vector<float> w;
  for (const auto& p : net.params()) w.insert(w.end(), p.value.begin(), p.value.end());
  return w;
}
FitOptions quiet(int epochs, int start = 0) {
  return {.epochs = epochs, .batch_size = 16, .seed = 3, .start_epoch = start, .progress = ProgressStyle::silent};
}
}  // namespace

TEST_CASE("a trained model saved and loaded predicts bit-identically", "[io][model]") {
  const auto data = test::quadrant_blobs<float>(400, 1);
  auto net = test::small_cnn<float>(2);
  SoftmaxCrossEntropy<float> loss;
  Sgd<float> sgd(net.params(), {.learning_rate = 0.05, .momentum = 0.9});
  fit(net, loss, sgd, data, quiet(3));
  const fs::path path = scratch("quadrants.fovea");
  save(net, path);

  // Rebuilt from the file alone: no code describes the architecture.
  Sequential<float> loaded = load<float>(path);
  REQUIRE(loaded.size() == net.size());
  for (std::size_t i = 0; i < net.size(); ++i) CHECK(loaded.layer(i).describe() == net.layer(i).describe());
  const auto test_set = test::quadrant_blobs<float>(100, 9);
  const auto a = net.predict(test_set.samples());
  const auto b = loaded.predict(test_set.samples());
  CHECK(std::equal(a.begin(), a.end(), b.begin()));

  // Into an existing network of the same architecture, and into double.
  auto fresh = test::small_cnn<float>(99);
  load_into(fresh, path);
  CHECK(weights_of(fresh) == weights_of(net));
  Sequential<double> wide = load<double>(path);
  CHECK(wide.params()[0].value(0) == static_cast<double>(net.params()[0].value(0)));
  fs::remove_all(path.parent_path());
}

TEST_CASE("bad model files are rejected with a clear error and the network is untouched", "[io][model]") {
  auto net = test::small_cnn<float>(4);
  const fs::path path = scratch("good.fovea");
  save(net, path);
  const auto good = read_bytes(path);
  auto target = test::small_cnn<float>(5);
  const auto before = weights_of(target);
  const fs::path bad = scratch("bad.fovea");

  auto expect = [&](const std::vector<char>& bytes, const std::string& message) {
    write_bytes(bad, bytes);
    CHECK_THROWS_AS(load_into(target, bad), format_error);
    CHECK_THROWS_WITH(load_into(target, bad), Catch::Contains(message));
    CHECK_THROWS_AS(load<float>(bad), format_error);
    CHECK(weights_of(target) == before);
  };

  SECTION("truncated anywhere") {
    for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{15}, good.size() / 2, good.size() - 1}) {
      write_bytes(bad, std::vector<char>(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut)));
      CHECK_THROWS_AS(load_into(target, bad), format_error);
    }
    expect(std::vector<char>(good.begin(), good.end() - 10), "(truncated)");
  }
  SECTION("a flipped byte anywhere in the body") {
    for (std::size_t at : {std::size_t{30}, good.size() / 2, good.size() - 5}) {
      auto flipped = good;
      flipped[at] = static_cast<char>(flipped[at] ^ 0x10);
      expect(flipped, "checksum mismatch");
    }
  }
  SECTION("wrong magic") {
    auto wrong = good;
    wrong[0] = 'X';
    expect(wrong, "not a fovea model file (wrong magic)");
  }
  SECTION("a future version") {
    auto future = good;
    future[8] = 4;
    expect(future, "format version 4 is newer than this fovea reads (3)");
  }
  SECTION("trailing bytes") {
    auto longer = good;
    longer.push_back(0);
    expect(longer, "(trailing bytes)");
  }
  // A file of another architecture: Flatten, then Linear(256 -> 4).
  const auto save_other = [&] {
    Sequential<float> other({1, 16, 16});
    other.emplace<Flatten<float>>();
    other.emplace<Linear<float>>(256, 4);
    const fs::path other_path = scratch("other.fovea");
    save(other, other_path);
    return other_path;
  };
  SECTION("another architecture") {
    const fs::path other_path = save_other();
    CHECK_THROWS_WITH(load_into(target, other_path), Catch::Contains("layers, this network has"));
    CHECK(weights_of(target) == before);
  }
  SECTION("a layer whose declared size the file cannot hold is refused before it is built") {
    // Linear(256 -> 4) with its "out" setting rewritten to 10^9 (checksum
    // fixed): building it would allocate 256 x 10^9 weights.
    auto bytes = read_bytes(save_other());
    const double four = 4.0, huge = 1e9;
    std::vector<char> pattern(sizeof four);
    std::memcpy(pattern.data(), &four, sizeof four);
    const auto at = std::search(bytes.begin(), bytes.end(), pattern.begin(), pattern.end());
    REQUIRE(at != bytes.end());
    REQUIRE(std::search(at + 1, bytes.end(), pattern.begin(), pattern.end()) == bytes.end());
    std::memcpy(&*at, &huge, sizeof huge);
    const auto fixed = fovea::fuzz::with_valid_envelope(
        std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
    write_bytes(bad, std::vector<char>(fixed.begin(), fixed.end()));
    CHECK_THROWS_AS(load<float>(bad), format_error);
    CHECK_THROWS_WITH(load<float>(bad), Catch::Contains("layer 1 cannot be rebuilt: ") &&
                                            Catch::Contains("needs 2.57e+11 parameter values, the file stores 1028"));
  }
  SECTION("a missing file") {
    CHECK_THROWS_AS(load<float>(scratch("missing.fovea")), io_error);
    CHECK_THROWS_WITH(load<float>(scratch("missing.fovea")), Catch::Contains("cannot open model file"));
  }
  fs::remove_all(path.parent_path());
}

TEST_CASE("buffers are saved as format version 2; a network without them is still written as version 1",
          "[io][model][buffers]") {
  // Without buffers: version 1, the bytes fovea wrote before buffers existed.
  auto plain = test::small_cnn<float>(10);
  const fs::path plain_path = scratch("plain_v1.fovea");
  save(plain, plain_path);
  CHECK(read_bytes(plain_path)[8] == 1);
  auto reloaded = test::small_cnn<float>(11);
  load_into(reloaded, plain_path);
  CHECK(weights_of(reloaded) == weights_of(plain));

  // With BatchNorm: version 2, its running statistics after the parameters.
  const auto make = [] {
    Sequential<float> net({2, 3, 3});
    net.emplace<BatchNorm<float>>(BatchNormOptions{.channels = 2});
    net.emplace<Flatten<float>>();
    net.emplace<Linear<float>>(18, 2);
    return net;
  };
  auto net = make();
  Rng rng(12);
  initialize_all(net.layer(2).params(), {}, rng);
  net.forward(Tensor<float, 4>::normal({4, 2, 3, 3}, rng, 1.0F, 2.0F));  // training: the statistics move
  const fs::path path = scratch("buffers_v2.fovea");
  save(net, path);
  const auto bytes = read_bytes(path);
  CHECK(bytes[8] == 2);
  auto target = make();
  load_into(target, path);
  CHECK(target.layer(0).buffers()[0].value(1) == net.layer(0).buffers()[0].value(1));
  CHECK(target.layer(0).buffers()[1].value(1) == net.layer(0).buffers()[1].value(1));
  CHECK(target.layer(0).buffers()[1].value(1) != 1.0F);
  CHECK(load<double>(path).layer(0).buffers()[0].value(0) == static_cast<double>(net.layer(0).buffers()[0].value(0)));

  // The same file stamped version 1 (checksum fixed) has no buffer section:
  // the bytes the buffers take are unexplained.
  auto as_v1 = std::vector<std::uint8_t>(bytes.begin(), bytes.end());
  as_v1[8] = 1;
  const auto fixed = fovea::fuzz::with_valid_envelope(std::span<const std::uint8_t>(as_v1.data(), as_v1.size()));
  const fs::path bad = scratch("buffers_as_v1.fovea");
  write_bytes(bad, std::vector<char>(fixed.begin(), fixed.end()));
  CHECK_THROWS_AS(load_into(target, bad), format_error);
  CHECK_THROWS_WITH(load_into(target, bad), Catch::Contains("unexplained bytes before the checksum"));

  // A BatchNorm whose channel count was rewritten to 10^9 (checksum fixed) is
  // refused before its parameters and buffers are allocated.
  Sequential<float> three({3, 3, 3});
  three.emplace<BatchNorm<float>>(BatchNormOptions{.channels = 3});
  three.emplace<Flatten<float>>();
  three.emplace<Linear<float>>(27, 2);
  const fs::path three_path = scratch("three.fovea");
  save(three, three_path);
  auto three_bytes = read_bytes(three_path);
  const double channels = 3.0, huge = 1e9;
  std::vector<char> pattern(sizeof channels);
  std::memcpy(pattern.data(), &channels, sizeof channels);
  const auto at = std::search(three_bytes.begin(), three_bytes.end(), pattern.begin(), pattern.end());
  REQUIRE(at != three_bytes.end());
  REQUIRE(std::search(at + 1, three_bytes.end(), pattern.begin(), pattern.end()) == three_bytes.end());
  std::memcpy(&*at, &huge, sizeof huge);
  const auto envelope = fovea::fuzz::with_valid_envelope(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(three_bytes.data()), three_bytes.size()));
  write_bytes(bad, std::vector<char>(envelope.begin(), envelope.end()));
  CHECK_THROWS_WITH(load<float>(bad), Catch::Contains("layer 0 cannot be rebuilt: ") &&
                                          Catch::Contains("needs 4e+09 parameter values, the file stores 68"));
  fs::remove_all(path.parent_path());
}

TEST_CASE("a resumed run ends with the same weights as an uninterrupted one", "[io][model][checkpoint]") {
  const auto data = test::quadrant_blobs<float>(160, 6);
  SoftmaxCrossEntropy<float> loss;

  auto straight = test::small_cnn<float>(7, 16, /*dropout=*/true);
  Adam<float> adam(straight.params(), {.learning_rate = 0.01});
  fit(straight, loss, adam, data, quiet(4));

  const fs::path path = scratch("checkpoint.fovea");
  {
    auto first = test::small_cnn<float>(7, 16, true);
    Adam<float> opt(first.params(), {.learning_rate = 0.01});
    fit(first, loss, opt, data, quiet(2));
    save_checkpoint(first, opt, {.next_epoch = 2, .seed = 3}, path);
  }
  // Same architecture, but other weights and a dropout generator in another state.
  auto resumed = test::small_cnn<float>(7, 16, true);
  Rng other(1234);
  initialize_all(resumed.params(), {}, other);
  resumed.forward(data.samples().slice(0, 4));
  Adam<float> opt(resumed.params(), {.learning_rate = 0.01});
  const TrainingProgress progress = load_checkpoint(resumed, opt, path);
  CHECK(progress.next_epoch == 2);
  CHECK(opt.steps() == 20);
  fit(resumed, loss, opt, data, quiet(4, progress.next_epoch));
  CHECK(weights_of(resumed) == weights_of(straight));

  // A plain model file has no training state; a checkpoint needs the same optimizer.
  const fs::path plain = scratch("plain.fovea");
  save(resumed, plain);
  CHECK_THROWS_WITH(load_checkpoint(resumed, opt, plain), Catch::Contains("no training state"));
  Sgd<float> sgd(resumed.params(), {.learning_rate = 0.1});
  CHECK_THROWS_WITH(load_checkpoint(resumed, sgd, path), Catch::Contains("optimizer is Adam"));
  fs::remove_all(path.parent_path());
}

TEST_CASE("a save killed midway leaves the previous model intact", "[io][model][durability]") {
  auto net = test::small_cnn<float>(8);
  const fs::path path = scratch("durable.fovea");
  save(net, path);
  const auto good = read_bytes(path);

  // A 4 MB network: big enough that writing and syncing it takes a while.
  Sequential<float> big({1, 32, 32});
  big.emplace<Flatten<float>>();
  big.emplace<Linear<float>>(1024, 1024);
  // One save's duration on this machine (encoding, then writing and syncing
  // the temporary file), for the timed kills below.
  const auto timing_start = std::chrono::steady_clock::now();
  save(big, scratch("timing.fovea"));
  const double save_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - timing_start).count();
  fs::remove(scratch("timing.fovea"));

  auto temp_files = [&] {
    std::vector<fs::path> found;
    for (const auto& entry : fs::directory_iterator(path.parent_path())) {
      if (entry.path().filename().string().starts_with(".durable.fovea.tmp-")) found.push_back(entry.path());
    }
    return found;
  };
  // Two ways to pick the moment: odd attempts kill at a time spread over one
  // to three saves (encoding, writing, renaming alike); even attempts wait
  // for the temporary file to appear and kill within the next few hundred
  // microseconds, so kills land mid-write even where encoding dominates (a
  // sanitizer build encodes ~50x slower, while the write itself is not).
  // A leftover temporary file proves the child died between writing and
  // renaming; at least three such kills must land.
  int mid_write = 0;
  for (int attempt = 0; attempt < 60 && mid_write < 3; ++attempt) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // Overwrite the file with another model, forever, until killed.
      for (;;) save(big, path);
    }
    if (attempt % 2 == 1) {
      ::usleep(static_cast<useconds_t>(save_us * (0.3 + 0.23 * (attempt % 13))));
    } else {
      const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      while (temp_files().empty() && std::chrono::steady_clock::now() < give_up) ::usleep(20);
      ::usleep(static_cast<useconds_t>(50 * (attempt % 7)));
    }
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    for (const fs::path& temp : temp_files()) {
      ++mid_write;
      fs::remove(temp);
    }
    // Whatever moment the kill hit, the file is one complete model or the other.
    const auto now = read_bytes(path);
    if (now == good) {
      load_into(net, path);
    } else {
      CHECK_NOTHROW(load<float>(path));
    }
  }
  CHECK(mid_write >= 3);
  fs::remove_all(path.parent_path());
}

TEST_CASE("a model whose values are not finite or do not fit the network's type is refused", "[io][model]") {
  auto wide = test::small_cnn<double>(3, 8);
  wide.params()[0].value(0) = 1e300;  // finite in double, infinite in float
  const fs::path path = scratch("huge.fovea");
  save(wide, path);
  const std::string what = "model file '" + path.string() + "'";
  CHECK_THROWS_AS(load<float>(path), format_error);
  CHECK_THROWS_WITH(load<float>(path), what +
                                           ": tensor '0.weight' holds 1e+300 at element 0, outside the range of "
                                           "float (at most 3.4028234663852886e+38)");
  auto narrow = test::small_cnn<float>(4, 8);
  const auto before = weights_of(narrow);
  CHECK_THROWS_WITH(load_into(narrow, path), Catch::Contains("'0.weight' holds 1e+300"));
  CHECK(weights_of(narrow) == before);
  CHECK(load<double>(path).params()[0].value(0) == 1e300);

  // The same file with a NaN in place of 1e300 (the checksum fixed).
  auto bytes = read_bytes(path);
  const double huge = 1e300, nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<char> pattern(sizeof huge);
  std::memcpy(pattern.data(), &huge, sizeof huge);
  const auto at = std::search(bytes.begin(), bytes.end(), pattern.begin(), pattern.end());
  REQUIRE(at != bytes.end());
  std::memcpy(&*at, &nan, sizeof nan);
  const auto fixed = fovea::fuzz::with_valid_envelope(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  write_bytes(path, std::vector<char>(fixed.begin(), fixed.end()));
  CHECK_THROWS_AS(load<double>(path), format_error);
  CHECK_THROWS_WITH(load<double>(path), what + ": tensor '0.weight' holds nan at element 0, expected finite values");
  CHECK_THROWS_WITH(load_into(narrow, path),
                    what + ": tensor '0.weight' holds nan at element 0, expected finite values");
  CHECK(weights_of(narrow) == before);
  fs::remove_all(path.parent_path());
}

TEST_CASE("a checkpoint that fails to load leaves network and optimizer as they were", "[io][model][checkpoint]") {
  auto net = test::small_cnn<float>(7, 16, /*dropout=*/true);
  Adam<float> adam(net.params(), {.learning_rate = 0.01});
  const fs::path path = scratch("zero-generator.fovea");
  save_checkpoint(net, adam, {.next_epoch = 1, .seed = 3}, path);
  // The Dropout generator's state, the last 32 bytes before the checksum, zeroed (checksum fixed).
  auto bytes = read_bytes(path);
  std::fill(bytes.end() - 36, bytes.end() - 4, char{0});
  const auto fixed = fovea::fuzz::with_valid_envelope(
      std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size()));
  write_bytes(path, std::vector<char>(fixed.begin(), fixed.end()));

  auto other = test::small_cnn<float>(7, 16, true);  // the same architecture, other weights
  Rng rng(1234);
  initialize_all(other.params(), {}, rng);
  Adam<float> other_adam(other.params(), {.learning_rate = 0.01});
  const auto before = weights_of(other);
  CHECK_THROWS_AS(load_checkpoint(other, other_adam, path), format_error);
  CHECK_THROWS_WITH(
      load_checkpoint(other, other_adam, path),
      "model file '" + path.string() + "': generator state 0 is all zeros, which no generator can have (corrupt file)");
  CHECK(weights_of(other) == before);  // the parameters were copied before the generator threw
  CHECK(other_adam.steps() == 0);
  fs::remove_all(path.parent_path());
}

TEST_CASE("Dropout seeds up to 2^64 - 1 round-trip through a model file", "[io][model]") {
  const fs::path path = scratch("seeds.fovea");
  for (const std::uint64_t seed : {std::numeric_limits<std::uint64_t>::max(), (std::uint64_t{1} << 53) + 1,
                                   std::uint64_t{1} << 53, std::uint64_t{12345}}) {
    INFO("seed " << seed);
    Sequential<float> net({1, 4, 4});
    net.emplace<Flatten<float>>();
    net.emplace<Dropout<float>>(0.25, seed);
    net.emplace<Linear<float>>(16, 2);
    save(net, path);
    Sequential<float> loaded = load<float>(path);
    CHECK(loaded.layer(1).spec() == net.layer(1).spec());
    CHECK(*loaded.layer(1).rng() == Rng(seed));  // the same masks as the saved layer
    CHECK_NOTHROW(load_into(net, path));
  }
  // Files of earlier versions wrote every seed as one f64: those still load.
  auto old_style = Dropout<float>::from_spec({"Dropout", {{"p", 0.25}, {"seed", 1152921504606846976.0}}});
  CHECK(*old_style.rng() == Rng(std::uint64_t{1} << 60));
  CHECK_THROWS_WITH(Dropout<float>::from_spec({"Dropout", {{"p", 0.25}, {"seed", 1}, {"seed_high", 4294967296.0}}}),
                    "Dropout: setting 'seed_high' is 4294967296, expected a whole number in [0, 2^32)");
  fs::remove_all(path.parent_path());
}

TEST_CASE("save: long names, stale temporary files, links, read-only files and FIFOs", "[io][model][save]") {
  auto net = test::small_cnn<float>(8);
  auto other = test::small_cnn<float>(9);
  const fs::path dir = scratch("targets");
  fs::create_directories(dir);
  const fs::path path = dir / "model.fovea";
  const auto quoted = [](const fs::path& p) { return "'" + p.string() + "'"; };

  SECTION("a 250-byte name: the temporary name is cut to fit") {
    const fs::path long_name = dir / (std::string(244, 'n') + ".fovea");
    save(net, long_name);
    CHECK(weights_of(load<float>(long_name)) == weights_of(net));
    CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}) == 1);
  }
  SECTION("stale temporary files of killed saves are removed; fresh ones and others' are left") {
    const fs::path stale = dir / ".model.fovea.tmp-AbC123", fresh = dir / ".model.fovea.tmp-XyZ789";
    const fs::path another = dir / ".other.fovea.tmp-AbC123";
    for (const fs::path& p : {stale, fresh, another}) write_bytes(p, {'x'});
    fs::last_write_time(stale, fs::file_time_type::clock::now() - std::chrono::hours(2));
    fs::last_write_time(another, fs::file_time_type::clock::now() - std::chrono::hours(2));
    save(net, path);
    CHECK_FALSE(fs::exists(stale));
    CHECK(fs::exists(fresh));  // may be a save still running in another process
    CHECK(fs::exists(another));
  }
  SECTION("a symbolic link: the file it names is replaced, the link stays") {
    const fs::path real = dir / "real.fovea", link = dir / "link.fovea";
    save(other, real);
    fs::create_symlink("real.fovea", link);
    save(net, link);
    CHECK(fs::is_symlink(link));
    CHECK(weights_of(load<float>(real)) == weights_of(net));
  }
  SECTION("a read-only file is not replaced") {
    save(other, path);
    fs::permissions(path, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
    const auto before = read_bytes(path);
    CHECK_THROWS_AS(save(net, path), io_error);
    CHECK_THROWS_WITH(save(net, path),
                      "saving " + quoted(path) + " failed: " + quoted(path) + " is read-only: refusing to replace it");
    CHECK(read_bytes(path) == before);
  }
  SECTION("a FIFO or a directory is not replaced") {
    REQUIRE(::mkfifo(path.c_str(), 0600) == 0);
    CHECK_THROWS_WITH(save(net, path), "saving " + quoted(path) + " failed: " + quoted(path) +
                                           " is a FIFO (named pipe), not a regular file: refusing to replace it");
    CHECK(fs::is_fifo(path));
    const fs::path folder = dir / "folder.fovea";
    fs::create_directories(folder);
    CHECK_THROWS_WITH(save(net, folder), "saving " + quoted(folder) + " failed: " + quoted(folder) +
                                             " is a directory, not a regular file: refusing to replace it");
  }
  fs::remove_all(path.parent_path().parent_path());
}

TEST_CASE("each layer declares from its spec alone exactly the values it holds", "[io][model][registry]") {
  const auto& registry = LayerRegistry<float>::global();
  const std::vector<LayerSpec> specs = {
      Conv2d<float>({.in_channels = 3, .out_channels = 8, .kernel = 3}).spec(),
      Conv2d<float>({.in_channels = 4, .out_channels = 8, .kernel = {3, 2}, .groups = 2, .bias = false}).spec(),
      Linear<float>(5, 3).spec(),
      Linear<float>(5, 3, false).spec(),
      BatchNorm<float>({.channels = 6}).spec(),
      BatchNorm<float>({.channels = 6, .affine = false}).spec(),
      PReLU<float>(4).spec(),
      ChannelAffine<float>(3).spec(),
      ReLU<float>().spec(),
  };
  for (const LayerSpec& spec : specs) {
    INFO(spec.type);
    const LayerPtr<float> layer = registry.make(spec);
    double held = 0;
    for (const auto& p : layer->params()) held += static_cast<double>(p.value.size());
    for (const auto& b : layer->buffers()) held += static_cast<double>(b.value.size());
    CHECK(registry.declared_values(spec) == held);
  }
  CHECK(registry.declared_values({"NoSuchLayer", {}}) == 0);
}
