#!/bin/sh
# The public header compiles alone as strict C99 and as C++ (both -pedantic -Werror).
set -e
srcdir=${srcdir:-.}
inc="-I$srcdir/../include -I../include"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '#include <sampler.h>\nint main(void) { return sampler_version() == SAMPLER_VERSION_HEX ? 0 : 1; }\n' > "$tmp/h.c"
cp "$tmp/h.c" "$tmp/h.cpp"
${CC:-cc} -std=c99 -pedantic -Wall -Wextra -Werror $inc -fsyntax-only "$tmp/h.c"
echo "header: C99 -pedantic ok"
${CXX:-c++} -std=c++11 -pedantic -Wall -Wextra -Werror $inc -fsyntax-only "$tmp/h.cpp"
echo "header: C++11 -pedantic ok"
