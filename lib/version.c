/* Runtime version: lets a program compare the library with the header it was built with. */
#include "internal.h"

unsigned int sampler_version(void)
{
    return SAMPLER_VERSION_HEX;
}

const char *sampler_version_string(void)
{
    return SAMPLER_VERSION_STRING;
}
