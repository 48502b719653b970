/* placeholder: being written */
#include "commands.h"

int cli_dfs_command(const cli_opts *o, int argc, char **argv)
{
    (void)o, (void)argc, (void)argv;
    return -1;
}
