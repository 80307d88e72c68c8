// The notify console: plain ES modules, no build step, no dependencies. It talks only to the
// public API, with the key a person pastes (kept in sessionStorage, never in a URL). Every
// value from the API reaches the page as text nodes (never as HTML), and an HTML email is
// shown in an iframe sandboxed without scripts.

const BASE = location.pathname.replace(/\/console\/?$/, '');
const KEY = 'notify.apiKey';
const ADMIN = 'notify.adminKey';
const main = document.getElementById('main');
let timers = [];

// ---------------------------------------------------------------- DOM and API helpers

/** An element: h('a', {href}, 'text', child…). Strings become text nodes. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    // Through the CSSOM: the page's CSP allows no style attributes.
    else if (k === 'style') el.style.cssText = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...nodes(children));
  return el;
}

/** The children a helper may be given, as DOM nodes: lists flattened, nothing-values dropped. */
function nodes(children) {
  return children.flat(3).filter((c) => c !== null && c !== undefined && c !== false)
    .map((c) => (c instanceof Node ? c : document.createTextNode(String(c))));
}

/** Replaces `el`'s children. */
function fill(el, ...children) {
  el.replaceChildren(...nodes(children));
}

function page(title, ...content) {
  fill(main, h('h1', {}, title), content);
  document.title = `${title} · notify console`;
  main.focus();
}

function errorBox(answer) {
  const details = (answer && answer.details) || [];
  return h('div', { class: 'error', role: 'alert' },
    h('strong', {}, (answer && answer.message) || 'The request failed.'),
    details.length ? h('ul', {}, details.map((d) => h('li', {}, `${d.field}: ${d.message} (${d.rule})`))) : null);
}

