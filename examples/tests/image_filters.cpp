// Runs the image_filters example and checks what it wrote, reading the PNGs
// back with stb_image: properties of the filters, not just that files exist.
#include <stb_image.h>
#include <stb_image_write.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fovea/core/random.hpp>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path work_dir = IMAGE_FILTERS_WORK_DIR;

struct Png {
  int width = 0;
  int height = 0;
  int channels = 0;
  std::vector<std::uint8_t> pixels;

  int at(int y, int x, int c) const { return pixels[static_cast<std::size_t>((y * width + x) * channels + c)]; }
};

Png read_png(const fs::path& path) {
  Png png;
  stbi_uc* data = stbi_load(path.string().c_str(), &png.width, &png.height, &png.channels, 0);
  INFO("reading " << path.string());
  REQUIRE(data != nullptr);
  png.pixels.assign(data, data + png.width * png.height * png.channels);
  stbi_image_free(data);
  return png;
}

void write_png(const fs::path& path, const Png& png) {
  REQUIRE(stbi_write_png(path.string().c_str(), png.width, png.height, png.channels, png.pixels.data(),
                         png.width * png.channels) != 0);
}

struct Run {
  int exit_code;
  std::string error_output;
};

// The argument in double quotes, for the shell. Built with += rather than
// "literal" + string, which trips GCC 12's false -Wrestrict (GCC bug 105329).
std::string quoted(const std::string& argument) {
  std::string text(1, '"');
  text += argument;
  text += '"';
  return text;
}

// Runs the program with `arguments`, returning its exit code and stderr.
Run run_program(const std::vector<std::string>& arguments, const fs::path& dir) {
  const fs::path stderr_file = dir / "stderr.txt";
  std::string command = quoted(IMAGE_FILTERS_PROGRAM);
  for (const std::string& argument : arguments) {
    command += ' ';
    command += quoted(argument);
  }
  command += " > ";
  command += quoted((dir / "stdout.txt").string());
  command += " 2> ";
  command += quoted(stderr_file.string());
  const int status = std::system(command.c_str());
  std::ifstream in(stderr_file);
  std::stringstream text;
  text << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, text.str()};
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = work_dir / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// Sum of absolute differences between horizontal and vertical neighbours.
double total_variation(const Png& png) {
  double total = 0;
  for (int y = 0; y < png.height; ++y) {
    for (int x = 0; x < png.width; ++x) {
      for (int c = 0; c < png.channels; ++c) {
        if (x + 1 < png.width) total += std::abs(png.at(y, x + 1, c) - png.at(y, x, c));
        if (y + 1 < png.height) total += std::abs(png.at(y + 1, x, c) - png.at(y, x, c));
      }
    }
  }
  return total;
}

const std::vector<std::string> edge_filters = {"difference_x", "difference_y", "sobel_x", "sobel_y", "laplacian"};
const std::vector<std::string> level_filters = {"identity", "box_blur", "gaussian_blur", "sharpen", "emboss"};

}  // namespace

TEST_CASE("with no image, a synthesised one is filtered: blurs smooth, sharpen sharpens, identity is exact",
          "[examples][image_filters]") {
  const fs::path dir = fresh_dir("synthesised");
  const Run run = run_program({"--out", (dir / "out").string()}, dir);
  INFO(run.error_output);
  REQUIRE(run.exit_code == 0);

  const Png original = read_png(dir / "out" / "original.png");
  CHECK(original.channels == 3);
  const double original_variation = total_variation(original);
  CHECK(original_variation > 0);
  for (const std::string blur : {"box_blur", "gaussian_blur"}) {
    const Png blurred = read_png(dir / "out" / (blur + ".png"));
    INFO(blur);
    CHECK(blurred.width == original.width);
    CHECK(blurred.height == original.height);
    // Averaging with non-negative weights never raises total variation; it
    // lowers it where the signal is not monotone (the stripes, the thin line).
    CHECK(total_variation(blurred) < original_variation);
  }
  CHECK(total_variation(read_png(dir / "out" / "sharpen.png")) > original_variation);
  CHECK(read_png(dir / "out" / "identity.png").pixels == original.pixels);
  for (const std::string& edge : edge_filters) {
    const Png edges = read_png(dir / "out" / (edge + ".png"));
    INFO(edge);
    CHECK(*std::max_element(edges.pixels.begin(), edges.pixels.end()) > 100);  // the test card has strong edges
  }
  const Png sheet = read_png(dir / "out" / "contact_sheet.png");
  CHECK(sheet.width > 3 * original.width);  // 11 panels: a 4 x 3 grid
  CHECK(sheet.height > 3 * original.height);
}

