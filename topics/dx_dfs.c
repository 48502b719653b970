/* placeholder: being written */
#include "dx_dfs.h"
