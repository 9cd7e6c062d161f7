#pragma once

#include <memory>

#include "base/result.h"
#include "queue/queue.h"

namespace sluice::queue {

/// `[queue] spill = "disk"`: a shared queue (`primary`, Redis) that, while it refuses appends
/// (unreachable, restarting, answering errors), lets the sources go on into a local disk queue
/// (`spill`) instead of pausing them; a forwarder thread appends what was spilled to the primary,
/// in order, once it takes appends again, and only then do appends go straight to it again, so
/// the stream keeps the order the sources appended in. Everything but appends (subscriptions,
/// readers, cursors, status) is the primary's. Positions of spilled appends are the spill
/// queue's (small numbers, below 2^40; the primary's Redis positions are far above), which
/// wait_durable() tells apart. Thread-safe, as every queue.
/// Fails when the spill queue refuses the forwarder's subscription ("spill-forward").
result<std::unique_ptr<queue>> make_spilling(std::unique_ptr<queue> primary,
                                             std::unique_ptr<queue> spill);

} // namespace sluice::queue
