#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "config/pipeline.h"

// What `sluice bench pipeline` runs (bench_pipeline.cc): the configurations of its instances.
namespace sluice::cli::bench {

/// Where the queue is: the disk (one process) or a private Redis (one collector, two
/// deliverers sharing the subscription's group).
struct queue_target {
  std::uint16_t redis_port = 0; ///< 0: the disk queue
  std::string stream;
};

/// The instances of one run: on disk one with the source and the subscription; on Redis a
/// collector (the source) and two deliverers of the subscription.
std::vector<config::pipeline_config> make_configs(const std::filesystem::path& dir,
                                                  std::uint16_t port, const std::string& sink,
                                                  std::size_t batch, const queue_target& q);

} // namespace sluice::cli::bench
