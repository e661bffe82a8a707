#!/bin/sh
# The static libraries (libsampler.a and, when built, libsampler-profile.a)
# must define no global symbol outside sampler_/sampler__: a profiler linked
# into someone else's program must not clash with its names. An ASan build
# adds one `__odr_asan.<global>` per instrumented global (its one-definition-
# rule indicator): it is allowed for our own globals only.
# Arguments: the archives (default: the build tree's).
if [ $# -eq 0 ]; then
    set -- ../lib/.libs/libsampler.a
    [ -f ../profile/.libs/libsampler-profile.a ] && set -- "$@" ../profile/.libs/libsampler-profile.a
    [ -f ../profile/libsampler-profile.la ] && [ ! -f ../profile/.libs/libsampler-profile.a ] &&
        { echo "symbols: profile/libsampler-profile.la without its archive"; exit 99; }
fi
status=0
for lib in "$@"; do
    [ -f "$lib" ] || { echo "symbols: $lib not found"; exit 99; }
    bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[A-TV-Z]$/ {print $3}' |
          grep -v -E '^(__odr_asan\.)?sampler_' || true)
    if [ -n "$bad" ]; then
        echo "symbols: $lib: global symbols outside the sampler_ namespace:"
        echo "$bad"
        status=1
        continue
    fi
    n=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[A-TV-Z]$/ && $3 !~ /^__odr_asan\./' | wc -l)
    echo "symbols: $(basename "$lib"): $n global symbols, all prefixed sampler_"
done
# The core must not depend on the profile library.
core=$1
if nm -u "$core" | grep -q 'sampler_profile_'; then
    echo "symbols: $core refers to sampler_profile_* (the core must not use the profile library)"
    status=1
fi
exit $status