TEST_CASE("a flat image gives zero from every edge filter and its own level from the others",
          "[examples][image_filters]") {
  const fs::path dir = fresh_dir("flat");
  Png flat{37, 23, 3, std::vector<std::uint8_t>(37 * 23 * 3, 137)};
  write_png(dir / "flat.png", flat);
  const Run run = run_program({(dir / "flat.png").string(), "--out", (dir / "out").string()}, dir);
  INFO(run.error_output);
  REQUIRE(run.exit_code == 0);
  for (const std::string& edge : edge_filters) {
    const Png edges = read_png(dir / "out" / (edge + ".png"));
    INFO(edge);
    CHECK(edges.width == 37);
    CHECK(edges.height == 23);
    CHECK(std::all_of(edges.pixels.begin(), edges.pixels.end(), [](std::uint8_t v) { return v == 0; }));
  }
  for (const std::string& level : level_filters) {
    const Png result = read_png(dir / "out" / (level + ".png"));
    INFO(level);
    CHECK(std::all_of(result.pixels.begin(), result.pixels.end(), [](std::uint8_t v) { return v == 137; }));
  }
}

TEST_CASE("the identity kernel round-trips a random colour image exactly; --gray gives one channel",
          "[examples][image_filters]") {
  const fs::path dir = fresh_dir("random");
  fovea::Rng rng(5);
  Png noise{29, 31, 3, std::vector<std::uint8_t>(29 * 31 * 3)};
  for (auto& v : noise.pixels) v = static_cast<std::uint8_t>(rng.uniform_index(256));
  write_png(dir / "noise.png", noise);

  const Run colour = run_program({(dir / "noise.png").string(), "--out", (dir / "colour").string()}, dir);
  INFO(colour.error_output);
  REQUIRE(colour.exit_code == 0);
  CHECK(read_png(dir / "colour" / "identity.png").pixels == noise.pixels);
  CHECK(read_png(dir / "colour" / "original.png").pixels == noise.pixels);

  const Run gray = run_program({(dir / "noise.png").string(), "--gray", "--out", (dir / "gray").string()}, dir);
  REQUIRE(gray.exit_code == 0);
  const Png gray_original = read_png(dir / "gray" / "original.png");
  CHECK(gray_original.channels == 1);
  CHECK(gray_original.width == 29);
  CHECK(read_png(dir / "gray" / "identity.png").pixels == gray_original.pixels);
}

TEST_CASE("a vertical step: Sobel x fires along the step only, Sobel y stays zero", "[examples][image_filters]") {
  const fs::path dir = fresh_dir("step");
  Png step{20, 10, 1, std::vector<std::uint8_t>(200, 20)};
  for (int y = 0; y < 10; ++y) {
    for (int x = 10; x < 20; ++x) step.pixels[static_cast<std::size_t>(y * 20 + x)] = 60;
  }
  write_png(dir / "step.png", step);
  const Run run = run_program({(dir / "step.png").string(), "--gray", "--out", (dir / "out").string()}, dir);
  REQUIRE(run.exit_code == 0);
  const Png sobel_x = read_png(dir / "out" / "sobel_x.png");
  const Png sobel_y = read_png(dir / "out" / "sobel_y.png");
  for (int y = 0; y < 10; ++y) {
    for (int x = 0; x < 20; ++x) {
      // The step of 40 is between columns 9 and 10; Sobel's weights 1 + 2 + 1 make it 160.
      CHECK(sobel_x.at(y, x, 0) == ((x == 9 || x == 10) ? 160 : 0));
      CHECK(sobel_y.at(y, x, 0) == 0);
    }
  }
}

TEST_CASE("a missing or unreadable image fails with one line on stderr and a non-zero exit",
          "[examples][image_filters][errors]") {
  const fs::path dir = fresh_dir("errors");
  const auto one_line = [](const std::string& text) {
    return !text.empty() && text.back() == '\n' && text.find('\n') == text.size() - 1;
  };

  const Run missing = run_program({(dir / "no_such_image.png").string(), "--out", (dir / "out").string()}, dir);
  CHECK(missing.exit_code != 0);
  CHECK(one_line(missing.error_output));
  CHECK_THAT(missing.error_output,
             Catch::StartsWith("image_filters: cannot read image '") && Catch::Contains("no_such_image.png"));

  std::ofstream(dir / "not_an_image.png") << "this is text, not a PNG\n";
  const Run unreadable = run_program({(dir / "not_an_image.png").string(), "--out", (dir / "out").string()}, dir);
  CHECK(unreadable.exit_code != 0);
  CHECK(one_line(unreadable.error_output));
  CHECK_THAT(unreadable.error_output,
             Catch::StartsWith("image_filters: cannot read image '") && Catch::Contains("not_an_image.png"));
}
