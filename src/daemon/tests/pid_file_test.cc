#include <gtest/gtest.h>

#include "daemon/pid_file.h"
