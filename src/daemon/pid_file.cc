#include "daemon/pid_file.h"
