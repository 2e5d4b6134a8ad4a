// Minimal HTTP/1.1 response parser for the load generator: status line, the few headers we need,
// Content-Length / chunked / until-close bodies. Works on latin1 strings (payloads are ASCII).

/**
 * Incremental parser of a stream of HTTP/1.1 responses on one keep-alive socket.
 * Callbacks: onHead(status, headers), onData(text) for each decoded body piece, onEnd() when a
 * response with a known length completes (the socket may then carry the next one).
 */
export class ResponseParser {
  constructor(onHead, onData, onEnd) {
    this.onHead = onHead;
    this.onData = onData;
    this.onEnd = onEnd;
    this.reset();
  }

  reset() {
    this.buf = '';
    this.state = 0; // 0 head, 1 length body, 2 chunk size, 3 chunk data, 4 chunk crlf, 5 until close, 6 trailer
    this.remaining = 0;
  }

  /** @param {string} text */
  push(text) {
    this.buf = this.buf.length ? this.buf + text : text;
    for (;;) {
      const buf = this.buf;
      if (buf.length === 0) return;
      switch (this.state) {
        case 0: {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.slice(0, end);
          this.buf = buf.slice(end + 4);
          const lines = head.split('\r\n');
          const status = Number(lines[0].slice(9, 12));
          const headers = {};
          for (let i = 1; i < lines.length; i++) {
            const line = lines[i];
            const c = line.indexOf(':');
            if (c > 0) headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
          }
          this.onHead(status, headers);
          if (headers['transfer-encoding']?.toLowerCase().includes('chunked')) this.state = 2;
          else if (headers['content-length'] !== undefined) {
            this.remaining = Number(headers['content-length']);
            this.state = 1;
            if (this.remaining === 0 || status === 304 || status === 204) {
              this.state = 0;
              this.onEnd();
            }
          } else if (status === 304 || status === 204 || status === 101) {
            this.onEnd();
          } else this.state = 5;
          break;
        }
        case 1: {
          const n = Math.min(this.remaining, buf.length);
          this.onData(n === buf.length ? buf : buf.slice(0, n));
          this.buf = n === buf.length ? '' : buf.slice(n);
          this.remaining -= n;
          if (this.remaining === 0) {
            this.state = 0;
            this.onEnd();
          }
          break;
        }
        case 2: {
          const e = buf.indexOf('\r\n');
          if (e < 0) return;
          const size = Number.parseInt(buf.slice(0, e), 16);
          this.buf = buf.slice(e + 2);
          if (size === 0) this.state = 6;
          else {
            this.remaining = size;
            this.state = 3;
          }
          break;
        }
        case 3: {
          const n = Math.min(this.remaining, buf.length);
          this.onData(n === buf.length ? buf : buf.slice(0, n));
          this.buf = n === buf.length ? '' : buf.slice(n);
          this.remaining -= n;
          if (this.remaining === 0) this.state = 4;
          break;
        }
        case 4: {
          if (buf.length < 2) return;
          this.buf = buf.slice(2);
          this.state = 2;
          break;
        }
        case 5: {
          this.onData(buf);
          this.buf = '';
          return;
        }
        case 6: {
          const e = buf.indexOf('\r\n');
          if (e < 0) return;
          this.buf = buf.slice(e + 2);
          if (e === 0) {
            this.state = 0;
            this.onEnd();
          }
          break;
        }
      }
    }
  }
}
