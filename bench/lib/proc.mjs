// Server cost from /proc: CPU seconds (utime + stime) and resident memory of one process.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let tck = 100;
try {
  tck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {}

/** @returns {{ cpu: number, rss: number, t: number }} cpu in seconds, rss in bytes, t wall ms */
export function sample(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // Fields after the ")" that closes the command name: state is field 3; utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return { cpu: (utime + stime) / tck, rss: m ? Number(m[1]) * 1024 : 0, t: Date.now() };
}

export function diff(a, b) {
  return { cpu: b.cpu - a.cpu, rss: b.rss - a.rss, wall: (b.t - a.t) / 1000 };
}

/** CPU seconds all processes of the machine spent busy so far (from the first line of /proc/stat). */
export function machineBusy() {
  const line = readFileSync('/proc/stat', 'latin1').split('\n', 1)[0];
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - v[3] - v[4]) / tck;
}
