#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace sluice::testing {

/// Polls `done` every `poll` until it holds: false when `timeout` passed first. Blocks the
/// calling thread; `done` runs on it.
inline bool eventually(std::chrono::milliseconds timeout, const std::function<bool()>& done,
                       std::chrono::milliseconds poll = std::chrono::milliseconds(20)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done())
      return true;
    if (std::chrono::steady_clock::now() >= deadline)
      return false;
    std::this_thread::sleep_for(poll);
  }
}

} // namespace sluice::testing
