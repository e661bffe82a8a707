/* badinput suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *badinput_suite(void)
{
    Suite *s = suite_create("badinput");
    return s;
}
