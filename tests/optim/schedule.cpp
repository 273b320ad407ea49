#include "fovea/optim/schedule.hpp"

#include <catch2/catch.hpp>

TEST_CASE("learning-rate schedules give the documented factors", "[optim][schedule]") {
  auto constant = fovea::Schedule::constant();
  CHECK(constant.factor(0) == 1.0);
  CHECK(constant.factor(100) == 1.0);

  auto step = fovea::Schedule::step(3, 0.5);
  CHECK(step.factor(0) == 1.0);
  CHECK(step.factor(2) == 1.0);
  CHECK(step.factor(3) == 0.5);
  CHECK(step.factor(7) == 0.25);

  auto cosine = fovea::Schedule::cosine(10, 0.1);
  CHECK(cosine.factor(0) == Approx(1.0));
  CHECK(cosine.factor(5) == Approx(0.55));  // halfway: floor + (1 - floor) / 2
  CHECK(cosine.factor(10) == Approx(0.1));
  CHECK(cosine.factor(20) == Approx(0.1));

  CHECK_THROWS_WITH(fovea::Schedule::step(0, 0.5), "Schedule::step: every must be positive, got 0");
  CHECK_THROWS_AS(fovea::Schedule::step(2, 1.5), fovea::value_error);
  CHECK_THROWS_AS(fovea::Schedule::cosine(0), fovea::value_error);
}
