#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "queue/disk/files.h"
#include "queue/queue.h"

/// Subscription cursors: DIR/cursors/NAME.cursor (see format.h), replaced atomically on commit,
/// and DIR/cursors/NAME.lock, held by the one reader of that subscription.
namespace sluice::queue::disk::cursor_file {

std::filesystem::path dir_of(const std::filesystem::path& queue_dir);
std::filesystem::path path_of(const std::filesystem::path& queue_dir, std::string_view name);

/// The committed position, nothing when the subscription has no cursor yet.
result<std::optional<position>> read(const std::filesystem::path& queue_dir, std::string_view name);

/// Makes `p` the committed position durably (write tmp, fsync, rename, fsync the directory).
result<void> write(const std::filesystem::path& queue_dir, std::string_view name, position p);

/// Takes the subscription's lock (DIR/cursors/NAME.lock, creating the directory): held while the
/// returned file is open. errc::invalid_argument for a name base/name.h refuses;
/// errc::subscription_busy while another holder has it (its pid in `error_detail`).
result<file> hold(const std::filesystem::path& queue_dir, std::string_view name,
                  std::string* error_detail = nullptr);

/// Every subscription that has a cursor, with its committed position (lag left 0). Damaged
/// cursor files are skipped.
result<std::vector<cursor_info>> list(const std::filesystem::path& queue_dir);

} // namespace sluice::queue::disk::cursor_file
