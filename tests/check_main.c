/* The test runner: every suite, in check's fork mode (a crash fails one test). */
#include "testutil.h"

#include <stdlib.h>

int main(void)
{
    SRunner *sr = srunner_create(version_suite());
    srunner_add_suite(sr, lifecycle_suite());
    srunner_add_suite(sr, registry_suite());
    srunner_add_suite(sr, attribution_suite());
    srunner_add_suite(sr, pause_suite());
    srunner_add_suite(sr, signal_suite());
    srunner_add_suite(sr, buffer_suite());
    srunner_add_suite(sr, walker_suite());
    srunner_add_suite(sr, fork_suite());
    srunner_add_suite(sr, badinput_suite());
    srunner_add_suite(sr, unwind_suite());
    srunner_add_suite(sr, faults_suite());
    srunner_add_suite(sr, hostile_suite());
#ifdef SAMPLER_TEST_PROFILE
    srunner_add_suite(sr, profile_suite());
    srunner_add_suite(sr, modules_suite());
#endif
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
