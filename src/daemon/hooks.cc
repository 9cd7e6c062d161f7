#include "daemon/hooks.h"
