// The cometa demo page: plain JavaScript on top of the client bundle (global `cometa`).
// Everything the page does is a few calls to the client: subscribe() for live data, request()
// with FormData for publishing, ping() for the click tracker, jsonp() for the JSONP example.
(() => {
  // The hub serves this page, so it is the page's own origin (and prefix, if any).
  const HUB = new URL('.', location.href).href.replace(/\/$/, '');
  const LEAGUES = ['nba', 'epl', 'nhl'];
  const SYMBOLS = ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'TSLA', 'EURUSD'];
  // This page's own channel: the "drop connection" button asks the hub to end the subscriptions
  // on it (and only it), which are exactly this page's.
  const PAGE_CHANNEL = `demo.page-${Math.random().toString(36).slice(2, 10)}`;
  // Quotes by one wildcard pattern: every symbol the feed publishes, resumed from one cursor.
  const CHANNELS = LEAGUES.map((l) => `scores.${l}`).concat(['quotes.*', 'demo.chat', PAGE_CHANNEL]);
  // This page's name in the chat's presence list: kept for the tab's life, so a reload comes back
  // as the same member within the hub's coalescing window (no leave, no join).
  let ME = sessionStorage.getItem('cometaDemoName');
  if (!ME) {
    ME = `guest-${Math.random().toString(36).slice(2, 6)}`;
    sessionStorage.setItem('cometaDemoName', ME);
  }
  const online = {};

  const $ = (id) => document.getElementById(id);
  const stats = { messages: 0, reconnects: 0, fallbacks: 0, gaps: 0, dups: 0 };
  let seen = {}; // message ids already rendered, to prove (and count) that resume sends no duplicate
  let sub = null;
  let lastTransport = null;
  let wasOpen = false;

  /** Exposed for the browser test and for curious readers in the console. */
  const demo = {
    stats: stats,
    channel: PAGE_CHANNEL,
    events: [],
    quotes: {},
    scores: {},
    clicks: {},
    received: [],
    ignored: [],
    me: ME,
    online: online,
    presence: [],
  };
  window.cometaDemo = demo;

  function bump(name) {
    stats[name]++;
    $(`c-${name}`).textContent = String(stats[name]);
  }

  function log(text, kind) {
    const li = document.createElement('li');
    li.className = kind || '';
    const time = new Date().toLocaleTimeString();
    li.innerHTML = '<time></time> ';
    li.firstChild.textContent = time;
    li.appendChild(document.createTextNode(text));
    const list = $('log');
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 60) list.removeChild(list.lastChild);
    demo.events.push({ time: Date.now(), text: text, kind: kind || '' });
  }

  function setState(state, transport) {
    const el = $('state');
    el.textContent = state;
    el.setAttribute('data-state', state);
    $('transport').textContent = transport || '—';
    document.body.setAttribute('data-transport', transport || '');
    document.body.setAttribute('data-state', state);
  }

  // ---- subscribe(): the live connection --------------------------------------------------------

  function chosenTransports() {
    const v = document.querySelector('input[name=transport]:checked').value;
    return v === 'auto' ? undefined : [v];
  }

  function connect(since) {
    if (typeof cometa === 'undefined' || typeof cometa.subscribe !== 'function') {
      setState('unavailable', '');
      log('This build of /cometa.js has no subscribe(): run `npm run build` (live data needs it).', 'bad');
      return;
    }
    const options = {
      onMessage: onMessage,
      onGap: (e) => {
        bump('gaps');
        log(`gap on ${e.channel}: ${e.data.reason} (messages after ${e.data.since} are lost)`, 'warn');
      },
      onStatus: onStatus,
      // The chat's who's-online list: this page is a member by its name, and hears joins and leaves.
      presence: true,
      member: ME,
      onPresence: onPresence,
    };
    const transports = chosenTransports();
    if (transports) options.transports = transports;
    // "Block WebSocket" stands in for a proxy that refuses upgrades: a WebSocket that fails at once.
    if ($('blockws').checked) options.WebSocket = BlockedWebSocket;
    // First connection: the latest messages of each channel fill the page at once. Later (switching
    // transport) it resumes from the previous subscription's cursor: nothing is missed or repeated.
    if (since) options.since = since;
    else options.last = 20;
    wasOpen = false;
    lastTransport = null;
    sub = cometa.subscribe(HUB, CHANNELS, options);
    demo.subscription = sub;
  }

  /** A WebSocket that errors right away, as one does behind a proxy that refuses upgrades. */
  function BlockedWebSocket() {
    setTimeout(() => {
      if (this.onerror) this.onerror();
    }, 30);
  }
  BlockedWebSocket.prototype.close = () => {};

  function onStatus(s) {
    setState(s.state, s.transport);
    // (Re)connected: take the snapshot of who is there, then follow the joins and leaves.
    if (s.state === 'open' && sub && sub.presence) {
      sub.presence('demo.chat').then(
        (snap) => {
          for (const k in online) delete online[k];
          for (const m of snap.members) online[m.member] = true;
          renderOnline();
        },
        () => {},
      );
    }
    if (s.state === 'open') {
      log(
        (wasOpen ? 'reconnected over ' : 'open over ') +
          s.transport +
          (sub?.cursor ? ` (resuming after ${sub.cursor})` : ''),
        'good',
      );
      wasOpen = true;
    } else if (
      s.state === 'reconnecting' &&
      s.reason === 'failed' &&
      lastTransport &&
      s.transport !== lastTransport
    ) {
      // The transport never opened: subscribe() falls back to the next one at once.
      bump('fallbacks');
      log(`${lastTransport} did not work; falling back to ${s.transport}`, 'warn');
    } else if (s.state === 'reconnecting') {
      bump('reconnects');
      log(
        'connection ended' +
          (s.reason ? ` (${s.reason})` : '') +
          '; reconnecting over ' +
          (s.transport || '…'),
        'warn',
      );
    } else if (s.state === 'closed') {
      log(`closed${s.reason ? ` (${s.reason})` : ''}`, s.reason === 'closed' ? '' : 'bad');
    }
    if (s.transport) lastTransport = s.transport;
    $('cursor').textContent = sub?.cursor || '—';
  }

  function onPresence(e) {
    if (e.channel !== 'demo.chat') return;
    demo.presence.push(`${e.event}:${e.data.member}`);
    if (e.event === 'join') online[e.data.member] = true;
    else delete online[e.data.member];
    renderOnline();
  }

  function renderOnline() {
    $('me').textContent = ME;
    const list = $('online');
    list.textContent = '';
    Object.keys(online)
      .sort()
      .forEach((name) => {
        const li = document.createElement('li');
        li.textContent = name === ME ? `${name} (you)` : name;
        list.appendChild(li);
      });
  }

  function onMessage(e) {
    if (e.id) {
      if (seen[e.id]) {
        bump('dups');
        return;
      }
      seen[e.id] = true;
    }
    bump('messages');
    // Kept for the browser test (and the curious): which transport carried which message.
    demo.received.push({ id: e.id, channel: e.channel, transport: sub ? sub.transport : null });
    if (demo.received.length > 5000) demo.received.splice(0, 1000);
    $('cursor').textContent = e.id || sub?.cursor || '—';
    // Replayed history is drawn without the flash reserved for what just happened.
    const live = e.time > Date.now() - 3000;
    const parts = e.channel.split('.');
    // Anyone may publish on these channels (the README's own curl example does): draw only the
    // shapes the simulated feed sends, and say what was set aside instead of breaking the page.
    if (parts[0] === 'scores') {
      if (isScores(e.data) && LEAGUES.indexOf(parts[1]) >= 0) renderScores(parts[1], e.data, live);
      else ignore(e, 'scores-note', 'a scoreboard update');
    } else if (parts[0] === 'quotes') {
      if (isQuote(e.data) && SYMBOLS.indexOf(e.data.symbol) >= 0) renderQuote(e.data, live);
      else ignore(e, 'quotes-note', 'a quote');
    } else if (e.channel === 'demo.chat') renderChat(e.data, e.time);
  }

  const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
  const isStr = (v) => typeof v === 'string';
  function isScores(d) {
    return (
      d !== null &&
      typeof d === 'object' &&
      isStr(d.league) &&
      Array.isArray(d.games) &&
      d.games.every(
        (g) =>
          g !== null &&
          typeof g === 'object' &&
          isStr(g.home) &&
          isStr(g.away) &&
          isNum(g.homeScore) &&
          isNum(g.awayScore) &&
          isStr(g.status),
      )
    );
  }
  function isQuote(d) {
    return (
      d !== null &&
      typeof d === 'object' &&
      isStr(d.symbol) &&
      isNum(d.price) &&
      isNum(d.change) &&
      isNum(d.changePct) &&
      isNum(d.volume)
    );
  }

  /** A message this page cannot draw: counted, logged and noted on its card. */
  function ignore(e, noteId, what) {
    demo.ignored.push({ id: e.id, channel: e.channel });
    const text = `Ignored a message on ${e.channel} that is not ${what} (published from elsewhere?): ${JSON.stringify(e.data).slice(0, 80)}`;
    const note = $(noteId);
    note.textContent = text;
    note.hidden = false;
    log(text, 'warn');
  }

  document.getElementById('switcher').addEventListener('change', () => {
    const since = sub ? sub.cursor : undefined;
    const from = sub ? sub.transport : null;
    if (sub) sub.close();
    const t = chosenTransports();
    log(
      'switching ' +
        (from ? `from ${from} ` : '') +
        'to ' +
        (t ? t[0] : 'auto') +
        (since ? `, resuming after ${since}` : ''),
    );
    connect(since);
  });

  $('stale').addEventListener('click', () => {
    // A cursor from an epoch this hub never had: what a client sees after the hub lost its history
    // (a memory store restarted). subscribe() reports a gap per channel instead of hiding it.
    if (sub) sub.close();
    // After such a gap the app starts over, as after a reload: the hub replays what it still has.
    seen = {};
    $('chat').textContent = '';
    log('resuming from a stale cursor (another epoch): expect a gap per channel');
    connect('lost0000-1');
  });

  $('drop').addEventListener('click', () => {
    log('asking the hub to drop this page\u2019s connection (POST /demo/kick)…');
    cometa.post(`${HUB}/demo/kick?channel=${encodeURIComponent(PAGE_CHANNEL)}`).then(
      (res) => {
        log(
          'hub ended ' +
            res.data.kicked +
            ' connection(s) with reason "kicked"; watch it resume with no loss',
        );
      },
      (err) => {
        log(`kick failed: ${err.message}`, 'bad');
      },
    );
  });

  // ---- The scoreboard ---------------------------------------------------------------------------

  function renderScores(key, data, live) {
    demo.scores[key] = data;
    const board = $('scoreboard');
    const placeholder = $('scores-wait');
    if (placeholder) board.removeChild(placeholder);
    let box = document.getElementById(`league-${key}`);
    if (!box) {
      box = document.createElement('div');
      box.className = 'league';
      box.id = `league-${key}`;
      box.innerHTML = '<h3></h3><ul class="games"></ul><p class="change muted"></p>';
      const order = LEAGUES.indexOf(key);
      let next = null;
      for (let i = order + 1; i < LEAGUES.length && !next; i++)
        next = document.getElementById(`league-${LEAGUES[i]}`);
      board.insertBefore(box, next);
    }
    box.querySelector('h3').textContent = data.league;
    const list = box.querySelector('.games');
    list.textContent = '';
    data.games.forEach((g) => {
      const li = document.createElement('li');
      li.className = `game ${g.status}`;
      if (live && data.change && data.change.game === g.id) li.className += ' flash';
      li.innerHTML =
        '<span class="team"></span><b class="score"></b><span class="vs">–</span><b class="score"></b><span class="team"></span><span class="clock"></span>';
      const s = li.children;
      s[0].textContent = g.home;
      s[1].textContent = g.homeScore;
      s[3].textContent = g.awayScore;
      s[4].textContent = g.away;
      s[5].textContent = g.status === 'final' ? 'Final' : `P${g.period} ${g.clock}`;
      list.appendChild(li);
    });
    if (data.change)
      box.querySelector('.change').textContent = `Latest: ${data.change.text} (+${data.change.points})`;
  }

  // ---- The ticker ---------------------------------------------------------------------------------

  const history = {};

  function renderQuote(q, live) {
    demo.quotes[q.symbol] = q;
    const rows = $('ticker');
    const waiting = $('quotes-wait');
    if (waiting) rows.removeChild(waiting);
    let row = document.getElementById(`q-${q.symbol}`);
    if (!row) {
      row = document.createElement('tr');
      row.id = `q-${q.symbol}`;
      row.innerHTML =
        '<th></th><td class="price"></td><td class="chg"></td><td><svg class="spark" viewBox="0 0 100 24" preserveAspectRatio="none"><polyline fill="none" stroke-width="1.5"/></svg></td><td class="vol"></td>';
      row.firstChild.textContent = q.symbol;
      row.firstChild.title = q.name;
      const idx = SYMBOLS.indexOf(q.symbol);
      let next = null;
      for (let i = idx + 1; i < SYMBOLS.length && !next; i++)
        next = document.getElementById(`q-${SYMBOLS[i]}`);
      rows.insertBefore(row, next);
    }
    const prev = Number(row.getAttribute('data-price'));
    row.setAttribute('data-price', String(q.price));
    const decimals = q.price < 10 ? 4 : 2;
    row.querySelector('.price').textContent = q.price.toFixed(decimals);
    const chg = row.querySelector('.chg');
    chg.textContent =
      (q.change >= 0 ? '+' : '') +
      q.change.toFixed(decimals) +
      ' (' +
      (q.changePct >= 0 ? '+' : '') +
      q.changePct.toFixed(2) +
      '%)';
    chg.className = `chg ${q.change >= 0 ? 'up' : 'down'}`;
    row.querySelector('.vol').textContent = q.volume.toLocaleString();
    if (live && prev && prev !== q.price) {
      row.className = q.price > prev ? 'tick-up' : 'tick-down';
      setTimeout(() => {
        row.className = '';
      }, 400);
    }
    history[q.symbol] = (history[q.symbol] || []).concat(q.price).slice(-40);
    const h = history[q.symbol];
    const min = Math.min.apply(null, h);
    const max = Math.max.apply(null, h);
    const span = max - min || 1;
    const points = h.map(
      (p, i) =>
        `${((i / Math.max(1, h.length - 1)) * 100).toFixed(1)},${(22 - ((p - min) / span) * 20).toFixed(1)}`,
    );
    const line = row.querySelector('polyline');
    line.setAttribute('points', points.join(' '));
    line.setAttribute('stroke', q.change >= 0 ? '#1a7f37' : '#cf222e');
  }

  // ---- Publishing with FormData and upload progress --------------------------------------------------

  function renderChat(data, time) {
    const li = document.createElement('li');
    li.innerHTML = '<time></time> <b></b> <span></span>';
    li.children[0].textContent = new Date(time).toLocaleTimeString();
    li.children[1].textContent = data?.name || 'anon';
    li.children[2].textContent = data?.text || JSON.stringify(data);
    const list = $('chat');
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 20) list.removeChild(list.lastChild);
  }

  function setBar(fraction) {
    $('bar').style.width = `${(fraction * 100).toFixed(1)}%`;
    demo.progress.push(fraction);
  }
  demo.progress = [];

  /** A large text file made in the page (file parts are refused by /pub, so it goes to the demo sink). */
  function bigFile(mb) {
    const line = 'cometa demo upload: this line repeats to make a big file so the progress bar moves.\n';
    const chunk = new Array(Math.ceil((1 << 20) / line.length) + 1).join(line).slice(0, 1 << 20);
    const parts = [];
    for (let i = 0; i < mb; i++) parts.push(chunk);
    return new Blob(parts, { type: 'text/plain' });
  }

  $('pubform').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const form = ev.target;
    const big = $('bigmode').checked;
    const fd = cometa.formData(form);
    let url = `${HUB}/pub/demo.chat`;
    if (big) {
      const mb = Math.max(1, Math.min(60, Number($('bigsize').value) || 16));
      fd.append('file', bigFile(mb), `big-${mb}mb.txt`);
      url = `${HUB}/demo/upload`;
    }
    setBar(0);
    $('pubstatus').textContent = big ? 'Uploading…' : 'Publishing…';
    const started = Date.now();
    cometa
      .post(url, fd, {
        onUploadProgress: (p) => {
          if (p.lengthComputable) setBar(p.loaded / p.total);
        },
      })
      .then((res) => {
        setBar(1);
        if (big) {
          $('pubstatus').textContent =
            'The sink received ' +
            (res.data.bytes / 1048576).toFixed(1) +
            ' MB in ' +
            (Date.now() - started) +
            ' ms; publishing the note…';
          // The sink keeps nothing: publish a small note about the upload so every page sees it.
          const note = new FormData();
          note.append('name', fd.get('name'));
          note.append('text', `${fd.get('text')} [+ uploaded ${(res.data.bytes / 1048576).toFixed(1)} MB]`);
          return cometa.post(`${HUB}/pub/demo.chat`, note);
        }
        return res;
      })
      .then((res) => {
        $('pubstatus').textContent = `Published as ${res.data.id}.`;
      })
      .catch((err) => {
        $('pubstatus').textContent = `Failed: ${err.code ? `${err.code}: ` : ''}${err.message}`;
      });
  });

  // ---- Idempotent publish: a retry that stores nothing twice ----------------------------------------

  $('retry').addEventListener('click', () => {
    const key = `demo-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const body = { name: ME, text: 'sent twice with one Idempotency-Key' };
    const send = () => cometa.post(`${HUB}/pub/demo.chat`, body, { headers: { 'Idempotency-Key': key } });
    $('retrystatus').textContent = 'publishing, then retrying…';
    send()
      .then((first) =>
        send().then((again) => {
          const same = first.data.id === again.data.id;
          demo.retry = {
            first: first.data.id,
            again: again.data.id,
            duplicate: again.data.duplicate === true,
          };
          $('retrystatus').textContent =
            `first ${first.data.id}, retry ${again.data.id}` +
            (same && again.data.duplicate ? ': the same message, stored once' : ': stored twice?');
        }),
      )
      .catch((err) => {
        $('retrystatus').textContent = `Failed: ${err.code ? `${err.code}: ` : ''}${err.message}`;
      });
  });

  // ---- Ajax panel ---------------------------------------------------------------------------------------

  $('ajax').addEventListener('click', () => {
    const headers = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' };
    $('reqheaders').textContent = `${Object.keys(headers)
      .map((k) => `${k}: ${headers[k]}`)
      .join('\n')}\n(the browser adds Host, Origin, Cookie, User-Agent… itself)`;
    cometa.get(`${HUB}/pub/quotes.AAPL`, { headers: headers }).then(
      (res) => {
        $('resheaders').textContent = res.xhr ? res.xhr.getAllResponseHeaders() : '(no XMLHttpRequest)';
        $('resbody').textContent = `${res.status} ${res.statusText}\n${JSON.stringify(res.data, null, 2)}`;
      },
      (err) => {
        $('resbody').textContent = `Failed: ${err.message}`;
      },
    );
  });

  // ---- Image-ping click tracker -----------------------------------------------------------------------

  function renderClick(data) {
    const t = data?.target;
    if (typeof t !== 'string') return;
    demo.clicks[t] = (demo.clicks[t] || 0) + 1;
    const el = document.querySelector(`[data-count="${t}"]`);
    if (el) el.textContent = String(demo.clicks[t]);
    let total = 0;
    for (const k in demo.clicks) total += demo.clicks[k];
    $('clicktotal').textContent = String(total);
  }

  $('targets').addEventListener('click', (ev) => {
    const btn = ev.target.closest('[data-target]');
    if (!btn) return;
    cometa.ping(`${HUB}/ping/clicks.demo`, { target: btn.getAttribute('data-target'), at: Date.now() });
  });

  function trackClicks() {
    if (typeof cometa.subscribe !== 'function') return;
    // Its own subscription, with every stored click, so the counts include earlier visitors' clicks.
    demo.clickSubscription = cometa.subscribe(HUB, ['clicks.demo'], {
      last: 1000,
      onMessage: (e) => {
        renderClick(e.data);
      },
    });
  }

  // ---- JSONP ------------------------------------------------------------------------------------------------

  $('jsonpbtn').addEventListener('click', () => {
    const url = `${HUB}/sub/${SYMBOLS.map((s) => `quotes.${s}`).join(',')}`;
    const query = { transport: 'jsonp', last: 1 };
    $('jsonpurl').textContent = `${url}?${cometa.buildQuery(query)}&callback=…`;
    cometa.jsonp(url, { query: query, timeout: 10000 }).then(
      (answer) => {
        $('jsonpout').textContent =
          answer.messages.map((m) => `${m.data.symbol}  ${m.data.price}  (${m.id})`).join('\n') +
          '\ncursor: ' +
          answer.cursor;
      },
      (err) => {
        $('jsonpout').textContent = `Failed: ${err.code || ''} ${err.message}`;
      },
    );
  });

  if (typeof cometa === 'undefined') {
    setState('unavailable', '');
    log('/cometa.js did not load: build it with `npm run build`.', 'bad');
    return;
  }
  connect();
  trackClicks();
})();
