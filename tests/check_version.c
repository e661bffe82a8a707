/* Version and error codes. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

START_TEST(version_matches_header)
{
    ck_assert_uint_eq(sampler_version(), SAMPLER_VERSION_HEX);
    ck_assert_str_eq(sampler_version_string(), SAMPLER_VERSION_STRING);
    char buf[32];
    snprintf(buf, sizeof buf, "%d.%d.%d", SAMPLER_VERSION_MAJOR, SAMPLER_VERSION_MINOR,
             SAMPLER_VERSION_PATCH);
    ck_assert_str_eq(sampler_version_string(), buf);
}
END_TEST

START_TEST(every_error_has_name_and_message)
{
    int seen = 0;
#define CHECK_ERR(name, value, msg)                                                    \
    ck_assert_int_lt(SAMPLER_##name, 0);                                               \
    ck_assert_str_eq(sampler_strerror(SAMPLER_##name), msg);                           \
    ck_assert_str_eq(sampler_err_name(SAMPLER_##name), "SAMPLER_" #name);              \
    seen++;
    SAMPLER_ERRNO_MAP(CHECK_ERR)
#undef CHECK_ERR
    ck_assert_int_ge(seen, 14);
    ck_assert_str_eq(sampler_err_name(0), "SAMPLER_OK");
    ck_assert_str_eq(sampler_strerror(-9999), "unknown error");
    ck_assert_str_eq(sampler_err_name(-9999), "SAMPLER_EUNKNOWN");
    ck_assert_ptr_nonnull(strstr(sampler_strerror(SAMPLER_ETIMERLIMIT), "RLIMIT_SIGPENDING"));
}
END_TEST

START_TEST(error_values_are_distinct)
{
    int vals[] = {
#define VAL(name, value, msg) SAMPLER_##name,
        SAMPLER_ERRNO_MAP(VAL)
#undef VAL
    };
    size_t n = sizeof vals / sizeof vals[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ck_assert_int_ne(vals[i], vals[j]);
}
END_TEST

Suite *version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, version_matches_header);
    tcase_add_test(tc, every_error_has_name_and_message);
    tcase_add_test(tc, error_values_are_distinct);
    suite_add_tcase(s, tc);
    return s;
}
