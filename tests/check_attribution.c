/* attribution suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *attribution_suite(void)
{
    Suite *s = suite_create("attribution");
    return s;
}
