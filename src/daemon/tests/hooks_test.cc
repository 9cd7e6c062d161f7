#include <gtest/gtest.h>

#include "daemon/hooks.h"
