/* placeholder: being written */
#include "dx_hash.h"
