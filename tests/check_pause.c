/* pause suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *pause_suite(void)
{
    Suite *s = suite_create("pause");
    return s;
}
