/* registry suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *registry_suite(void)
{
    Suite *s = suite_create("registry");
    return s;
}
