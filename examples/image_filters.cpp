// Classic image filters with fovea::signal::correlate: reads an image (PNG,
// JPEG, PGM/PPM, BMP, ... through stb_image), applies every kernel of
// fovea::signal::classic_kernels to each colour channel (or to a grayscale
// version with --gray), and writes one PNG per filter plus a labelled contact
// sheet into --out. Without an image it synthesises one (shapes, edges,
// stripes), so it runs anywhere.
//
//   image_filters photo.jpg --out filtered
//   image_filters --gray --out filtered_gray
#include <stb_image.h>
#include <stb_image_write.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fovea/signal/convolve.hpp>
#include <fovea/signal/kernels.hpp>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

using fovea::Index;
using Plane = fovea::Tensor<float, 2>;  // one channel, [H, W], values 0..255

// Interleaved 8-bit pixels, as stb reads and writes them.
struct Image {
  Index width = 0;
  Index height = 0;
  Index channels = 0;
  std::vector<std::uint8_t> pixels;

  Image(Index w, Index h, Index c, std::uint8_t value = 0)
      : width(w), height(h), channels(c), pixels(static_cast<std::size_t>(w * h * c), value) {}
  std::uint8_t& at(Index y, Index x, Index c) {
    return pixels[static_cast<std::size_t>((y * width + x) * channels + c)];
  }
  std::uint8_t at(Index y, Index x, Index c) const {
    return pixels[static_cast<std::size_t>((y * width + x) * channels + c)];
  }
};

Image read_image(const std::string& path, bool gray) {
  int width = 0;
  int height = 0;
  int channels_in_file = 0;
  // stb converts to the channel count asked for: 1 gives its luma (grayscale), 3 drops alpha.
  const int channels = gray ? 1 : 3;
  stbi_uc* data = stbi_load(path.c_str(), &width, &height, &channels_in_file, channels);
  if (data == nullptr) {
    throw std::runtime_error("cannot read image '" + path + "': " + stbi_failure_reason());
  }
  Image image(width, height, channels);
  std::copy_n(data, image.pixels.size(), image.pixels.begin());
  stbi_image_free(data);
  return image;
}

void write_png(const std::filesystem::path& path, const Image& image) {
  const int stride = static_cast<int>(image.width * image.channels);
  if (stbi_write_png(path.string().c_str(), static_cast<int>(image.width), static_cast<int>(image.height),
                     static_cast<int>(image.channels), image.pixels.data(), stride) == 0) {
    throw std::runtime_error("cannot write '" + path.string() + "'");
  }
}

// A test card: a vertical gradient with a disc, a rectangle, a triangle,
// stripes and a diagonal line, in colour, so every filter has edges,
// corners, flat regions and smooth shading to act on.
Image synthesise_image(bool gray) {
  Image image(240, 180, 3);
  for (Index y = 0; y < image.height; ++y) {
    for (Index x = 0; x < image.width; ++x) {
      std::array<int, 3> rgb = {40, 60, static_cast<int>(90 + y * 140 / image.height)};
      const Index dx = x - 70;
      const Index dy = y - 70;
      if (dx * dx + dy * dy < 45 * 45) rgb = {220, 60, 50};
      if (x >= 130 && x < 210 && y >= 30 && y < 90) rgb = {60, 200, 90};
      if (y >= 110 && y < 170 && std::abs(x - 170) < (y - 110) * 2 / 3) rgb = {245, 245, 235};
      if (x < 60 && y >= 130 && (x / 6) % 2 == 0) rgb = {10, 10, 10};
      if (std::abs((x - 100) - (y - 100)) < 2 && x >= 100 && x < 150) rgb = {250, 220, 40};
      for (Index c = 0; c < 3; ++c) image.at(y, x, c) = static_cast<std::uint8_t>(rgb[static_cast<std::size_t>(c)]);
    }
  }
  if (!gray) return image;
  Image luma(image.width, image.height, 1);
  for (Index y = 0; y < image.height; ++y) {
    for (Index x = 0; x < image.width; ++x) {
      // stb's own weights, so --gray means the same for read and synthesised images.
      luma.at(y, x, 0) =
          static_cast<std::uint8_t>((image.at(y, x, 0) * 77 + image.at(y, x, 1) * 150 + image.at(y, x, 2) * 29) >> 8);
    }
  }
  return luma;
}