/** Calls the API: `{status, body}`; never throws for an HTTP status. */
async function api(path, { method = 'GET', body, admin = false } = {}) {
  const key = sessionStorage.getItem(admin ? ADMIN : KEY) || '';
  const headers = { Authorization: `Bearer ${key}` };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  try {
    const res = await fetch(BASE + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { json = { message: text }; }
    return { status: res.status, body: json };
  } catch (e) {
    return { status: 0, body: { message: `The API could not be reached: ${e.message}` } };
  }
}

function badge(status) {
  return h('span', { class: `badge s-${status}` }, status);
}

function when(ts) {
  return ts ? new Date(ts).toLocaleString() : '—';
}

function every(ms, fn) {
  timers.push(setInterval(fn, ms));
}

function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(([, v]) => v !== undefined && v !== null && v !== '')
    .flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

function table(headings, rows) {
  return h('div', { class: 'table-wrap' }, h('table', {},
    h('thead', {}, h('tr', {}, headings.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows)));
}

function query() {
  const q = location.hash.split('?')[1] || '';
  return new URLSearchParams(q);
}

// ---------------------------------------------------------------- pages

function login() {
  const key = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', value: sessionStorage.getItem(KEY) || '' });
  const admin = h('input', { id: 'admin-key', type: 'password', autocomplete: 'off', value: sessionStorage.getItem(ADMIN) || '' });
  page('Keys',
    h('p', { class: 'note' }, 'The keys stay in this tab (session storage) and are sent only to this service\'s API.'),
    h('form', { class: 'filters', onsubmit: (e) => {
      e.preventDefault();
      sessionStorage.setItem(KEY, key.value.trim());
      if (admin.value.trim()) sessionStorage.setItem(ADMIN, admin.value.trim());
      else sessionStorage.removeItem(ADMIN);
      location.hash = '#/activity';
    } },
    h('label', { for: 'api-key' }, 'API key', key),
    h('label', { for: 'admin-key' }, 'Admin key (operations, optional)', admin),
    h('button', { type: 'submit' }, 'Use these keys')));
}

const FILTERS = [
  ['status', 'Status', ['', 'draft', 'scheduled', 'queued', 'sending', 'sent', 'delivered', 'failed', 'cancelled', 'suppressed', 'expired']],
  ['channel', 'Channel', ['', 'email', 'sms', 'push', 'webhook', 'in_app', 'chat']],
  ['recipient', 'Recipient'], ['template', 'Template'], ['batchId', 'Batch'], ['reference', 'Reference'],
  ['since', 'Since (RFC 3339)'], ['until', 'Until'],
];

async function activity() {
  const q = query();
  const form = h('form', { class: 'filters', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const params = new URLSearchParams();
    for (const [name] of FILTERS) {
      const v = form.elements[name].value.trim();
      if (v) params.set(name, v);
    }
    location.hash = `#/activity?${params}`;
  } }, FILTERS.map(([name, label, options]) => h('label', { for: `f-${name}` }, label,
    options
      ? h('select', { id: `f-${name}`, name }, options.map((o) => h('option', { value: o, selected: q.get(name) === o }, o || 'any')))
      : h('input', { id: `f-${name}`, name, value: q.get(name) || '' }))),
  h('button', { type: 'submit' }, 'Search'));
  const refresh = h('input', { type: 'checkbox', id: 'auto-refresh' });
  const results = h('div', { 'aria-live': 'polite' });
  page('Activity', form, h('label', { class: 'inline', for: 'auto-refresh' }, refresh, 'Refresh every 5 s'), results);
  let path = `/v1/notifications?${q}`;
  const load = async () => {
    const { status, body } = await api(path);
    if (status !== 200) return fill(results, errorBox(body));
    const rows = body.notifications.map((n) => h('tr', {},
      h('td', { class: 'mono' }, h('a', { href: `#/n/${n.id}` }, n.id)),
      h('td', {}, badge(n.status)), h('td', {}, n.channel), h('td', {}, n.to || n.userId || ''),
      h('td', {}, n.template ? n.template.name : ''), h('td', {}, when(n.createdAt))));
    fill(results,
      rows.length ? table(['Notification', 'Status', 'Channel', 'Recipient', 'Template', 'Created'], rows)
        : h('p', { class: 'note' }, 'No notification matches.'),
      body.next ? h('div', { class: 'actions' }, h('button', { class: 'secondary', onclick: () => {
        path = body.next; load();
      } }, 'Next page')) : null);
  };
  refresh.addEventListener('change', () => {
    timers.forEach(clearInterval); timers = [];
    if (refresh.checked) every(5000, load);
  });
  await load();
}

const META = new Set(['id', 'channel', 'priority', 'status', 'to', 'userId', 'createdAt', 'updatedAt', 'expiresAt',
  'deliveredAt', 'attempts', 'provider', 'providerMessageId', 'error', 'deliveries', 'history', 'template',
  'batchId', 'reference', 'callbackUrl', 'route', 'readAt', 'complainedAt', 'scheduledAt', 'category', 'metadata']);

async function notification(id) {
  const { status, body: n } = await api(`/v1/notifications/${encodeURIComponent(id)}`);
  if (status !== 200) return page('Notification', errorBox(n));
  const act = (verb) => async () => {
    const r = await api(`/v1/notifications/${encodeURIComponent(id)}/${verb}`, { method: 'POST' });
    if (r.status === 200) route(); else main.prepend(errorBox(r.body));
  };
  const actions = h('div', { class: 'actions' },
    ['draft', 'scheduled', 'queued'].includes(n.status) ? h('button', { class: 'danger', onclick: act('cancel') }, 'Cancel') : null,
    n.status === 'draft' ? h('button', { onclick: act('approve') }, 'Approve') : null,
    n.status === 'draft' ? h('button', { class: 'secondary', onclick: act('reject') }, 'Reject') : null);
  const content = Object.entries(n).filter(([k, v]) => !META.has(k) && typeof v === 'string');
  const html = n.html;
  page(`Notification ${n.id}`,
    h('p', {}, badge(n.status), ' ', n.channel, ' · ', n.priority), actions,
    h('div', { class: 'cols' },
      h('section', { 'aria-labelledby': 'facts-h' }, h('h2', { id: 'facts-h' }, 'Facts'), facts([
        ['To', n.to || n.userId], ['Created', when(n.createdAt)], ['Delivered', n.deliveredAt && when(n.deliveredAt)],
        ['Attempts', n.attempts], ['Provider', n.provider], ['Provider id', n.providerMessageId],
        ['Template', n.template && `${n.template.name} v${n.template.version} (${n.template.locale})`],
        ['Batch', n.batchId && h('a', { href: `#/batches/${n.batchId}` }, n.batchId)], ['Reference', n.reference],
        ['Error', n.error && `${n.error.code}: ${n.error.message}`], ['Read', n.readAt && when(n.readAt)],
      ])),
      h('section', { 'aria-labelledby': 'timeline-h' }, h('h2', { id: 'timeline-h' }, 'Timeline'),
        h('ol', { class: 'timeline' }, (n.history || []).map((e) => h('li', {},
          badge(e.status), ' ', when(e.at), e.event ? ` · ${e.event}` : '', e.reason ? h('div', { class: 'note' }, e.reason) : null))))),
    (n.deliveries || []).length ? [h('h2', {}, 'Deliveries'), table(['To', 'Status', 'Provider id', 'Error'],
      n.deliveries.map((d) => h('tr', {}, h('td', { class: 'mono' }, d.to), h('td', {}, badge(d.status)),
        h('td', { class: 'mono' }, d.providerMessageId || ''), h('td', {}, d.error ? `${d.error.code}: ${d.error.message}` : ''))))] : null,
    n.route && n.route.steps ? [h('h2', {}, 'Routing steps'), table(['Step', 'Channel', 'Notification', 'Skipped'],
      n.route.steps.map((s, i) => h('tr', {}, h('td', {}, i), h('td', {}, s.channel),
        h('td', { class: 'mono' }, s.notificationId ? h('a', { href: `#/n/${s.notificationId}` }, s.notificationId) : ''),
        h('td', {}, s.skipped || ''))))] : null,
    h('h2', {}, 'Content'),
    facts(content.filter(([k]) => k !== 'html')),
    html ? h('iframe', { class: 'preview', title: 'The email\'s HTML, without scripts', sandbox: '', srcdoc: html }) : null);
}

const PARTS = {
  email: ['subject', 'text', 'html'], sms: ['message'], push: ['title', 'body'],
  in_app: ['title', 'body', 'actionUrl'], chat: ['text'],
};

async function templates() {
  const { status, body } = await api('/v1/templates');
  if (status !== 200) return page('Templates', errorBox(body));
  const name = h('input', { id: 'new-name', pattern: '[a-z0-9][a-z0-9_-]*' });
  page('Templates',
    h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); if (name.value) location.hash = `#/templates/${name.value}`; } },
      h('label', { for: 'new-name' }, 'New template name', name), h('button', { type: 'submit' }, 'Create')),
    table(['Name', 'Version', 'Channels', 'Built-in'], (body.templates || []).map((t) => h('tr', {},
      h('td', {}, h('a', { href: `#/templates/${t.name}` }, t.name)), h('td', {}, t.version),
      h('td', {}, (t.channels || []).join(', ')), h('td', {}, t.builtin ? 'yes' : 'no')))));
}

