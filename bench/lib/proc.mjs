// Server cost from /proc: CPU seconds (utime + stime) and resident memory of a process (or the sum
// over the processes of a peer).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let tck = 100;
try {
  tck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {}

/**
 * @param {number | number[]} pid one process, or several whose figures are summed (a peer made of
 *   a proxy and a hub)
 * @returns {{ cpu: number, user: number, sys: number, rss: number, t: number }} cpu (= user + sys)
 *   in seconds, rss in bytes, t wall ms
 */
export function sample(pid) {
  if (Array.isArray(pid)) {
    const all = pid.map(sample);
    const sum = (k) => all.reduce((a, s) => a + s[k], 0);
    return { cpu: sum('cpu'), user: sum('user'), sys: sum('sys'), rss: sum('rss'), t: Date.now() };
  }
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  // Fields after the ")" that closes the command name: state is field 3; utime 14, stime 15.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return {
    cpu: (utime + stime) / tck,
    user: utime / tck,
    sys: stime / tck,
    rss: m ? Number(m[1]) * 1024 : 0,
    t: Date.now(),
  };
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

let ksoftirqd = null;
/**
 * CPU seconds the kernel's softirq threads (ksoftirqd/N) have spent so far. Loopback packets are
 * received in softirq context: in the sending process's syscall while the burst is short, in
 * ksoftirqd once the kernel defers it. Which of the two pays depends on the sender's timing, so
 * the report shows this next to the server's own CPU.
 */
export function softirqSeconds() {
  if (ksoftirqd === null) {
    try {
      ksoftirqd = execFileSync('pgrep', ['ksoftirqd']).toString().trim().split('\n').map(Number);
    } catch {
      ksoftirqd = [];
    }
  }
  let s = 0;
  for (const pid of ksoftirqd) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      s += (Number(rest[11]) + Number(rest[12])) / tck;
    } catch {}
  }
  return s;
}
