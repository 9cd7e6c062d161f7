#pragma once

// Filled in by the daemon work (issue 4).