async function editor(name) {
  const { status, body } = await api(`/v1/templates/${encodeURIComponent(name)}`);
  const doc = status === 200
    ? Object.fromEntries(Object.entries(body).filter(([k]) => ['locales', 'defaultLocale', 'strict', 'sampleData', 'description'].includes(k)))
    : { locales: { en: { email: { subject: '', text: '' } } } };
  const locales = Object.keys(doc.locales || {});
  const locale = h('select', { id: 'ed-locale' }, locales.map((l) => h('option', { value: l }, l)));
  const channel = h('select', { id: 'ed-channel' });
  const fields = h('div');
  const data = h('textarea', { id: 'ed-data', rows: 4, value: JSON.stringify(doc.sampleData || {}, null, 2) });
  const preview = h('div', { 'aria-live': 'polite', id: 'preview' });
  const saved = h('div', { 'aria-live': 'polite' });
  const channels = () => Object.keys(doc.locales[locale.value] || {});
  const fillChannels = () => fill(channel, ...channels().map((c) => h('option', { value: c }, c)));
  let pending;
  const render = async () => {
    let sample;
    try { sample = JSON.parse(data.value || '{}'); } catch (e) {
      return fill(preview, h('div', { class: 'error', role: 'alert' }, `Data is not JSON: ${e.message}`));
    }
    const r = await api(`/v1/templates/${encodeURIComponent(name)}/render`, {
      method: 'POST', body: { channel: channel.value, locale: locale.value, data: sample, source: doc },
    });
    if (r.status !== 200) return fill(preview, errorBox(r.body));
    const c = r.body.content || {};
    fill(preview, facts(Object.entries(c).filter(([k, v]) => k !== 'html' && typeof v !== 'object')
      .map(([k, v]) => [k, String(v)])),
    c.html ? h('iframe', { class: 'preview', title: 'Preview of the HTML, without scripts', sandbox: '', srcdoc: c.html }) : null);
  };
  const schedule = () => { clearTimeout(pending); pending = setTimeout(render, 300); };
  const fillFields = () => {
    const part = (doc.locales[locale.value] || {})[channel.value] || {};
    const names = [...new Set([...(PARTS[channel.value] || []), ...Object.keys(part).filter((k) => typeof part[k] === 'string')])];
    fill(fields, ...names.map((k) => h('label', { for: `ed-${k}` }, k,
      h('textarea', { id: `ed-${k}`, rows: k === 'html' || k === 'text' || k === 'body' ? 6 : 2, value: part[k] || '',
        oninput: (e) => { part[k] = e.target.value; doc.locales[locale.value][channel.value] = part; schedule(); } }))));
    schedule();
  };
  locale.addEventListener('change', () => { fillChannels(); fillFields(); });
  channel.addEventListener('change', fillFields);
  data.addEventListener('input', schedule);
  const save = async () => {
    const r = await api(`/v1/templates/${encodeURIComponent(name)}`, { method: 'PUT', body: doc });
    fill(saved, r.status < 300 ? h('p', { class: 'note' }, `Saved as version ${r.body.version}.`) : errorBox(r.body));
  };
  page(`Template ${name}`,
    h('p', { class: 'note' }, status === 200 ? `Version ${body.version}${body.builtin ? ' (built-in)' : ''}` : 'New template'),
    h('div', { class: 'filters' }, h('label', { for: 'ed-locale' }, 'Locale', locale), h('label', { for: 'ed-channel' }, 'Channel', channel)),
    h('div', { class: 'cols' },
      h('section', { 'aria-labelledby': 'edit-h' }, h('h2', { id: 'edit-h' }, 'Edit'), fields,
        h('label', { for: 'ed-data' }, 'Data (JSON)', data),
        h('div', { class: 'actions' }, h('button', { onclick: save }, 'Save as a new version')), saved),
      h('section', { 'aria-labelledby': 'preview-h' }, h('h2', { id: 'preview-h' }, 'Preview'), preview)));
  fillChannels();
  fillFields();
}