Plane channel_plane(const Image& image, Index c) {
  Plane plane({image.height, image.width});
  for (Index y = 0; y < image.height; ++y) {
    for (Index x = 0; x < image.width; ++x) plane(y, x) = image.at(y, x, c);
  }
  return plane;
}

// The plane with its border pixels repeated so that a valid-mode correlation
// returns the original size, aligned as Mode::same (the kernel's centre over
// each pixel). Zero padding, as Mode::same uses, would darken the border and
// make an edge detector fire on the frame of a flat image.
Plane replicate_border(const Plane& plane, Index kernel_rows, Index kernel_cols) {
  const Index top = kernel_rows - 1 - (kernel_rows - 1) / 2;
  const Index left = kernel_cols - 1 - (kernel_cols - 1) / 2;
  const Index rows = plane.dim(0);
  const Index cols = plane.dim(1);
  Plane padded({rows + kernel_rows - 1, cols + kernel_cols - 1});
  for (Index y = 0; y < padded.dim(0); ++y) {
    for (Index x = 0; x < padded.dim(1); ++x) {
      padded(y, x) = plane(std::clamp<Index>(y - top, 0, rows - 1), std::clamp<Index>(x - left, 0, cols - 1));
    }
  }
  return padded;
}

// Applies one kernel to every channel. Kernels that sum to 0 (edge
// detectors) give signed responses around 0, shown as their magnitude; the
// others give grey levels, clamped to 0..255.
Image apply_kernel(const Image& image, const Plane& kernel) {
  const bool signed_response = std::abs(kernel.array().sum()) < 1e-6f;
  Image out(image.width, image.height, image.channels);
  for (Index c = 0; c < image.channels; ++c) {
    const Plane padded = replicate_border(channel_plane(image, c), kernel.dim(0), kernel.dim(1));
    const Plane filtered = fovea::signal::correlate(padded, kernel, fovea::signal::Mode::valid);
    for (Index y = 0; y < image.height; ++y) {
      for (Index x = 0; x < image.width; ++x) {
        const float value = signed_response ? std::abs(filtered(y, x)) : filtered(y, x);
        out.at(y, x, c) = static_cast<std::uint8_t>(std::clamp(std::lround(value), 0L, 255L));
      }
    }
  }
  return out;
}

