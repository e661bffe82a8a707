/* buffer suite: placeholder until its tests are written. */
#include "testutil.h"

Suite *buffer_suite(void)
{
    Suite *s = suite_create("buffer");
    return s;
}
