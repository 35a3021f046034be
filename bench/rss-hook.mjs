// Preloaded with `node --import bench/rss-hook.mjs ...` by bench/run.ts when /usr/bin/time is
// missing: writes the process's peak RSS (KiB, like `time -f %M`) to $PBXCTL_BENCH_RSS_FILE at exit.
import { writeFileSync } from 'node:fs';

const file = process.env.PBXCTL_BENCH_RSS_FILE;
if (file) {
  process.on('exit', () => {
    writeFileSync(file, `${process.resourceUsage().maxRSS}\n`);
  });
}