async function batches(id) {
  const input = h('input', { id: 'batch-id', value: id || '' });
  const out = h('div', { 'aria-live': 'polite' });
  page('Batches', h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); location.hash = `#/batches/${input.value.trim()}`; } },
    h('label', { for: 'batch-id' }, 'Batch id', input), h('button', { type: 'submit' }, 'Show')), out);
  if (!id) return;
  const load = async () => {
    const { status, body } = await api(`/v1/batches/${encodeURIComponent(id)}`);
    if (status !== 200) return fill(out, errorBox(body));
    const statuses = Object.entries(body.statuses || {});
    const total = statuses.reduce((n, [, c]) => n + c, 0) || 1;
    fill(out, facts([['Accepted', body.accepted], ['Refused', body.rejected], ['Pending', body.pending],
      ['Complete', body.complete ? 'yes' : 'no']]),
    h('div', { class: 'bar', role: 'img', 'aria-label': statuses.map(([s, c]) => `${s} ${c}`).join(', ') },
      statuses.map(([s, c]) => h('span', { class: `s-${s}`, style: `width:${(100 * c) / total}%;background:currentColor` }))),
    table(['Status', 'Notifications'], statuses.map(([s, c]) => h('tr', {}, h('td', {}, badge(s)), h('td', { class: 'count' }, c)))),
    h('p', {}, h('a', { href: `#/activity?batchId=${encodeURIComponent(id)}` }, 'Its notifications')));
  };
  await load();
  every(5000, load);
}

const COLORS = { accepted: '#0a58ca', sent: '#2da44e', delivered: '#116329', failed: '#b3261e', suppressed: '#8250df', cancelled: '#7a4d00', expired: '#57606a' };

