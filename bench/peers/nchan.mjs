// nginx + nchan: one process (master_process off, daemon off), config written here.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild } from '../lib/children.mjs';
import { freePort } from '../lib/net.mjs';
import { startNginx } from '../lib/nginx.mjs';

export const NCHAN_MODULE = '/usr/lib/nginx/modules/ngx_nchan_module.so';

export function nchanConfig({ dir, port, bufferLength = 10 }) {
  return `load_module ${NCHAN_MODULE};
worker_processes 1;
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
worker_rlimit_nofile 20000;
events {
  worker_connections 19000;
  use epoll;
}
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  nchan_shared_memory_size 256M;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location ~ ^/pub/([\\w.-]+)$ {
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length ${bufferLength};
      nchan_message_timeout 10m;
    }
    location ~ ^/sub/([\\w.-]+)$ {
      nchan_subscriber eventsource websocket longpoll;
      nchan_channel_id $1;
      nchan_subscriber_first_message newest;
    }
  }
}
`;
}

export async function start() {
  const dir = mkdtempSync(join(tmpdir(), 'cometa-bench-nchan-'));
  const port = await freePort();
  const child = await startNginx(dir, nchanConfig({ dir, port }), port, 'nginx+nchan');
  return {
    pid: child.pid,
    port,
    child,
    version: 'nginx 1.22.1 + nchan (Debian libnginx-mod-nchan)',
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
