#include "daemon/tasks.h"
