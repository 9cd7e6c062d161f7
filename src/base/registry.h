#pragma once

#include <mutex>
#include <span>
#include <string_view>
#include <vector>

namespace sluice {

/// The types of one kind (sink types, source types) by name: the built-in ones, fixed at
/// compile time, then those registered at run time (a test's own type, say). `T` has a `name`.
/// Thread-safe.
template <class T> class type_registry {
public:
  explicit constexpr type_registry(std::span<const T* const> builtin) : builtin_(builtin) {}

  const T* find(std::string_view name) const {
    for (const auto* t : builtin_)
      if (t->name == name)
        return t;
    std::lock_guard lock(mutex_);
    for (const auto* t : added_)
      if (t->name == name)
        return t;
    return nullptr;
  }

  /// Adds `t` (which outlives the registry) unless a type of its name is there already.
  void add(const T& t) {
    if (find(t.name) != nullptr)
      return;
    std::lock_guard lock(mutex_);
    added_.push_back(&t);
  }

private:
  std::span<const T* const> builtin_;
  mutable std::mutex mutex_;
  std::vector<const T*> added_;
};

} // namespace sluice
