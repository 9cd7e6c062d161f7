#include "daemon/notify.h"
