#!/usr/bin/env bash
# The Slurm job-array test run by .ci/run: installs Debian's slurm-wlm and munge if missing, starts a single-node Slurm
# on 127.0.0.1 (slurm/local-cluster.sh), runs notebooks 10 and 30 at smoke unsharded, then as a 2-task job array
# (slurm/reproduce.sbatch) followed by the assembling job (slurm/assemble.sbatch, afterok), and checks that the
# assembled notebooks' findings equal the unsharded run's. Stops every daemon it started; leaves out/smoke as it was.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
only='^(10|30)-'
t0=$(date +%s)
# The environment (packages, daemons) may be unavailable: then the test is skipped, loudly; a job or a comparison that
# fails is a failure.
skip() { echo "[slurm-test] SKIPPED: $1"; exit 0; }
if ! command -v slurmctld >/dev/null 2>&1 || ! command -v munged >/dev/null 2>&1; then
  echo "[slurm-test] installing slurm-wlm and munge (apt)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null) ||
    skip "slurm-wlm and munge could not be installed"
fi
work=$(mktemp -d)
started=()
cleanup() {
  for p in "${started[@]}"; do kill "$p" 2>/dev/null || true; done
  pkill -f "slurmctld -f $work" 2>/dev/null || true
  pkill -f "slurmd -f $work" 2>/dev/null || true
  if [ -d "$work/out-smoke-before" ]; then rm -rf out/smoke; mv "$work/out-smoke-before" out/smoke; fi
}
trap cleanup EXIT
if [ -d out/smoke ]; then mv out/smoke "$work/out-smoke-before"; fi
mkdir -p "$work/expected"
echo "[slurm-test] unsharded run of $only"
node out/build/kernel-ext/src/runner/cli.js --scale smoke --only "$only"
cp out/smoke/results/*.findings.json "$work/expected/"
rm -rf out/smoke
echo "[slurm-test] starting a single-node Slurm"
munged_before=$(pgrep -x munged || true)
bash slurm/local-cluster.sh "$work/slurm" >/dev/null || skip "a single-node Slurm could not be started"
[ -z "$munged_before" ] && started+=("$(pgrep -x munged)")
export SLURM_CONF="$work/slurm/slurm.conf"
sinfo -h -o %t 2>/dev/null | grep -q idle || skip "the Slurm node did not become idle"
mkdir -p out/slurm
array=$(sbatch --parsable --array=0-1 slurm/reproduce.sbatch smoke "$only")
assemble=$(sbatch --parsable --dependency=afterok:"$array" slurm/assemble.sbatch smoke "$only")
echo "[slurm-test] job array $array, assembling job $assemble"
for _ in $(seq 1 300); do
  state=$(squeue -h -j "$array,$assemble" -o %T 2>/dev/null | sort -u | tr '\n' ' ')
  [ -z "$state" ] && break
  sleep 2
done
for j in "$array" "$assemble"; do
  if ! ls out/slurm/*"$j"* >/dev/null 2>&1; then echo "[slurm-test] no log of job $j"; exit 1; fi
done
cat out/slurm/*"$assemble"*.log | tail -5
ls out/smoke/REPORT-shard-1-of-2.md out/smoke/REPORT-shard-2-of-2.md out/smoke/REPORT-only-*.md >/dev/null
python3 - "$work/expected" out/smoke/results <<'PY'
import json, os, sys
expected, got = sys.argv[1], sys.argv[2]
names = sorted(f for f in os.listdir(expected) if f.endswith('.findings.json'))
assert names, 'no findings from the unsharded run'
for f in names:
    a = json.load(open(os.path.join(expected, f)))
    b = json.load(open(os.path.join(got, f)))
    keep = lambda rows: [(r['id'], r['verdict'], r['measured'], r['interval']) for r in rows]
    if keep(a['rows']) != keep(b['rows']):
        for x, y in zip(keep(a['rows']), keep(b['rows'])):
            if x != y: print('differs:', x, '|', y)
        sys.exit(f'{f}: the assembled findings differ from the unsharded run')
    print(f'{f}: {len(a["rows"])} findings equal')
PY
echo "[slurm-test] passed in $(( $(date +%s) - t0 )) s"
