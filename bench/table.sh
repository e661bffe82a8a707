#!/bin/sh
# Print make bench's summary table from the rows the bench programs appended
# to FILE (bench_table_row in bench_util.h): one block, a heading per section,
# columns aligned. Usage: table.sh FILE
set -e
file=$1
[ -s "$file" ] || { echo "table.sh: no rows in '$file'" >&2; exit 1; }

kernel=$(uname -r)
cpus=$(getconf _NPROCESSORS_ONLN)
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
load=$(cut -d ' ' -f 1-3 /proc/loadavg)
echo
echo "==== make bench: summary (median (min-max) over the rounds; ratios per round against"
echo "     a baseline measured in the same run)"
echo "     $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $kernel, $cpus CPUs, $model, load $load"
awk -F '\t' '
{ n++; for (i = 1; i <= 7; i++) f[n, i] = $i
  for (i = 2; i <= 7; i++) if (length($i) > w[i]) w[i] = length($i) }
END {
  h[2] = "figure"; h[3] = "value"; h[4] = "baseline"; h[5] = "ratio"
  h[6] = "target"; h[7] = ""
  for (i = 2; i <= 7; i++) if (length(h[i]) > w[i]) w[i] = length(h[i])
  sec = ""
  for (r = 1; r <= n; r++) {
    if (f[r, 1] != sec) {
      sec = f[r, 1]
      printf "\n%s\n", sec
      line = "  "
      for (i = 2; i <= 7; i++) line = line sprintf("%-*s  ", w[i], h[i])
      sub(/ +$/, "", line); print line
    }
    line = "  "
    for (i = 2; i <= 7; i++) line = line sprintf("%-*s  ", w[i], f[r, i])
    sub(/ +$/, "", line); print line
  }
  missed = 0
  for (r = 1; r <= n; r++) if (f[r, 7] == "MISSED") missed++
  printf "\n%d figures, %d with a target missed (see docs/PERFORMANCE.md)\n", n, missed
}' "$file"
