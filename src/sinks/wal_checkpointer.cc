#include "sinks/wal_checkpointer.h"

#include <sqlite3.h>

#include "base/log.h"

namespace sluice::sinks {

wal_checkpointer::wal_checkpointer(std::filesystem::path db, std::chrono::milliseconds busy_timeout)
    : db_(std::move(db)), busy_timeout_(busy_timeout), thread_([this] { run(); }) {}

wal_checkpointer::~wal_checkpointer() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void wal_checkpointer::request() noexcept {
  {
    std::lock_guard lock(mutex_);
    due_ = true;
  }
  wake_.notify_one();
}

void wal_checkpointer::run() {
  sqlite3* db = nullptr;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return due_ || stopping_; });
      if (stopping_)
        break;
      due_ = false;
    }
    if (db == nullptr) {
      int rc =
          sqlite3_open_v2(db_.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
      if (rc != SQLITE_OK) {
        failures_.fetch_add(1);
        SLUICE_WARN_LIMITED("sqlite sink {}: the checkpoint connection cannot open: {}; the WAL "
                            "grows until it can",
                            db_.string(), sqlite3_errstr(rc));
        sqlite3_close(db);
        db = nullptr;
        continue;
      }
      sqlite3_busy_timeout(db, static_cast<int>(busy_timeout_.count()));
    }
    int rc = sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
    if (rc == SQLITE_OK) {
      checkpoints_.fetch_add(1);
    } else if (rc != SQLITE_BUSY) {
      failures_.fetch_add(1);
      SLUICE_WARN_LIMITED("sqlite sink {}: checkpoint failed: {}; the WAL grows until one works",
                          db_.string(), sqlite3_errmsg(db));
      sqlite3_close(db); // reopened for the next one
      db = nullptr;
    }
  }
  sqlite3_close(db);
}

} // namespace sluice::sinks
