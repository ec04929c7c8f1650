#!/usr/bin/env bash
# An image folder larger than the memory a run may use (issue 13): one epoch of `simclr pretrain`
# on the CIFAR-10 folder decoded at SIZE px (a 1.3 GiB cache at 96 px) inside a cgroup whose
# memory limit (LIMIT_MIB, default 1024) is below the cache's size. The cgroup's limit counts
# the page cache too, so the kernel must drop mapped pages of the cache as the epoch reads on.
# Then, for contrast, the same pixels copied into process memory in the same cgroup (the design
# before the memory map), which the kernel must kill.
#   bash bench/larger-than-memory.sh          (root, cgroup v1 or v2 with the memory controller)
# Prints one JSON line. The cache is built first, outside the cgroup (decoding is not the point).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-96}
LIMIT_MIB=${LIMIT_MIB:-1024}
CLI=dist/src/cli/main.js

# the cgroup: a child of this shell's own memory cgroup
if [ -f /sys/fs/cgroup/cgroup.controllers ] && [ "$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)" != "" ] && ! grep -q ':memory:' /proc/self/cgroup; then
  parent=/sys/fs/cgroup$(awk -F: '$1 == "0" {print $3}' /proc/self/cgroup)
  limit_file=memory.max; peak_file=memory.peak
else
  parent=/sys/fs/cgroup/memory$(awk -F: '$2 == "memory" {print $3}' /proc/self/cgroup)
  limit_file=memory.limit_in_bytes; peak_file=memory.max_usage_in_bytes
fi
group="${parent%/}/simclr-larger-than-memory-$$"
mkdir "$group" || { echo "cannot make a cgroup under $parent (run as root, with the memory controller)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rmdir "$group" 2>/dev/null || true; rm -rf "$work"' EXIT
echo $((LIMIT_MIB * 1024 * 1024)) > "$group/$limit_file"
in_group() { bash -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$group" "$@"; }

cache_mib=$(node --input-type=module -e "
const { loadImageFolder, cifar10JpgRoot } = await import('./dist/src/index.js');
const f = await loadImageFolder({ path: cifar10JpgRoot() + '/train', size: $SIZE, onProgress: (d, t) => d % 10000 === 0 && console.error('building the cache: ' + d + '/' + t) });
console.log(Math.round(f.images.numel / 2 ** 20));
")

epoch() { # OUT: one epoch of ResNet-18 width 4 (ImageNet stem) at batch 256
  node "$CLI" pretrain --out "$1" --set data.name=cifar10-jpg --set data.size="$SIZE" \
    --set model.width=4 --set model.cifarStem=false --set augment.preset=cifar --set train.batchSize=256 \
    --set train.epochs=1 --set monitor.knnEvery=0 --set monitor.linearProbe=false >&2
}
last_loss() { # the epoch's mean loss (the last line)
  tail -n 1 "$1/metrics.jsonl" 2>/dev/null | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(s ? JSON.parse(s).epoch_loss : null))'; }
majfaults() { awk '$1 == "total_pgmajfault" || $1 == "pgmajfault" {print $2; exit}' "$group/memory.stat"; }

# 1) one epoch under the limit, the cache mapped (its pages dropped first: a page already cached
# outside the cgroup would not count against its limit)
sync; echo 1 > /proc/sys/vm/drop_caches
export -f epoch; export CLI SIZE
start=$(date +%s)
set +e
in_group bash -c 'epoch "$0"' "$work/run"
mapped_status=$?
set -e
mapped_s=$(( $(date +%s) - start ))
mapped_peak_mib=$(( $(cat "$group/$peak_file") / 1024 / 1024 ))
mapped_majfaults=$(majfaults)

# 2) the same epoch with no limit: the speed to compare with, and the loss it must reproduce
start=$(date +%s)
epoch "$work/free"
free_s=$(( $(date +%s) - start ))

# 3) the same pixels copied into process memory, in the same group (a fresh peak: a new group)
rmdir "$group"; mkdir "$group"; echo $((LIMIT_MIB * 1024 * 1024)) > "$group/$limit_file"
set +e
in_group node --input-type=module -e "
const { loadImageFolder, cifar10JpgRoot } = await import('./dist/src/index.js');
const f = await loadImageFolder({ path: cifar10JpgRoot() + '/train', size: $SIZE });
const inMemory = f.images.clone();
console.error('copied ' + inMemory.numel + ' bytes into process memory');
" >&2
memory_status=$?
set -e
memory_peak_mib=$(( $(cat "$group/$peak_file") / 1024 / 1024 ))

printf '{"bench":"larger-than-memory","size":%s,"cache_mib":%s,"limit_mib":%s,"epoch_no_limit":{"seconds":%s,"epoch_loss":%s},"mapped_epoch_under_limit":{"exit_status":%s,"seconds":%s,"epoch_loss":%s,"cgroup_peak_mib":%s,"major_faults":%s},"in_memory_copy_under_limit":{"exit_status":%s,"cgroup_peak_mib":%s}}\n' \
  "$SIZE" "$cache_mib" "$LIMIT_MIB" "$free_s" "$(last_loss "$work/free")" "$mapped_status" "$mapped_s" "$(last_loss "$work/run")" "$mapped_peak_mib" "${mapped_majfaults:-null}" "$memory_status" "$memory_peak_mib"
