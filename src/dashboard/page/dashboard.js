// The dashboard's script: fetches /providers, /oauth/status and /dashboard/summary every few seconds and draws them.
// Every text from the gateway goes into the page as text (textContent, never markup), so an account email or an
// upstream error that carries HTML shows as what it is.
(() => {
  'use strict';

  const REFRESH_MS = 5000;
  const KEY_SLOT = 'claude-balancer.admin-key';
  const SVG = 'http://www.w3.org/2000/svg';
  const root = new URL('../', document.currentScript.src);
  const $ = (id) => document.getElementById(id);

  /** Milliseconds to add to this browser's clock to get the gateway's (countdowns run on the gateway's time). */
  let clockSkew = 0;
  let timer;

  class KeyNeeded extends Error {}

  // ---- talking to the gateway -------------------------------------------------------------------------------------

  async function getJson(path) {
    const headers = { accept: 'application/json' };
    const key = sessionStorage.getItem(KEY_SLOT);
    if (key) headers['x-api-key'] = key;
    const response = await fetch(new URL(path, root), { headers, cache: 'no-store', credentials: 'same-origin' });
    if (response.status === 401) throw new KeyNeeded();
    const body = await response.json().catch(() => null);
    if (!response.ok) {
      const message = body && body.error && body.error.message ? body.error.message : `HTTP ${response.status}`;
      throw new Error(`${path}: ${message}`);
    }
    return body;
  }

  async function refresh() {
    clearTimeout(timer);
    if (document.hidden) {
      timer = setTimeout(refresh, REFRESH_MS);
      return;
    }
    try {
      const [providers, oauth, summary] = await Promise.all([
        getJson('providers'),
        getJson('oauth/status'),
        getJson('dashboard/summary'),
      ]);
      clockSkew = Date.parse(summary.generated_at) - Date.now();
      showProblem(null);
      $('key-form').hidden = true;
      $('forget-key').hidden = !sessionStorage.getItem(KEY_SLOT);
      render(providers, oauth, summary);
      $('board').hidden = false;
    } catch (error) {
      if (error instanceof KeyNeeded) {
        askForKey(sessionStorage.getItem(KEY_SLOT) ? 'That admin key was refused.' : null);
        return;
      }
      showProblem(`Could not refresh: ${error.message}`);
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  function askForKey(problem) {
    sessionStorage.removeItem(KEY_SLOT);
    $('board').hidden = true;
    $('forget-key').hidden = true;
    $('replica').textContent = 'This gateway wants its admin key.';
    $('key-form').hidden = false;
    showProblem(problem);
    $('admin-key').focus();
  }

  function showProblem(text) {
    $('problem').hidden = !text;
    $('problem').textContent = text || '';
  }

  // ---- drawing ----------------------------------------------------------------------------------------------------

  function render(providers, oauth, summary) {
    const traffic = new Map(summary.traffic.providers.map((t) => [t.provider, t]));
    const providerOf = accountProviders(providers.providers);
    renderReplica(summary);
    renderTotals(providers, oauth, summary);
    fillTable(
      'providers',
      providers.providers.map((p) => providerRow(p, traffic.get(p.name), summary.traffic.window_seconds)),
      'No providers.',
    );
    fillTable(
      'accounts',
      oauth.accounts.map((a) => accountRow(a, providerOf.get(a.email) || [])),
      'No Claude accounts are stored. Log one in at /oauth/authorize.',
    );
    fillTable(
      'teammates',
      summary.teammates.map(teammateRow),
      'No teammates have used the gateway today or yesterday.',
    );
    renderDedup(summary.dedup);
    tickCountdowns();
  }

  function renderReplica(summary) {
    const { replica } = summary;
    const state =
      replica.state_backend === 'redis'
        ? `shared state on Redis (${replica.state_backend_up ? 'up' : 'down: serving on its own state'})`
        : 'state in this process';
    $('replica').textContent =
      `Version ${replica.version} · up ${duration((Date.parse(summary.generated_at) - Date.parse(replica.started_at)) / 1000)}` +
      ` · ${state} · updated ${new Date().toLocaleTimeString()}`;
  }

  function renderTotals(providers, oauth, summary) {
    const lastMinute = summary.traffic.providers.reduce(
      (sum, t) => ({ requests: sum.requests + t.requests, failed: sum.failed + t.failed }),
      { requests: 0, failed: 0 },
    );
    const spentToday = summary.teammates.reduce((sum, t) => sum + t.today.cost_usd, 0);
    const cards = [
      [
        'Healthy providers',
        `${providers.healthy_providers} of ${providers.total_providers}`,
        providers.healthy_providers < providers.total_providers,
      ],
      ['Accounts ready', `${oauth.summary.ok} of ${oauth.summary.total}`, oauth.summary.ok < oauth.summary.total],
      ['In flight', count(summary.replica.in_flight), false],
      ['Requests / s', rate(lastMinute.requests / summary.traffic.window_seconds), false],
      ['Failed (1 min)', count(lastMinute.failed), lastMinute.failed > 0],
      ['Cost today', usd(spentToday), false],
    ];
    $('totals').replaceChildren(...cards.map(([label, value, warn]) => card(label, value, warn)));
  }

  function providerRow(provider, traffic, windowSeconds) {
    const state = !provider.enabled
      ? badge('disabled', 'off')
      : provider.cooldown_until && Date.parse(provider.cooldown_until) > now()
        ? node('span', {}, badge('cooling down', 'bad'), ' ', countdown(provider.cooldown_until))
        : provider.healthy
          ? badge('healthy', 'ok')
          : badge('unhealthy', 'bad');
    const failures =
      provider.failure_count > 0
        ? node('div', { className: 'muted' }, `${plural(provider.failure_count, 'failure')} in a row`)
        : '';
    return [
      [
        node('strong', {}, provider.name),
        node('div', { className: 'muted' }, `${provider.type} · ${provider.auth_type}`),
      ],
      [state, failures],
      [traffic ? sparkline(traffic.per_second) : '', traffic ? rate(traffic.requests / windowSeconds) : '0'],
      [traffic ? `${count(traffic.failed)} · ${count(traffic.rejected)}` : '0 · 0'],
      [traffic && traffic.ttfb_p50_ms !== null ? `${ms(traffic.ttfb_p50_ms)} · ${ms(traffic.ttfb_p95_ms)}` : '–'],
      [lastError(provider.last_error, provider.last_failure_at)],
    ];
  }

  function accountRow(account, providers) {
    const stateBadge = badge(account.state.replace('_', ' '), account.state === 'ok' ? 'ok' : 'bad');
    const until = account.parked_until || account.throttled_until;
    const state = node(
      'span',
      {},
      stateBadge,
      until ? node('span', {}, ' ', countdown(until)) : '',
      account.state_reason ? node('div', { className: 'muted' }, account.state_reason) : '',
    );
    const expires = account.expired ? badge('expired', 'bad') : node('span', {}, 'in ', countdown(account.expires_at));
    return [
      [
        node('strong', {}, account.email),
        node('div', { className: 'muted' }, [account.plan, providers.join(', ')].filter(Boolean).join(' · ')),
      ],
      [state],
      [usageWindow(account.windows['5h'])],
      [usageWindow(account.windows['7d'])],
      [expires],
      [lastError(account.last_error || account.notice, null)],
    ];
  }

  function teammateRow(teammate) {
    const { limits } = teammate;
    const budgets = [];
    if (limits.daily_tokens !== null) budgets.push(meter('tokens', teammate.today.tokens, limits.daily_tokens, count));
    if (limits.daily_cost_usd !== null)
      budgets.push(meter('cost', teammate.today.billed_usd, limits.daily_cost_usd, usd));
    const rates = [];
    if (limits.rpm !== null) rates.push(`${count(limits.rpm)} per minute`);
    if (limits.max_concurrency !== null) rates.push(`${count(limits.max_concurrency)} at once`);
    const refused = Object.entries(teammate.refused_by_limit)
      .filter(([, n]) => n > 0)
      .map(([limit, n]) => `${count(n)} by ${limit.replace('_', ' ')}`);
    return [
      [
        node('strong', {}, teammate.client),
        teammate.configured ? '' : node('div', { className: 'muted' }, 'not in clients[]'),
      ],
      [spend(teammate.today)],
      [spend(teammate.yesterday)],
      [budgets.length ? node('div', {}, ...budgets) : 'none'],
      [rates.length ? rates.join(', ') : 'none'],
      [refused.length ? refused.join(', ') : '–'],
    ];
  }

  function renderDedup(dedup) {
    if (!dedup.enabled) {
      $('dedup').replaceChildren(card('Deduplication', 'off', false));
      return;
    }
    $('dedup').replaceChildren(
      card('Answered by an identical call', count(dedup.hits.inflight || 0), false),
      card('Answered from the replay cache', count(dedup.hits.cache || 0), false),
      card('Shared calls in flight', count(dedup.calls_in_flight), false),
      card('Answers cached', `${count(dedup.cached_answers)} (${bytes(dedup.cached_bytes)})`, false),
    );
  }

  /**
   * Rows of cells, each cell a list of what it holds. On narrow screens rows become cards, and each cell is headed by
   * its column's name, taken from the table's own head.
   */
  function fillTable(id, rows, empty) {
    const table = $(id);
    const labels = [...table.tHead.rows[0].cells].map((th) => th.textContent);
    const body = table.tBodies[0];
    if (rows.length === 0) {
      body.replaceChildren(node('tr', {}, node('td', { className: 'empty', colSpan: labels.length }, empty)));
      return;
    }
    body.replaceChildren(
      ...rows.map((cells) =>
        node(
          'tr',
          {},
          ...cells.map((content, i) => node('td', { dataset: { label: labels[i] } }, node('div', {}, ...content))),
        ),
      ),
    );
  }

  function accountProviders(providers) {
    const byEmail = new Map();
    for (const provider of providers) {
      for (const account of provider.accounts || []) {
        byEmail.set(account.email, [...(byEmail.get(account.email) || []), provider.name]);
      }
    }
    return byEmail;
  }

  // ---- small pieces -----------------------------------------------------------------------------------------------

  function node(tag, props, ...children) {
    const element = document.createElement(tag);
    for (const [name, value] of Object.entries(props)) {
      if (name === 'dataset') Object.assign(element.dataset, value);
      else element[name] = value;
    }
    for (const child of children) element.append(child instanceof Node ? child : String(child));
    return element;
  }

  function badge(text, tone) {
    return node('span', { className: `badge ${tone}` }, text);
  }

  function card(label, value, warn) {
    return node(
      'div',
      { className: warn ? 'card warn' : 'card' },
      node('div', { className: 'value' }, value),
      node('div', { className: 'label' }, label),
    );
  }

  function countdown(iso) {
    return node('span', { className: 'countdown', dataset: { until: iso } }, '');
  }

  function tickCountdowns() {
    for (const element of document.querySelectorAll('.countdown')) {
      const seconds = (Date.parse(element.dataset.until) - now()) / 1000;
      element.textContent = seconds > 0 ? duration(seconds) : 'now';
    }
  }

  function usageWindow(window) {
    if (!window) return node('span', { className: 'muted' }, 'not reported yet');
    const resets = window.resets_at
      ? node('div', { className: 'muted' }, 'resets in ', countdown(window.resets_at))
      : '';
    return node('div', {}, bar(window.utilization, `${Math.round(window.utilization * 100)} %`), resets);
  }

  function meter(what, used, limit, format) {
    return node(
      'div',
      { className: 'meter' },
      bar(limit > 0 ? used / limit : 0, `${format(used)} of ${format(limit)} ${what}`),
    );
  }

  function bar(fraction, text) {
    const clamped = Math.max(0, Math.min(1, fraction));
    const fill = node('span', { className: clamped >= 0.9 ? 'fill hot' : clamped >= 0.7 ? 'fill warm' : 'fill' });
    fill.style.width = `${(clamped * 100).toFixed(1)}%`;
    return node('div', { className: 'bar-line' }, node('span', { className: 'bar' }, fill), node('span', {}, text));
  }

  function sparkline(values) {
    const width = 120;
    const height = 24;
    const top = Math.max(1, ...values);
    const step = width / Math.max(1, values.length - 1);
    const points = values.map(
      (v, i) => `${(i * step).toFixed(1)},${(height - 1 - (v / top) * (height - 2)).toFixed(1)}`,
    );
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', `0 0 ${width} ${height}`);
    svg.setAttribute('class', 'spark');
    svg.setAttribute('aria-hidden', 'true');
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('points', points.join(' '));
    svg.append(line);
    return svg;
  }

  function spend(day) {
    if (day.requests === 0) return node('span', { className: 'muted' }, 'no requests');
    return node(
      'div',
      {},
      plural(day.requests, 'request'),
      node('div', { className: 'muted' }, `${count(day.tokens)} tokens · ${usd(day.cost_usd)}`),
    );
  }

  function lastError(message, at) {
    if (!message) return node('span', { className: 'muted' }, '–');
    const text = typeof message === 'string' ? message : JSON.stringify(message);
    return node('div', { className: 'error-text', title: text }, at ? `${ago(at)}: ` : '', text);
  }

  function now() {
    return Date.now() + clockSkew;
  }

  function ago(iso) {
    return `${duration((now() - Date.parse(iso)) / 1000)} ago`;
  }

  function duration(seconds) {
    const s = Math.max(0, Math.round(seconds));
    if (s < 60) return `${s} s`;
    if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
    return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
  }

  const integer = new Intl.NumberFormat('en-US');
  const dollars = new Intl.NumberFormat('en-US', { style: 'currency', currency: 'USD', maximumFractionDigits: 2 });

  function count(n) {
    return integer.format(n);
  }

  function plural(n, noun) {
    return `${count(n)} ${noun}${n === 1 ? '' : 's'}`;
  }

  function rate(perSecond) {
    return perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(perSecond === 0 ? 0 : 2);
  }

  function usd(amount) {
    return amount > 0 && amount < 0.01 ? '< $0.01' : dollars.format(amount);
  }

  function ms(value) {
    return value >= 1000 ? `${(value / 1000).toFixed(1)} s` : `${value} ms`;
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
    return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  }

  // ---- start ------------------------------------------------------------------------------------------------------

  $('key-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_SLOT, $('admin-key').value.trim());
    $('admin-key').value = '';
    void refresh();
  });
  $('forget-key').addEventListener('click', () => askForKey(null));
  // A hidden tab stops asking; it catches up as soon as it is shown again.
  document.addEventListener('visibilitychange', () => {
    if (!document.hidden) void refresh();
  });
  setInterval(tickCountdowns, 1000);
  void refresh();
})();
