/* signal suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *signal_suite(void)
{
    Suite *s = suite_create("signal");
    return s;
}
