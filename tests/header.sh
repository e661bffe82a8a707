#!/bin/sh
# Each public header compiles alone as strict C99 and as C++ (both -pedantic
# -Werror): <sampler.h> (the core) and <sampler/profile.h> (libsampler-profile,
# which includes <sampler.h> itself). The core's header must not pull in the
# profile API.
set -e
srcdir=${srcdir:-.}
inc="-I$srcdir/../include -I../include"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <sampler.h>\nint main(void) { return sampler_version() == SAMPLER_VERSION_HEX ? 0 : 1; }\n' > "$tmp/h.c"
printf '#include <sampler/profile.h>\nint main(void) { return sampler_profile_features() == 0 && sampler_version() == 0; }\n' > "$tmp/p.c"
printf '#include <sampler.h>\nint main(void) { sampler_profile *p = 0; return p == 0; }\n' > "$tmp/n.c"
for f in h p; do
    cp "$tmp/$f.c" "$tmp/$f.cpp"
    ${CC:-cc} -std=c99 -pedantic -Wall -Wextra -Werror $inc -fsyntax-only "$tmp/$f.c"
    ${CXX:-c++} -std=c++11 -pedantic -Wall -Wextra -Werror $inc -fsyntax-only "$tmp/$f.cpp"
done
echo "header: sampler.h and sampler/profile.h, each alone: C99 and C++11 -pedantic ok"
if ${CC:-cc} -std=c99 $inc -fsyntax-only "$tmp/n.c" 2>/dev/null; then
    echo "header: <sampler.h> declares sampler_profile (it must not include the profile API)"
    exit 1
fi
echo "header: <sampler.h> alone has no profile API"
