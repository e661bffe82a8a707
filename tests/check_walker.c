/* walker suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *walker_suite(void)
{
    Suite *s = suite_create("walker");
    return s;
}
