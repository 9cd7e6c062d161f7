// Placeholder: filled in by the pipeline tests work.
#include <gtest/gtest.h>
