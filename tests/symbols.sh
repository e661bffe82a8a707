#!/bin/sh
# The static library must define no global symbol outside sampler_/sampler__:
# a profiler linked into someone else's program must not clash with its names.
# An ASan build adds one `__odr_asan.<global>` per instrumented global (its
# one-definition-rule indicator): it is allowed for our own globals only.
lib=${1:-../lib/.libs/libsampler.a}
[ -f "$lib" ] || { echo "symbols: $lib not found"; exit 99; }
bad=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[A-TV-Z]$/ {print $3}' |
      grep -v -E '^(__odr_asan\.)?sampler_' || true)
if [ -n "$bad" ]; then
    echo "symbols: global symbols outside the sampler_ namespace:"
    echo "$bad"
    exit 1
fi
n=$(nm -g --defined-only "$lib" | awk 'NF == 3 && $2 ~ /^[A-TV-Z]$/ && $3 !~ /^__odr_asan\./' | wc -l)
echo "symbols: $n global symbols, all prefixed sampler_"
