#include <gtest/gtest.h>

#include "daemon/process.h"
