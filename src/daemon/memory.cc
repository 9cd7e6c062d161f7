#include "daemon/memory.h"