async function stats() {
  const q = query();
  const granularity = q.get('granularity') || 'day';
  const { status, body } = await api(`/v1/stats?granularity=${granularity}`);
  if (status !== 200) return page('Stats', errorBox(body));
  const buckets = body.buckets || [];
  const channels = [...new Set(buckets.flatMap((b) => Object.keys(b.counts || {})))];
  const choice = h('select', { id: 'gran', onchange: (e) => { location.hash = `#/stats?granularity=${e.target.value}`; } },
    ['day', 'hour'].map((g) => h('option', { value: g, selected: g === granularity }, g)));
  const charts = channels.map((c) => {
    const series = Object.keys(COLORS);
    const max = Math.max(1, ...buckets.flatMap((b) => series.map((s) => ((b.counts[c] || {})[s]) || 0)));
    const w = 640; const hgt = 160; const step = w / Math.max(1, buckets.length); const bw = Math.max(1, step / series.length - 1);
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('viewBox', `0 0 ${w} ${hgt}`);
    svg.setAttribute('class', 'chart');
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', `${c}: ${series.map((s) => `${s} ${buckets.reduce((n, b) => n + (((b.counts[c] || {})[s]) || 0), 0)}`).join(', ')}`);
    buckets.forEach((b, i) => series.forEach((s, j) => {
      const v = ((b.counts[c] || {})[s]) || 0;
      if (!v) return;
      const r = document.createElementNS('http://www.w3.org/2000/svg', 'rect');
      const barH = (hgt * v) / max;
      r.setAttribute('x', i * step + j * (bw + 1)); r.setAttribute('y', hgt - barH);
      r.setAttribute('width', bw); r.setAttribute('height', barH); r.setAttribute('fill', COLORS[s]);
      svg.append(r);
    }));
    const total = (s) => buckets.reduce((n, b) => n + (((b.counts[c] || {})[s]) || 0), 0);
    const span = buckets.length ? `${when(buckets[0].start)} to ${when(buckets[buckets.length - 1].start)}, tallest bar ${max}` : '';
    return h('section', {}, h('h2', {}, c), svg, h('p', { class: 'note' }, span),
      table(series, [h('tr', {}, series.map((s) => h('td', { class: 'count' }, total(s))))]));
  });
  page('Stats', h('div', { class: 'filters' }, h('label', { for: 'gran' }, 'Per', choice)),
    h('div', { class: 'legend' }, Object.entries(COLORS).map(([s, col]) => h('span', {}, h('span', { class: 'swatch', style: `background:${col}` }), s))),
    charts.length ? charts : h('p', { class: 'note' }, 'Nothing counted in this period.'));
}

async function operations() {
  const health = await api('/health/detailed');
  const body = health.body || {};
  const rows = Object.entries(body.services || {}).flatMap(([channel, s]) => Object.entries(s.queues || {}).map(([p, q]) =>
    h('tr', {}, h('td', {}, channel), h('td', {}, p), h('td', { class: 'count' }, q.waiting ?? '—'),
      h('td', { class: 'count' }, q.inFlight ?? '—'), h('td', { class: `count dlq-${channel}-${p}` }, q.deadLetters ?? '—'))));
  const out = h('div', { 'aria-live': 'polite' });
  const hasAdmin = !!sessionStorage.getItem(ADMIN);
  page('Operations', facts([['Status', body.status], ['Database', body.database && body.database.status], ['Version', body.version]]),
    h('h2', {}, 'Queues and dead letters'),
    table(['Channel', 'Priority', 'Waiting', 'In flight', 'Dead letters'], rows),
    h('div', { class: 'actions' }, h('button', { disabled: !hasAdmin, onclick: async () => {
      const r = await api('/v1/admin/redrive', { method: 'POST', body: {}, admin: true });
      fill(out, r.status === 200 ? h('p', { class: 'note' }, `Redriven; complete: ${r.body.complete}`) : errorBox(r.body));
    } }, 'Redrive every dead-letter queue')),
    hasAdmin ? null : h('p', { class: 'note' }, 'Redrive needs an admin key (Keys).'), out);
}