// A 5 x 7 bitmap font for labels: upper-case letters, digits, '_' and '-';
// each row is 5 bits, the leftmost pixel in the highest bit.
struct Glyph {
  char character;
  std::array<std::uint8_t, 7> rows;
};
constexpr std::array<Glyph, 38> font = {{
    {'A', {0b01110, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001}},
    {'B', {0b11110, 0b10001, 0b10001, 0b11110, 0b10001, 0b10001, 0b11110}},
    {'C', {0b01110, 0b10001, 0b10000, 0b10000, 0b10000, 0b10001, 0b01110}},
    {'D', {0b11110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11110}},
    {'E', {0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b11111}},
    {'F', {0b11111, 0b10000, 0b10000, 0b11110, 0b10000, 0b10000, 0b10000}},
    {'G', {0b01110, 0b10001, 0b10000, 0b10111, 0b10001, 0b10001, 0b01111}},
    {'H', {0b10001, 0b10001, 0b10001, 0b11111, 0b10001, 0b10001, 0b10001}},
    {'I', {0b01110, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110}},
    {'J', {0b00111, 0b00010, 0b00010, 0b00010, 0b00010, 0b10010, 0b01100}},
    {'K', {0b10001, 0b10010, 0b10100, 0b11000, 0b10100, 0b10010, 0b10001}},
    {'L', {0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b10000, 0b11111}},
    {'M', {0b10001, 0b11011, 0b10101, 0b10101, 0b10001, 0b10001, 0b10001}},
    {'N', {0b10001, 0b10001, 0b11001, 0b10101, 0b10011, 0b10001, 0b10001}},
    {'O', {0b01110, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110}},
    {'P', {0b11110, 0b10001, 0b10001, 0b11110, 0b10000, 0b10000, 0b10000}},
    {'Q', {0b01110, 0b10001, 0b10001, 0b10001, 0b10101, 0b10010, 0b01101}},
    {'R', {0b11110, 0b10001, 0b10001, 0b11110, 0b10100, 0b10010, 0b10001}},
    {'S', {0b01111, 0b10000, 0b10000, 0b01110, 0b00001, 0b00001, 0b11110}},
    {'T', {0b11111, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100, 0b00100}},
    {'U', {0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01110}},
    {'V', {0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b01010, 0b00100}},
    {'W', {0b10001, 0b10001, 0b10001, 0b10101, 0b10101, 0b10101, 0b01010}},
    {'X', {0b10001, 0b10001, 0b01010, 0b00100, 0b01010, 0b10001, 0b10001}},
    {'Y', {0b10001, 0b10001, 0b01010, 0b00100, 0b00100, 0b00100, 0b00100}},
    {'Z', {0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b10000, 0b11111}},
    {'0', {0b01110, 0b10001, 0b10011, 0b10101, 0b11001, 0b10001, 0b01110}},
    {'1', {0b00100, 0b01100, 0b00100, 0b00100, 0b00100, 0b00100, 0b01110}},
    {'2', {0b01110, 0b10001, 0b00001, 0b00010, 0b00100, 0b01000, 0b11111}},
    {'3', {0b11110, 0b00001, 0b00001, 0b01110, 0b00001, 0b00001, 0b11110}},
    {'4', {0b00010, 0b00110, 0b01010, 0b10010, 0b11111, 0b00010, 0b00010}},
    {'5', {0b11111, 0b10000, 0b11110, 0b00001, 0b00001, 0b10001, 0b01110}},
    {'6', {0b00110, 0b01000, 0b10000, 0b11110, 0b10001, 0b10001, 0b01110}},
    {'7', {0b11111, 0b00001, 0b00010, 0b00100, 0b01000, 0b01000, 0b01000}},
    {'8', {0b01110, 0b10001, 0b10001, 0b01110, 0b10001, 0b10001, 0b01110}},
    {'9', {0b01110, 0b10001, 0b10001, 0b01111, 0b00001, 0b00010, 0b01100}},
    {'_', {0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b00000, 0b11111}},
    {'-', {0b00000, 0b00000, 0b00000, 0b11111, 0b00000, 0b00000, 0b00000}},
}};
constexpr Index glyph_width = 5;
constexpr Index glyph_height = 7;

// Draws text in white at (x, y), each font pixel a scale x scale square;
// characters without a glyph (space included) leave a gap.
void draw_text(Image& image, Index x, Index y, const std::string& text, Index scale) {
  for (char raw : text) {
    const char ch = static_cast<char>(std::toupper(static_cast<unsigned char>(raw)));
    const auto glyph = std::find_if(font.begin(), font.end(), [ch](const Glyph& g) { return g.character == ch; });
    if (glyph != font.end()) {
      for (Index row = 0; row < glyph_height; ++row) {
        for (Index col = 0; col < glyph_width; ++col) {
          if (((glyph->rows[static_cast<std::size_t>(row)] >> (glyph_width - 1 - col)) & 1) == 0) continue;
          for (Index sy = 0; sy < scale; ++sy) {
            for (Index sx = 0; sx < scale; ++sx) {
              const Index px = x + col * scale + sx;
              const Index py = y + row * scale + sy;
              if (px >= image.width || py >= image.height) continue;
              for (Index c = 0; c < image.channels; ++c) image.at(py, px, c) = 255;
            }
          }
        }
      }
    }
    x += (glyph_width + 1) * scale;
  }
}

