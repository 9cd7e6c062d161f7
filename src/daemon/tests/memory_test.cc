#include <gtest/gtest.h>

#include "daemon/memory.h"
