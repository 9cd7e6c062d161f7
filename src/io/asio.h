#pragma once

// The Asio headers, with their warning suppression, live in base (metrics uses them too).
#include "base/asio.h"
