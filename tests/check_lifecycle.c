/* lifecycle suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *lifecycle_suite(void)
{
    Suite *s = suite_create("lifecycle");
    return s;
}
