#include <gtest/gtest.h>

#include "daemon/notify.h"
