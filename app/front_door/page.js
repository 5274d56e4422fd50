// The try-it page: reads the model's metadata and the API document, builds a form typed
// from the model's schema, and calls /predict. Every URL is relative to the page's
// <base>, the API's root as the server saw it. Nothing is sent anywhere else, and the
// API key lives in this closure only: never in a URL, storage or a cookie.
(() => {
  'use strict';

  const state = {
    key: null, // the API key, in memory only
    keysRequired: false,
    model: null,
    features: [], // {name, type, nullable, categories, open, zone, input, none, field, problem}
    probabilities: false,
    maxRows: null,
    exampleIndex: 0,
    last: null, // the body of the last /predict request
  };
  const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
  const JSON_NUMBER = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$/;
  // A datetime feature's dtype names its column's time zone, if it has one.
  const ZONED_DTYPE = /^datetime64\[[a-z]+, (.+)\]$/;

  const $ = (id) => document.getElementById(id);
  const apiUrl = (path) => new URL(path, document.baseURI).href;

  function element(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === false || value === null || value === undefined) continue;
      if (name === 'text') node.textContent = value;
      else node.setAttribute(name, value === true ? '' : value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  // A place in a body as the server names it: features.petal_length, instances[2]["a b"].
  function member(parent, name) {
    return PLAIN_NAME.test(name) ? `${parent}.${name}` : `${parent}[${JSON.stringify(name)}]`;
  }

  function shellQuote(text) {
    return `'${text.replace(/'/g, "'\\''")}'`;
  }

  function display(value) {
    if (value === null) return 'null';
    if (typeof value === 'object') {
      return Object.entries(value).map(([k, v]) => `${k}: ${display(v)}`).join(', ');
    }
    return String(value);
  }

  // --- HTTP -------------------------------------------------------------------------

  function serverMs(header) {
    const match = /(?:^|,)\s*app\s*;[^,]*?dur=([0-9.]+)/.exec(header || '');
    return match ? Number(match[1]) : null;
  }

  async function call(method, path, body) {
    const headers = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (state.key) headers['x-api-key'] = state.key;
    const started = performance.now();
    let response;
    try {
      response = await fetch(apiUrl(path), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch (error) {
      return { status: 0, data: null, message: `The API could not be reached (${error.message}).` };
    }
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch (error) {
      data = null;
    }
    const problem = data && data.error && typeof data.error === 'object' ? data.error : null;
    return {
      status: response.status,
      data,
      message: problem ? problem.message : `The API answered ${response.status}.`,
      details: (problem && problem.details) || [],
      requestId: response.headers.get('X-Request-Id'),
      serverMs: serverMs(response.headers.get('Server-Timing')),
      roundTripMs: performance.now() - started,
    };
  }

  // --- Loading ----------------------------------------------------------------------

  function fail(message) {
    const status = $('status');
    status.textContent = message;
    show(status, true);
  }

  async function load() {
    const documentAnswer = await call('GET', 'openapi.json');
    if (documentAnswer.status !== 200 || !documentAnswer.data) {
      fail(`The API document could not be read: ${documentAnswer.message}`);
      return;
    }
    readDocument(documentAnswer.data);
    await loadModel();
  }

  function readDocument(doc) {
    const schemas = (doc.components && doc.components.schemas) || {};
    const batch = schemas.BatchRequest && schemas.BatchRequest.properties.instances;
    state.maxRows = batch && Number.isInteger(batch.maxItems) ? batch.maxItems : null;
    const single = schemas.SingleRequest && schemas.SingleRequest.properties.return_probabilities;
    state.probabilities = Boolean(single) && single.const !== false;
    state.keysRequired = Boolean(doc.components && doc.components.securitySchemes);
    $('max-rows').textContent = state.maxRows === null ? 'the server\'s limit of' : String(state.maxRows);
  }

  async function loadModel() {
    const answer = await call('GET', 'model');
    if (answer.status === 401) {
      askForKey(state.key ? answer.message : null);
      return;
    }
    if (answer.status !== 200) {
      const why = answer.status === 503 ? 'The model is not available' : 'The model could not be read';
      fail(`${why}: ${answer.message}`);
      $('summary').textContent = '';
      return;
    }
    show($('key-panel'), false);
    show($('key-problem'), false);
    show($('status'), false);
    if (state.model) return; // a key given again later: keep the form as it is
    state.model = answer.data;
    showModel(answer.data);
    buildForm(answer.data);
    show($('try'), true);
  }

  function askForKey(problem) {
    show($('key-panel'), true);
    const shown = $('key-problem');
    shown.textContent = problem || '';
    show(shown, Boolean(problem));
    $('api-key').focus();
  }

  // --- The model --------------------------------------------------------------------

  function versions(map) {
    return Object.entries(map || {}).map(([name, version]) => `${name} ${version}`).join(', ');
  }

  function showModel(model) {
    document.title = `${model.name} ${model.version} · try it`;
    $('title').textContent = `${model.name} ${model.version}`;
    const learned = model.task.replace('_', ' ');
    const kinds = model.features.length === 1 ? '1 feature' : `${model.features.length} features`;
    $('summary').textContent = `A ${learned} model on ${kinds}. Fill in a row, or paste a batch, and predict.`;
    const facts = [
      ['Name', model.name],
      ['Version', model.version],
      ['Task', learned],
      ['Classes', (model.classes || []).length ? model.classes.map(display).join(', ') : null],
      ['Outputs', model.outputs ? model.outputs.map((o) => o.name).join(', ') : null],
      ['Metrics', Object.entries(model.metrics || {}).map(([k, v]) => `${k} ${v}`).join(', ') || null],
      ['Created', model.created_at || null],
      ['Trained with', versions(model.trained_with)],
      ['Serving with', versions(model.serving_with)],
      ['SHA-256', model.sha256],
    ];
    const list = $('facts');
    list.replaceChildren();
    for (const [term, value] of facts) {
      if (value) list.append(element('dt', { text: term }), element('dd', { text: value }));
    }
    show($('model-card'), true);
  }

  // --- The form: one input per feature, typed from the schema -------------------------

  function typeLabel(feature) {
    let kind = feature.categories ? (feature.open ? 'category, or any string' : 'category') : feature.type;
    if (feature.type === 'datetime') {
      // The server's time-zone rule, in a few words: see /openapi.json for the whole of it.
      kind = feature.zone ? `date-time with an offset (column in ${feature.zone})` : 'date-time (no time zone)';
    }
    return feature.nullable ? `${kind}, may be empty` : kind;
  }

  function zoneOf(spec) {
    const match = spec.type === 'datetime' ? ZONED_DTYPE.exec(spec.dtype || '') : null;
    return match ? match[1] : null;
  }

  function control(feature, id) {
    if (feature.categories && !feature.open) {
      const select = element('select', { id });
      feature.categories.forEach((value, index) => {
        select.append(element('option', { value: String(index), text: display(value) }));
      });
      return select;
    }
    if (feature.type === 'boolean') return element('input', { id, type: 'checkbox' });
    if (feature.type === 'number') {
      return element('input', { id, type: 'number', step: 'any', inputmode: 'decimal' });
    }
    if (feature.type === 'integer') {
      return element('input', { id, type: 'number', step: '1', inputmode: 'numeric' });
    }
    const input = element('input', { id, type: 'text', autocomplete: 'off', spellcheck: 'false' });
    if (feature.categories) input.setAttribute('list', `${id}-options`);
    // ISO 8601 text as typed: a browser's datetime-local picker cannot carry an offset.
    if (feature.type === 'datetime') input.setAttribute('placeholder', feature.zone ? '2024-05-01T13:45:00+02:00' : '2024-05-01T13:45:00');
    return input;
  }

  function buildForm(model) {
    const fields = $('fields');
    fields.replaceChildren();
    state.features = model.features.map((spec, index) => {
      const id = `feature-${index}`;
      const feature = {
        name: spec.name,
        type: spec.type,
        nullable: spec.nullable,
        categories: spec.categories || null,
        open: spec.accepts_unknown !== false,
        zone: zoneOf(spec),
      };
      feature.input = control(feature, id);
      feature.problem = element('p', { id: `${id}-problem`, class: 'field-problem', hidden: true });
      feature.input.setAttribute('aria-describedby', `${id}-problem`);
      const label = element('label', { for: id }, feature.name, ' ', element('span', { class: 'type', text: typeLabel(feature) }));
      feature.field = element('div', { class: 'field', 'data-feature': feature.name }, label, feature.input);
      if (feature.categories && feature.open) {
        const options = element('datalist', { id: `${id}-options` });
        for (const value of feature.categories) options.append(element('option', { value: String(value) }));
        feature.field.append(options);
      }
      if (feature.nullable) {
        feature.none = element('input', { id: `${id}-none`, type: 'checkbox' });
        feature.none.addEventListener('change', () => {
          feature.input.disabled = feature.none.checked;
        });
        feature.field.append(element('label', { class: 'null', for: `${id}-none` }, feature.none, `Leave ${feature.name} empty (null)`));
      }
      feature.field.append(feature.problem);
      fields.append(feature.field);
      return feature;
    });
    state.exampleIndex = 0;
    fillRow(example(0));
    show($('next-example'), (model.example || []).length > 1);
    $('csv').value = toCsv(model.example && model.example.length ? model.example : [example(0)]);
  }

  function example(index) {
    const rows = (state.model && state.model.example) || [];
    if (rows.length) return rows[index % rows.length];
    const row = {};
    for (const feature of state.features) {
      row[feature.name] = feature.categories ? feature.categories[0] : {
        number: 0, integer: 0, boolean: false, string: '', datetime: feature.zone ? '1970-01-01T00:00:00Z' : '1970-01-01T00:00:00',
      }[feature.type];
    }
    return row;
  }

  function fillRow(row) {
    for (const feature of state.features) {
      const value = row[feature.name];
      const empty = value === null || value === undefined;
      if (feature.none) {
        feature.none.checked = empty;
        feature.input.disabled = empty;
      }
      if (empty) continue;
      if (feature.input.tagName === 'SELECT') {
        const index = feature.categories.indexOf(value);
        feature.input.value = String(Math.max(index, 0));
      } else if (feature.input.type === 'checkbox') {
        feature.input.checked = value === true;
      } else {
        feature.input.value = String(value);
      }
    }
  }

  function readRow() {
    const row = {};
    for (const feature of state.features) {
      if (feature.none && feature.none.checked) {
        row[feature.name] = null;
        continue;
      }
      const input = feature.input;
      if (input.tagName === 'SELECT') row[feature.name] = feature.categories[Number(input.value)];
      else if (input.type === 'checkbox') row[feature.name] = input.checked;
      else if (input.type === 'number') {
        // Sent as typed: the server says what is wrong with a value, at its place.
        const text = input.value.trim();
        row[feature.name] = text === '' ? null : Number(text);
      } else if (feature.type === 'datetime') {
        const text = input.value.trim();
        row[feature.name] = text === '' ? null : text;
      } else row[feature.name] = input.value;
    }
    return row;
  }

  // --- Answers ------------------------------------------------------------------------

  function clearProblems() {
    for (const feature of state.features) {
      feature.field.classList.remove('bad');
      feature.problem.textContent = '';
      show(feature.problem, false);
      feature.input.removeAttribute('aria-invalid');
    }
    for (const id of ['row-problems', 'batch-problems', 'status']) show($(id), false);
  }

  function listProblems(box, message, lines) {
    box.replaceChildren(element('p', { text: message }));
    if (lines.length) {
      const list = element('ul');
      for (const line of lines) list.append(element('li', { text: line }));
      box.append(list);
    }
    show(box, true);
  }

  // The answers every request shares: a key asked for, a model not loaded, other errors.
  function commonProblem(answer, box) {
    if (answer.status === 401) {
      askForKey(answer.message);
      listProblems(box, answer.message, []);
    } else if (answer.status === 503) {
      listProblems(box, `The model is not available: ${answer.message}`, []);
    } else {
      listProblems(box, answer.message, answer.details.map((d) => `${d.loc}: ${d.msg}`));
    }
  }

  function showRequest(answer, body) {
    state.last = body;
    const facts = $('request-facts');
    facts.replaceChildren();
    const rows = [
      ['Status', String(answer.status || 'no answer')],
      ['Request id', answer.requestId],
      ['Server time', answer.serverMs === null || answer.serverMs === undefined ? null : `${answer.serverMs.toFixed(1)} ms`],
      ['Round trip', answer.roundTripMs === undefined ? null : `${answer.roundTripMs.toFixed(0)} ms`],
    ];
    for (const [term, value] of rows) {
      if (value) facts.append(element('dt', { text: term }), element('dd', { text: value, 'data-fact': term }));
    }
    $('curl').textContent = curl(body);
    $('copy-status').textContent = '';
    show($('request'), true);
  }

  function curl(body) {
    const parts = ['curl -s', shellQuote(apiUrl('predict')), "-H 'Content-Type: application/json'"];
    if (state.keysRequired || state.key) parts.push('-H "x-api-key: $API_KEY"');
    parts.push(`-d ${shellQuote(JSON.stringify(body))}`);
    return parts.join(' ');
  }

  function bars(probabilities) {
    const list = element('ol', { class: 'bars' });
    const sorted = Object.entries(probabilities).sort((a, b) => b[1] - a[1]);
    for (const [label, value] of sorted) {
      const fill = element('div', { class: 'fill' });
      fill.style.width = `${(Math.max(0, Math.min(1, value)) * 100).toFixed(2)}%`;
      const percent = `${(value * 100).toFixed(1)}%`;
      list.append(element('li', { class: 'bar', 'data-label': label },
        element('span', { class: 'label', text: label }),
        element('div', { class: 'track', role: 'img', 'aria-label': `${label}: ${percent}` }, fill),
        element('span', { class: 'value', text: percent })));
    }
    return list;
  }

  function showProbabilities(box, probabilities) {
    box.replaceChildren();
    if (!probabilities) return;
    const values = Object.values(probabilities);
    if (values.every((v) => typeof v === 'number')) {
      box.append(element('h3', { text: 'Probabilities' }), bars(probabilities));
      return;
    }
    for (const [output, perClass] of Object.entries(probabilities)) {
      box.append(element('h3', { text: `Probabilities: ${output}` }), bars(perClass));
    }
  }

  async function predictRow(event) {
    event.preventDefault();
    clearProblems();
    const body = { features: readRow() };
    if (state.probabilities) body.return_probabilities = true;
    const button = $('predict');
    button.disabled = true;
    const answer = await call('POST', 'predict', body);
    button.disabled = false;
    showRequest(answer, body);
    if (answer.status === 200) {
      $('prediction').textContent = display(answer.data.prediction);
      showProbabilities($('probabilities'), answer.data.probabilities);
      show($('result'), true);
      return;
    }
    show($('result'), false);
    if (answer.status === 422) {
      const rest = [];
      for (const detail of answer.details) {
        const feature = state.features.find((f) => member('features', f.name) === detail.loc);
        if (feature) {
          feature.field.classList.add('bad');
          feature.input.setAttribute('aria-invalid', 'true');
          feature.problem.textContent = feature.problem.textContent ? `${feature.problem.textContent}; ${detail.msg}` : detail.msg;
          show(feature.problem, true);
        } else rest.push(`${detail.loc}: ${detail.msg}`);
      }
      listProblems($('row-problems'), answer.message, rest);
      return;
    }
    commonProblem(answer, $('row-problems'));
  }

  // --- Batches: CSV in, a table of predictions out ---------------------------------------

  // RFC 4180: quoted fields may hold commas, quotes ("") and line breaks.
  function parseCsv(text) {
    const rows = [];
    let row = [];
    let field = '';
    let quoted = false;
    for (let i = 0; i < text.length; i += 1) {
      const c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') {
          field += '"';
          i += 1;
        } else if (c === '"') quoted = false;
        else field += c;
      } else if (c === '"') quoted = true;
      else if (c === ',') {
        row.push(field);
        field = '';
      } else if (c === '\n' || c === '\r') {
        if (c === '\r' && text[i + 1] === '\n') i += 1;
        row.push(field);
        rows.push(row);
        row = [];
        field = '';
      } else field += c;
    }
    if (field !== '' || row.length) {
      row.push(field);
      rows.push(row);
    }
    return rows.filter((r) => r.length > 1 || r[0] !== '');
  }

  function csvField(value) {
    const text = value === null || value === undefined ? '' : String(value);
    return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function toCsv(rows) {
    const names = state.features.map((f) => f.name);
    return [names, ...rows.map((row) => names.map((n) => row[n]))].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
  }

  // Each field read by its feature's type, as the server reads CSV: an empty field is a
  // missing value, a boolean true or false in any case, a number a JSON number. What does
  // not read is sent as the string it is, for the server to say why, at its place.
  function csvValue(text, feature) {
    if (!feature) return text;
    if (text === '') return null;
    if (feature.type === 'number' || feature.type === 'integer') {
      return JSON_NUMBER.test(text.trim()) ? Number(text.trim()) : text;
    }
    if (feature.type === 'boolean') {
      const lower = text.trim().toLowerCase();
      if (lower === 'true') return true;
      if (lower === 'false') return false;
    }
    return text;
  }

  async function predictBatch() {
    clearProblems();
    const box = $('batch-problems');
    const table = $('batch-result');
    const rows = parseCsv($('csv').value);
    if (rows.length < 2) {
      listProblems(box, 'Paste a header row of feature names and at least one row of values.', []);
      return;
    }
    const [header, ...values] = rows;
    if (state.maxRows !== null && values.length > state.maxRows) {
      listProblems(box, `That is ${values.length} rows; this API takes at most ${state.maxRows} in one request.`, []);
      return;
    }
    const byName = new Map(state.features.map((f) => [f.name, f]));
    const instances = values.map((fields) => {
      const row = {};
      header.forEach((name, index) => {
        row[name] = csvValue(fields[index] === undefined ? '' : fields[index], byName.get(name));
      });
      return row;
    });
    const body = { instances };
    if (state.probabilities) body.return_probabilities = true;
    const button = $('predict-batch');
    button.disabled = true;
    const answer = await call('POST', 'predict', body);
    button.disabled = false;
    showRequest(answer, body);
    if (answer.status === 200) {
      table.replaceChildren(batchTable(header, values, answer.data, new Map()));
      return;
    }
    if (answer.status === 422) {
      const cells = new Map(); // "row|column" -> messages; column '' for the row itself
      const rest = [];
      for (const detail of answer.details) {
        const place = placeInBatch(detail.loc, header, values.length);
        if (place) {
          const key = `${place.row}|${place.column}`;
          cells.set(key, [...(cells.get(key) || []), detail.msg]);
        } else rest.push(`${detail.loc}: ${detail.msg}`);
      }
      listProblems(box, answer.message, rest);
      table.replaceChildren(batchTable(header, values, null, cells));
      return;
    }
    table.replaceChildren();
    commonProblem(answer, box);
  }

  function placeInBatch(loc, header, count) {
    const match = /^instances\[(\d+)\](.*)$/.exec(loc);
    if (!match || Number(match[1]) >= count) return null;
    const row = Number(match[1]);
    if (match[2] === '') return { row, column: '' };
    const known = header.concat(state.features.map((f) => f.name));
    const name = known.find((n) => member(`instances[${row}]`, n) === loc);
    return name === undefined ? { row, column: '' } : { row, column: name };
  }

  function batchTable(header, values, answer, cells) {
    const missing = state.features.map((f) => f.name).filter((n) => !header.includes(n));
    const columns = header.concat(missing.filter((n) => cells && [...cells.keys()].some((k) => k.endsWith(`|${n}`))));
    const head = element('tr', {}, element('th', { scope: 'col', text: '#' }));
    for (const name of columns) head.append(element('th', { scope: 'col', text: name }));
    head.append(element('th', { scope: 'col', text: 'Prediction' }));
    if (answer && answer.probabilities) head.append(element('th', { scope: 'col', text: 'Probabilities' }));
    const body = element('tbody');
    values.forEach((fields, row) => {
      const tr = element('tr', {}, element('th', { scope: 'row', text: String(row + 1) }));
      columns.forEach((name, index) => {
        const problems = cells.get(`${row}|${name}`);
        const td = element('td', { class: problems ? 'bad' : null, text: fields[index] === undefined ? '' : fields[index] });
        for (const msg of problems || []) td.append(element('span', { class: 'cell-problem', text: msg }));
        tr.append(td);
      });
      const rowProblems = cells.get(`${row}|`);
      const outcome = element('td', { class: rowProblems ? 'bad prediction-cell' : 'prediction-cell' });
      if (answer) outcome.textContent = display(answer.predictions[row]);
      for (const msg of rowProblems || []) outcome.append(element('span', { class: 'cell-problem', text: msg }));
      tr.append(outcome);
      if (answer && answer.probabilities) {
        const p = answer.probabilities[row];
        const sorted = Object.values(p).every((v) => typeof v === 'number')
          ? Object.entries(p).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(', ')
          : display(p);
        tr.append(element('td', { text: sorted }));
      }
      body.append(tr);
    });
    const caption = answer ? `${values.length} predictions` : 'The rows, with each problem at its place';
    return element('table', { id: 'batch-table' }, element('caption', { class: 'muted', text: caption }), element('thead', {}, head), body);
  }

  async function readFile(file) {
    if (file) $('csv').value = await file.text();
  }

  // --- Tabs (WAI-ARIA tabs: arrow keys, Home and End move between them) ------------------

  function selectTab(tab) {
    for (const other of document.querySelectorAll('[role="tab"]')) {
      const selected = other === tab;
      other.setAttribute('aria-selected', String(selected));
      other.tabIndex = selected ? 0 : -1;
      show($(other.getAttribute('aria-controls')), selected);
    }
    tab.focus();
  }

  function onTabKey(event) {
    const tabs = [...document.querySelectorAll('[role="tab"]')];
    const at = tabs.indexOf(event.currentTarget);
    const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    selectTab(tabs[(next + tabs.length) % tabs.length]);
  }

  // --- Wiring -----------------------------------------------------------------------

  async function copyCurl() {
    const text = $('curl').textContent;
    try {
      await navigator.clipboard.writeText(text);
      $('copy-status').textContent = 'Copied. Set API_KEY in your shell first if the API needs a key.';
    } catch (error) {
      const range = document.createRange();
      range.selectNodeContents($('curl'));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $('copy-status').textContent = 'Selected: copy it with Ctrl+C (or Cmd+C).';
    }
  }

  function start() {
    $('row-form').addEventListener('submit', predictRow);
    $('next-example').addEventListener('click', () => {
      state.exampleIndex += 1;
      clearProblems();
      fillRow(example(state.exampleIndex));
    });
    $('predict-batch').addEventListener('click', predictBatch);
    $('csv-file').addEventListener('change', (event) => readFile(event.target.files[0]));
    const csv = $('csv');
    csv.addEventListener('dragover', (event) => {
      event.preventDefault();
      csv.classList.add('dragging');
    });
    csv.addEventListener('dragleave', () => csv.classList.remove('dragging'));
    csv.addEventListener('drop', (event) => {
      event.preventDefault();
      csv.classList.remove('dragging');
      readFile(event.dataTransfer.files[0]);
    });
    for (const tab of document.querySelectorAll('[role="tab"]')) {
      tab.addEventListener('click', () => selectTab(tab));
      tab.addEventListener('keydown', onTabKey);
    }
    $('copy-curl').addEventListener('click', copyCurl);
    $('key-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('api-key').value.trim();
      state.key = key || null;
      $('api-key').value = '';
      loadModel();
    });
    load();
  }

  // Added by the page's loader, this may run before the body is parsed.
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
