// The "resumable answer" panel: POST /demo/answer starts a SIMULATED token-by-token answer in a
// Durable Stream; the page reads it with cometa.readStream() (long-poll from an offset) and keeps
// the text and the offset after it in sessionStorage. Reload mid-answer: the page shows what it
// had and reads on from that offset, so no token is repeated or missing.
(() => {
  const KEY = 'cometa.demo.answer';
  const $ = (id) => document.getElementById(id);
  const state = (s) => {
    $('answer-state').textContent = s;
    $('answer-state').dataset.state = s;
  };
  const load = () => {
    try {
      return JSON.parse(sessionStorage.getItem(KEY) || 'null');
    } catch {
      return null;
    }
  };
  const save = (a) => sessionStorage.setItem(KEY, JSON.stringify(a));
  const show = (a) => {
    $('answer-text').textContent = a.text;
    $('answer-offset').textContent = a.offset;
    $('answer-url').textContent = a.url;
    $('answer-resumed').textContent = a.resumedFrom ? `resumed from offset ${a.resumedFrom}` : '';
  };
  let run = 0;

  async function follow(a) {
    const me = ++run;
    show(a);
    state('streaming');
    while (me === run) {
      let r;
      try {
        r = await cometa.readStream(a.url, a.offset, 'long-poll');
      } catch {
        state('retrying');
        await new Promise((resolve) => setTimeout(resolve, 1000));
        continue;
      }
      if (me !== run) return;
      const tokens = Array.isArray(r.data) ? r.data : [];
      a.text += tokens.join('');
      a.tokens += tokens.length;
      a.offset = r.offset;
      save(a);
      show(a);
      if (r.closed) {
        a.done = true;
        save(a);
        state('done');
        return;
      }
      state('streaming');
    }
  }

  $('ask').addEventListener('click', async () => {
    state('asking');
    const hub = new URL('.', location.href).href.replace(/\/$/, '');
    const res = await cometa.post(`${hub}/demo/answer`);
    const a = { url: res.data.url, offset: '-1', text: '', tokens: 0, done: false, resumedFrom: null };
    save(a);
    follow(a);
  });

  const a = load();
  if (a && !a.done) {
    a.resumedFrom = a.offset;
    save(a);
    follow(a);
  } else if (a) {
    show(a);
    state('done');
  }
})();
