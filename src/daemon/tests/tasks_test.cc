#include <gtest/gtest.h>

#include "daemon/tasks.h"