async function users(id) {
  const input = h('input', { id: 'user-id', value: id || '' });
  page('Users', h('form', { class: 'filters', onsubmit: (e) => { e.preventDefault(); location.hash = `#/users/${encodeURIComponent(input.value.trim())}`; } },
    h('label', { for: 'user-id' }, 'User id', input), h('button', { type: 'submit' }, 'Show')));
  if (!id) return;
  const u = encodeURIComponent(id);
  const [profile, devices, prefs, inbox] = await Promise.all([
    api(`/v1/users/${u}`), api(`/v1/users/${u}/devices`), api(`/v1/users/${u}/preferences`), api(`/v1/users/${u}/inbox?archived=include`)]);
  const show = (r, f) => (r.status === 200 ? f(r.body) : errorBox(r.body));
  main.append(...nodes([
    h('h2', {}, 'Profile'), show(profile, (p) => facts([['Email', p.email], ['Phone', p.phone], ['Locale', p.locale], ['Time zone', p.timeZone], ['Name', p.name]])),
    h('h2', {}, 'Devices'), show(devices, (d) => table(['Token', 'Platform', 'Last seen'], (d.devices || []).map((x) =>
      h('tr', {}, h('td', { class: 'mono' }, x.token), h('td', {}, x.platform), h('td', {}, when(x.lastSeenAt)))))),
    h('h2', {}, 'Preferences'), show(prefs, (p) => h('pre', {}, JSON.stringify(p, null, 2))),
    h('h2', {}, 'Inbox'), show(inbox, (b) => [h('p', { class: 'note' }, `${b.unreadCount} unread, ${b.unseenCount} unseen`),
      table(['Item', 'Title', 'Read'], (b.items || []).map((i) => h('tr', {}, h('td', { class: 'mono' }, i.id), h('td', {}, i.title || i.body), h('td', {}, i.readAt ? when(i.readAt) : 'no'))))])]));
}

async function settings() {
  const [endpoints, callbacks, suppressions, targets] = await Promise.all([
    api('/v1/webhooks/endpoints'), api('/v1/callbacks'), api('/v1/suppressions'), api('/v1/chat/targets')]);
  const show = (r, f) => (r.status === 200 ? f(r.body) : errorBox(r.body));
  page('Endpoints & suppressions',
    h('h2', {}, 'Webhook endpoints'), show(endpoints, (b) => table(['Name', 'URL', 'Status'], (b.endpoints || []).map((e) =>
      h('tr', {}, h('td', {}, e.name), h('td', { class: 'mono' }, e.url), h('td', {}, e.status))))),
    h('h2', {}, 'Chat targets'), show(targets, (b) => table(['Name', 'Type', 'Where'], (b.targets || []).map((t) =>
      h('tr', {}, h('td', {}, t.name), h('td', {}, t.type), h('td', { class: 'mono' }, t.url || t.channel || ''))))),
    h('h2', {}, 'Status callbacks'), show(callbacks, (b) => table(['URL', 'Events', 'Channels'], (b.subscriptions || []).map((s) =>
      h('tr', {}, h('td', { class: 'mono' }, s.url), h('td', {}, (s.events || []).join(', ')), h('td', {}, (s.channels || []).join(', ') || 'all'))))),
    h('h2', {}, 'Suppressions'), show(suppressions, (b) => table(['Channel', 'Address', 'Reason', 'Since'], (b.suppressions || []).map((s) =>
      h('tr', {}, h('td', {}, s.channel), h('td', { class: 'mono' }, s.address), h('td', {}, s.reason), h('td', {}, when(s.createdAt)))))));
}

// ---------------------------------------------------------------- routing

async function route() {
  timers.forEach(clearInterval);
  timers = [];
  const [path] = (location.hash.slice(1) || '/activity').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href').slice(1) === `/${parts[0] || ''}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  if (!sessionStorage.getItem(KEY) && parts[0] !== 'login') return login();
  switch (parts[0]) {
    case 'login': return login();
    case 'n': return notification(parts[1]);
    case 'templates': return parts[1] ? editor(parts[1]) : templates();
    case 'batches': return batches(parts[1]);
    case 'stats': return stats();
    case 'operations': return operations();
    case 'users': return users(parts[1]);
    case 'settings': return settings();
    default: return activity();
  }
}

window.addEventListener('hashchange', route);
route();
