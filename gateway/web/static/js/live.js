// The live stream: GET /api/v1/stream, server-sent events, read with
// fetch() rather than EventSource, because EventSource cannot send the
// Authorization header and a token in the URL would end up in logs and
// histories.
//
// It reconnects by itself, sending the id of the last event seen as
// Last-Event-ID: the server then replays every change after it, or sends
// a "reset" telling the page to refetch. A reconnect without any id seen
// yet cannot be resumed, so it counts as a reset too. The state (connecting,
// live, lost) drives the indicator in the header.

import { token } from './api.js';

const STREAM = '/api/v1/stream';
// The server sends a heartbeat every 15 s; a stream silent for longer than
// this is taken for dead and reopened.
const SILENCE_MS = 40000;
const MAX_DELAY_MS = 15000;

export class Live {
  constructor({ onChange, onReset, onState, onUnauthorized }) {
    this.onChange = onChange;
    this.onReset = onReset;
    this.onState = onState;
    this.onUnauthorized = onUnauthorized;
    this.lastId = '';
    this.retry = 1000;
    this.state = 'off';
    this.stopped = true;
    this.connectedOnce = false;
  }

  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop();
  }

  stop() {
    this.stopped = true;
    if (this.ctrl) this.ctrl.abort();
    this.setState('off');
  }

  setState(st) {
    if (st === this.state) return;
    const prev = this.state;
    this.state = st;
    this.onState(st, prev);
  }

  async loop() {
    let failures = 0;
    while (!this.stopped) {
      this.setState(this.connectedOnce ? 'lost' : 'connecting');
      const ctrl = new AbortController();
      this.ctrl = ctrl;
      try {
        const hd = { Accept: 'text/event-stream', Authorization: `Bearer ${token()}` };
        if (this.lastId) hd['Last-Event-ID'] = this.lastId;
        const resp = await fetch(STREAM, { headers: hd, signal: ctrl.signal, cache: 'no-store' });
        if (resp.status === 401) {
          this.stopped = true;
          this.onUnauthorized();
          return;
        }
        if (!resp.ok || !resp.body) throw new Error(`stream: HTTP ${resp.status}`);
        const resumed = Boolean(this.lastId);
        const wasConnected = this.connectedOnce;
        this.connectedOnce = true;
        failures = 0;
        this.setState('live');
        // Nothing to resume from: whatever happened while the stream was
        // down is unknown, so the page refetches.
        if (wasConnected && !resumed) this.onReset({ reason: 'no_resume_point' });
        await this.read(resp.body, ctrl);
      } catch (e) {
        if (this.stopped) return;
        failures += 1;
        if (e.name !== 'AbortError') console.info('live stream:', e.message);
      }
      if (this.stopped) return;
      this.setState(this.connectedOnce ? 'lost' : 'connecting');
      const delay = Math.min(MAX_DELAY_MS, this.retry * 2 ** Math.max(0, failures - 1));
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  // read parses the event stream until it ends. It aborts the request
  // when nothing, not even a heartbeat, arrived for SILENCE_MS.
  async read(body, ctrl) {
    const reader = body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    let ev = { id: null, event: 'message', data: [] };
    let watchdog = setTimeout(() => ctrl.abort(), SILENCE_MS);
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        clearTimeout(watchdog);
        watchdog = setTimeout(() => ctrl.abort(), SILENCE_MS);
        buf += dec.decode(value, { stream: true });
        let nl;
        while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + (buf.startsWith('\r\n', nl) ? 2 : 1));
          if (line === '') {
            this.dispatch(ev);
            ev = { id: null, event: 'message', data: [] };
            continue;
          }
          if (line.startsWith(':')) continue;
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val.startsWith(' ')) val = val.slice(1);
          if (field === 'id') ev.id = val;
          else if (field === 'event') ev.event = val;
          else if (field === 'data') ev.data.push(val);
          else if (field === 'retry' && /^\d+$/.test(val)) this.retry = Math.max(250, Number(val));
        }
      }
    } finally {
      clearTimeout(watchdog);
    }
  }

  dispatch(ev) {
    if (ev.id !== null) this.lastId = ev.id;
    if (ev.data.length === 0) return;
    let data;
    try {
      data = JSON.parse(ev.data.join('\n'));
    } catch {
      return;
    }
    if (ev.event === 'change') this.onChange(data);
    else if (ev.event === 'reset') this.onReset(data);
  }
}
