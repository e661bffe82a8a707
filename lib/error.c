/* Error messages and names, generated from SAMPLER_ERRNO_MAP. */
#include "internal.h"

const char *sampler_strerror(int err)
{
    switch (err) {
    case SAMPLER_OK:
        return "success";
#define SAMPLER__ERR_MSG(name, value, msg)                                                  \
    case SAMPLER_##name:                                                                \
        return msg;
        SAMPLER_ERRNO_MAP(SAMPLER__ERR_MSG)
#undef SAMPLER__ERR_MSG
    default:
        return "unknown error";
    }
}

const char *sampler_err_name(int err)
{
    switch (err) {
    case SAMPLER_OK:
        return "SAMPLER_OK";
#define SAMPLER__ERR_NAME(name, value, msg)                                                 \
    case SAMPLER_##name:                                                                \
        return "SAMPLER_" #name;
        SAMPLER_ERRNO_MAP(SAMPLER__ERR_NAME)
#undef SAMPLER__ERR_NAME
    default:
        return "SAMPLER_EUNKNOWN";
    }
}
