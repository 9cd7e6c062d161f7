#include "daemon/process.h"
