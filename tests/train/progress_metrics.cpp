#include <catch2/catch.hpp>
#include <sstream>
#include <string>

#include "fovea/train/metrics.hpp"
#include "fovea/train/progress.hpp"

using namespace fovea;

TEST_CASE("a confusion matrix counts pairs and rejects classes outside its range", "[train][metrics]") {
  ConfusionMatrix m(3);
  m.add(0, 0);
  m.add(1, 2);
  m.add(1, 2);
  m.add(2, 1);
  CHECK(m.count(1, 2) == 2);
  CHECK(m.count(2, 1) == 1);
  CHECK(m.count(0, 0) == 1);
  CHECK(m.total() == 4);
  CHECK(m.correct() == 1);
  CHECK_THROWS_WITH(m.add(3, 0), Catch::Contains("3 -> 0 outside 0..2"));
  // (0, 3) would land on row 1 in the flat counts; it must throw, not read (1, 0).
  CHECK_THROWS_AS(m.count(0, 3), index_error);
  CHECK_THROWS_WITH(m.count(0, 3), Catch::Contains("ConfusionMatrix::count: class 0 -> 3 outside 0..2"));
  CHECK_THROWS_AS(m.count(-1, 0), index_error);
}

TEST_CASE("progress without a stream is silent in every style", "[train][progress]") {
  for (ProgressStyle style :
       {ProgressStyle::automatic, ProgressStyle::bar, ProgressStyle::lines, ProgressStyle::silent}) {
    Progress progress(nullptr, style);
    CHECK(progress.silent());
    CHECK_FALSE(progress.uses_bar());
    progress.start_epoch(0, 1, 2);
    progress.batch_done(1, 0.5);  // must not dereference the missing stream
    progress.end_epoch("done");
  }
}

TEST_CASE("automatic progress writes plain lines to a stream that is not a terminal", "[train][progress]") {
  std::ostringstream out;
  Progress progress(&out, ProgressStyle::automatic);
  CHECK_FALSE(progress.uses_bar());
  progress.start_epoch(0, 2, 3);
  for (Index b = 0; b < 3; ++b) progress.batch_done(b, 0.25);
  progress.end_epoch("epoch 1/2 loss 0.25");
  CHECK(out.str() == "epoch 1/2 loss 0.25\n");

  std::ostringstream bar_out;
  Progress bar(&bar_out, ProgressStyle::bar);
  bar.start_epoch(0, 1, 2);
  bar.batch_done(1, 0.125);
  CHECK(bar_out.str().find("2/2 loss 0.1250") != std::string::npos);
}
