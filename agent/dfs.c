/* placeholder: being written */
#include "dfs.h"