// The original and every result side by side in a grid, each scaled (nearest
// pixel) to fit a cell and labelled underneath.
Image contact_sheet(const std::vector<std::pair<std::string, Image>>& panels, Index cell) {
  const Image& first = panels.front().second;
  const double scale =
      std::min(1.0, static_cast<double>(cell) / static_cast<double>(std::max(first.width, first.height)));
  const Index thumb_width = std::max<Index>(1, std::lround(static_cast<double>(first.width) * scale));
  const Index thumb_height = std::max<Index>(1, std::lround(static_cast<double>(first.height) * scale));
  constexpr Index text_scale = 2;
  constexpr Index margin = 6;
  const Index label_height = glyph_height * text_scale + 2 * margin;
  const auto count = static_cast<Index>(panels.size());
  const auto columns = static_cast<Index>(std::ceil(std::sqrt(static_cast<double>(count))));
  const Index rows = (count + columns - 1) / columns;
  const Index cell_width = std::max(thumb_width, 14 * (glyph_width + 1) * text_scale) + 2 * margin;
  const Index cell_height = thumb_height + label_height + margin;
  Image sheet(columns * cell_width, rows * cell_height, first.channels, 32);
  for (Index i = 0; i < count; ++i) {
    const auto& [label, image] = panels[static_cast<std::size_t>(i)];
    const Index left = (i % columns) * cell_width + margin;
    const Index top = (i / columns) * cell_height + margin;
    for (Index y = 0; y < thumb_height; ++y) {
      for (Index x = 0; x < thumb_width; ++x) {
        const Index source_y = std::min(image.height - 1, static_cast<Index>(static_cast<double>(y) / scale));
        const Index source_x = std::min(image.width - 1, static_cast<Index>(static_cast<double>(x) / scale));
        for (Index c = 0; c < sheet.channels; ++c) sheet.at(top + y, left + x, c) = image.at(source_y, source_x, c);
      }
    }
    draw_text(sheet, left, top + thumb_height + margin, label, text_scale);
  }
  return sheet;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Applies classic image kernels (blur, sharpen, edges, emboss) with fovea::signal::correlate"};
  std::string input;
  std::string out_dir = "image_filters_out";
  bool gray = false;
  Index cell = 256;
  app.add_option("image", input, "PNG, JPEG, PGM/PPM, BMP, ... (default: a synthesised test image)");
  app.add_option("--out", out_dir, "folder for one PNG per filter and contact_sheet.png")->capture_default_str();
  app.add_flag("--gray", gray, "convert to grayscale first (default: filter each colour channel)");
  app.add_option("--cell", cell, "largest side of a contact-sheet thumbnail, in pixels")
      ->check(CLI::Range(Index{16}, Index{4096}))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  try {
    const Image original = input.empty() ? synthesise_image(gray) : read_image(input, gray);
    const std::filesystem::path out(out_dir);
    std::filesystem::create_directories(out);

    std::vector<std::pair<std::string, Image>> panels;
    panels.emplace_back("original", original);
    write_png(out / "original.png", original);
    for (const auto& [name, kernel] : fovea::signal::classic_kernels<float>()) {
      Image filtered = apply_kernel(original, kernel);
      write_png(out / (name + ".png"), filtered);
      panels.emplace_back(name, std::move(filtered));
    }
    write_png(out / "contact_sheet.png", contact_sheet(panels, cell));
    std::cout << "image_filters: " << original.width << "x" << original.height << "x" << original.channels << ", "
              << panels.size() - 1 << " filters written to " << out.string() << "\n";
  } catch (const std::exception& error) {
    std::cerr << "image_filters: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
