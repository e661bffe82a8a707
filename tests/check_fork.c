/* fork suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *fork_suite(void)
{
    Suite *s = suite_create("fork");
    return s;
}
