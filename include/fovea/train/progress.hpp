#pragma once

/// @file
/// Progress reporting for the training loop: a live bar with ETA and running
/// loss when the output is a terminal, one plain line per epoch otherwise (so
/// logs and CI output stay readable), or nothing.

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>
#include <string>

#include "fovea/core/shape.hpp"

namespace fovea {

/// How the training loop reports progress.
enum class ProgressStyle {
  automatic,  ///< `bar` when the stream is std::cout or std::cerr on a terminal, else `lines`.
  bar,        ///< A live bar with ETA and running loss, redrawn in place, then the epoch's line.
  lines,      ///< One summary line per epoch.
  silent      ///< Nothing.
};

/// Writes a training run's progress to a stream in one ProgressStyle.
class Progress {
 public:
  /// Reports to `out` in `style`, with `automatic` resolved here once. A null
  /// `out` is `silent`, whatever the style.
  Progress(std::ostream* out, ProgressStyle style) : out_(out), style_(resolve(out, style)) {}

  /// Whether the live bar is drawn.
  bool uses_bar() const { return style_ == ProgressStyle::bar; }
  /// Whether nothing is written (style `silent`, or no stream).
  bool silent() const { return style_ == ProgressStyle::silent || out_ == nullptr; }

  /// Begins epoch `epoch` (from 0) of `epochs`, with `batches` batches; starts the ETA clock.
  void start_epoch(int epoch, int epochs, Index batches) {
    epoch_ = epoch;
    epochs_ = epochs;
    batches_ = batches;
    start_ = std::chrono::steady_clock::now();
    last_draw_ = start_;
  }

  /// Redraws the bar at most ten times a second (and at the last batch).
  /// `batch` counts from 0; `running_loss` is the epoch's mean loss so far.
  void batch_done(Index batch, double running_loss) {
    if (!uses_bar()) return;
    const auto now = std::chrono::steady_clock::now();
    if (batch + 1 < batches_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
    last_draw_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double fraction = static_cast<double>(batch + 1) / static_cast<double>(batches_);
    const double eta = fraction > 0 ? elapsed * (1 - fraction) / fraction : 0;
    constexpr int width = 30;
    const int filled = static_cast<int>(fraction * width);
    std::ostringstream line;
    line << "\repoch " << epoch_ + 1 << "/" << epochs_ << " [" << std::string(static_cast<std::size_t>(filled), '=')
         << (filled < width ? ">" : "") << std::string(static_cast<std::size_t>(std::max(0, width - filled - 1)), ' ')
         << "] " << batch + 1 << "/" << batches_ << " loss " << std::fixed << std::setprecision(4) << running_loss
         << " ETA " << std::setprecision(0) << eta << "s   ";
    *out_ << line.str() << std::flush;
  }

  /// The epoch's summary line (replacing the bar on a terminal).
  void end_epoch(const std::string& summary) {
    if (silent()) return;
    if (uses_bar()) *out_ << '\r' << std::string(100, ' ') << '\r';
    *out_ << summary << '\n' << std::flush;
  }

 private:
  static ProgressStyle resolve(std::ostream* out, ProgressStyle style) {
    if (out == nullptr) return ProgressStyle::silent;
    if (style != ProgressStyle::automatic) return style;
    // Only the standard streams can be asked whether they reach a terminal;
    // a file or string stream gets plain lines.
    const bool terminal =
        (out == &std::cout && isatty(fileno(stdout))) || (out == &std::cerr && isatty(fileno(stderr)));
    return terminal ? ProgressStyle::bar : ProgressStyle::lines;
  }

  std::ostream* out_;
  ProgressStyle style_;
  int epoch_ = 0;
  int epochs_ = 0;
  Index batches_ = 0;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace fovea
